"""`rag serve`: one FastAPI server with the chat at /, the JSON API, the embeddable widget and health."""

import asyncio
import sys
import threading
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse

from .engine import Engine
from .errors import RagError

MAX_HISTORY_TURNS = 20
MAX_BODY_BYTES = 64 * 1024
CONCURRENCY = 2  # answers computed at once (2 cores)
MAX_WAITING = 32  # requests allowed to wait; past that, a clear "busy"


def embed_snippet(base_url: str) -> str:
    return (f'<iframe src="{base_url}/embed/" title="News Q&amp;A" '
            'style="width:100%;max-width:440px;height:640px;border:1px solid #ddd;border-radius:8px"></iframe>')


def create_app(engine: Engine, allow_origins: list[str] | None = None):
    """The FastAPI app; Gradio UIs mounted at /embed/ (compact widget) and / (full chat)."""
    import gradio as gr

    import ui

    origins = [o.rstrip("/") for o in (allow_origins or []) if o and o != "*"]
    app = FastAPI(title="rag", docs_url="/api/docs", openapi_url="/api/openapi.json")
    # An explicit allow-list: Gradio's own CORS handling admits any localhost origin, so it must not decide.
    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                       allow_headers=["content-type"], allow_credentials=False)
    frame_ancestors = " ".join(["'self'", *origins])

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        length = request.headers.get("content-length")
        if request.url.path.startswith("/api/") and length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"error": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = f"frame-ancestors {frame_ancestors}"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    slots = threading.BoundedSemaphore(CONCURRENCY)
    waiting = {"n": 0}
    lock = threading.Lock()

    def answer_blocking(question: str, history) -> dict:
        with slots:
            return engine.ask(question, history=history).to_json()

    @app.get("/health")
    def health():
        try:
            data = engine.load()
            return {"status": "ok", "documents": len(data.documents), "chunks": int(len(data.chunks)),
                    "index_version": data.version}
        except RagError as e:
            return JSONResponse({"status": "error", "error": str(e).split(";")[0]}, status_code=503)

    @app.post("/api/ask")
    async def api_ask(request: Request):
        try:
            body = await request.json()
        except Exception:
            return JSONResponse({"error": "the body must be JSON: {\"question\": \"...\"}"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("question"), str):
            return JSONResponse({"error": "missing \"question\" (a string)"}, status_code=400)
        history = body.get("history") or []
        if not isinstance(history, list):
            return JSONResponse({"error": "\"history\" must be a list of {role, content} turns"}, status_code=400)
        if len(history) > 2 * MAX_HISTORY_TURNS:
            return JSONResponse({"error": f"history over {2 * MAX_HISTORY_TURNS} turns"}, status_code=400)
        with lock:
            if waiting["n"] >= MAX_WAITING + CONCURRENCY:
                return JSONResponse({"error": "busy: too many questions at once, retry shortly"}, status_code=503,
                                    headers={"Retry-After": "1"})
            waiting["n"] += 1
        try:
            return await asyncio.to_thread(answer_blocking, body["question"], history)
        except RagError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        except Exception:
            return JSONResponse({"error": "internal error while answering"}, status_code=500)
        finally:
            with lock:
                waiting["n"] -= 1

    @app.get("/embed.html", response_class=HTMLResponse)
    def embed_help(request: Request):
        base = str(request.base_url).rstrip("/")
        snippet = embed_snippet(base)
        import html

        return (f"<!doctype html><meta charset=utf-8><title>Embed the chat</title><h1>Embed the chat</h1>"
                f"<p>Paste this into your page and start the server with <code>--allow-origin</code> "
                f"set to your site:</p><pre>{html.escape(snippet)}</pre>{snippet}")

    full = ui.build(engine).queue(default_concurrency_limit=CONCURRENCY, max_size=MAX_WAITING)
    compact = ui.build(engine, compact=True).queue(default_concurrency_limit=CONCURRENCY, max_size=MAX_WAITING)
    limit = f"{ui.MAX_UPLOAD_BYTES // (1024 * 1024)}mb"  # refused by the server, not only by the browser
    gr.mount_gradio_app(app, compact, path="/embed", show_error=False, css=ui.CSS, max_file_size=limit)
    gr.mount_gradio_app(app, full, path="", show_error=False, css=ui.CSS, max_file_size=limit)
    return app


def prepare(index_dir: str, seeds: str, model: str | None = None, llm=None, reranker: str | None = None) -> Engine:
    """An engine on `index_dir`; on first start (or after a pipeline upgrade) the index is built from
    `seeds` with a progress bar."""
    from . import index as index_io

    engine = Engine(index_dir, model=model, llm=llm, reranker=reranker)
    if not engine.is_current():
        why = "was built by an older pipeline" if index_io.exists(Path(index_dir)) else "does not exist yet"
        print(f"rag: the index in {index_dir}/ {why}; building it from {seeds}/ ...", file=sys.stderr)
        report = engine.index([seeds], progress=True)
        print(f"rag: indexed {report.documents} documents in {report.seconds:.1f} s", file=sys.stderr)
    engine.load()
    engine.embedder.embed(["warm up"])
    _ = engine.retriever
    return engine


def serve(args) -> None:
    import uvicorn

    from .llm import LLMConfig

    engine = prepare(args.index, args.seeds, args.model,
                     LLMConfig.from_env(args.llm_url, args.llm_model, args.llm_timeout), getattr(args, "reranker", None))
    app = create_app(engine, args.allow_origin)
    base = f"http://{args.host}:{args.port}"
    print(f"rag: chat at {base}/  API at {base}/api/ask  widget at {base}/embed/  (Ctrl+C to stop)",
          file=sys.stderr)
    # An open browser tab keeps a streaming connection: stop within seconds anyway.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=3)
