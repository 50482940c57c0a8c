"""`rag serve`: one FastAPI server with the chat at /, the JSON API, the embeddable widget and health."""

import asyncio
import json
import logging
import os
import re
import sys
import threading
from html import escape
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse

from ..engine import Engine
from ..errors import InputError, RagError
from ..question.filters import parse_filters

log = logging.getLogger("rag.server")

MAX_HISTORY_TURNS = 20
MAX_BODY_BYTES = 64 * 1024  # /api/*: a question and its history
MAX_UPLOAD_REQUEST_BYTES = 25 * 1024 * 1024  # one upload request: up to five 5 MB files
MAX_GRADIO_BODY_BYTES = 2 * 1024 * 1024  # other Gradio calls: a chat turn with its history, or a paste
CONCURRENCY = 2  # answers computed at once (2 cores)
MAX_WAITING = 32  # requests allowed to wait; past that, a clear "busy"
REFRESH_SECONDS = float(os.environ.get("RAG_REFRESH_SECONDS") or 2.0)
INDEX_UNAVAILABLE = "the index is unavailable right now; the server's log says why"
_PLAIN_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9-]{1,63}(?::\d{1,5})?")


def body_limit(path: str) -> int:
    """The largest request body a route accepts."""
    if path.startswith("/api/"):
        return MAX_BODY_BYTES
    if path.rstrip("/").endswith("/gradio_api/upload"):
        return MAX_UPLOAD_REQUEST_BYTES
    return MAX_GRADIO_BODY_BYTES


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware that holds every route to its body limit while the body streams in.

    A declared Content-Length over the limit is refused before anything is read; a chunked body
    (no Content-Length) is counted as it arrives and cut off at the limit, so no route ever reads
    more than its limit, whatever the client claims.
    """

    def __init__(self, app, limit=body_limit):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit(scope.get("path", ""))
        for key, value in scope.get("headers", []):
            if key == b"content-length" and (not value.isdigit() or int(value) > limit):
                return await _refuse(send, limit)
        state = {"received": 0, "over": False, "started": False}

        async def counted_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["over"] = True
                    raise _TooLarge
            return message

        async def guarded_send(message):
            if state["over"]:
                return  # the app's reaction to the cut-off body is replaced by the 413 below
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BaseException:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await _refuse(send, limit)


async def _refuse(send, limit: int) -> None:
    body = json.dumps({"error": f"request body over {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def client_message(error: RagError) -> str:
    """What a client is told about an error: a bad question in full; index and server trouble
    without its paths (those go to the server's log)."""
    if isinstance(error, InputError):
        return str(error)
    log.error("%s", error)
    return INDEX_UNAVAILABLE


def base_url(request: Request, public_url: str | None) -> str:
    """The URL the widget snippet points at: the configured public URL, else the request's Host
    header only when it is a plain host name (it is client-controlled, so never copied raw)."""
    if public_url:
        return public_url.rstrip("/")
    host = request.headers.get("host", "")
    if _PLAIN_HOST.fullmatch(host):
        return f"{request.url.scheme}://{host}"
    server = request.scope.get("server") or ("127.0.0.1", 7860)
    return f"http://{server[0]}:{server[1]}"


def embed_snippet(base_url: str) -> str:
    return (f'<iframe src="{base_url}/widget" title="News Q&amp;A" '
            'style="width:100%;max-width:440px;height:640px;border:1px solid #ddd;border-radius:8px"></iframe>')


def web_origin(text: str) -> str | None:
    """`scheme://host[:port]` of an http(s) address a person typed, or None when it is not one."""
    text = (text or "").strip()[:300]
    if "://" not in text:
        text = "https://" + text
    try:
        u = urlsplit(text)
        port = u.port
    except ValueError:
        return None
    if u.scheme not in ("http", "https") or not u.hostname or not _PLAIN_HOST.fullmatch(u.hostname):
        return None
    return f"{u.scheme}://{u.hostname}" + (f":{port}" if port else "")


# The page the snippet frames. It may be framed anywhere (it holds nothing to click): it checks its
# ancestors against the allow-list and either goes on to the widget, which only allowed origins may
# frame, or says in the frame which --allow-origin the site's owner must add. Without it a page that
# is not allowed sees only the browser's broken-frame icon.
WIDGET_GATE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>News Q&amp;A</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>body{font:15px/1.5 system-ui,sans-serif;margin:1em;color:#1f2937;background:#fff}
code{background:#f3f4f6;padding:.1em .3em;border-radius:4px;word-break:break-all}a{color:#1d4ed8}
@media (prefers-color-scheme:dark){body{color:#f3f4f6;background:#111827}code{background:#374151}a{color:#93c5fd}}
</style><main id="why" hidden><h1 style="font-size:1.15em">This chat is not enabled on this site</h1>
<p>The news Q&amp;A server does not allow <code id="origin"></code> to show its chat.</p>
<p>The server's owner can allow it by adding <code id="flag"></code> to <code>rag serve</code>.</p>
<p><a id="help" target="_blank" rel="noopener">How to embed the chat</a></p></main>
<script>
(() => {
  const allowed = new Set([location.origin, ...ALLOWED]);
  const ancestors = location.ancestorOrigins ? Array.from(location.ancestorOrigins) :
    (window.top !== window && document.referrer ? [new URL(document.referrer).origin] : []);
  const refused = ancestors.find((o) => !allowed.has(o));
  if (!refused) { location.replace('embed/' + location.search); return; }
  document.getElementById('origin').textContent = refused;
  document.getElementById('flag').textContent = '--allow-origin ' + refused;
  document.getElementById('help').href = 'embed.html?origin=' + encodeURIComponent(refused);
  document.getElementById('why').hidden = false;
})();
</script></html>"""


UI_GROUP = "rag.ui"  # the entry-point group a chat UI registers under (pyproject.toml: ui.py)


class ChatUI(Protocol):
    """What the server mounts: the app's chat (ui.py, found through its entry point). The library
    never imports the app; any package can register another UI under UI_GROUP."""

    CSS: str
    HEAD: str
    MAX_UPLOAD_BYTES: int

    def build(self, engine: Engine, compact: bool = False): ...


def installed_ui() -> ChatUI | None:
    """The chat UI registered under UI_GROUP, or None when none is installed (API only)."""
    from importlib.metadata import entry_points

    found = sorted(entry_points(group=UI_GROUP), key=lambda e: e.name)
    return found[0].load() if found else None


def create_app(engine: Engine, allow_origins: list[str] | None = None, public_url: str | None = None,
               ui: ChatUI | None = None):
    """The ASGI app: FastAPI with the JSON API and, given a `ui`, its chat mounted at / and its
    compact widget at /embed/, inside the body-size limit."""
    # This server's uploads in a folder of its own (mode 0700): the only files "Add articles" reads.
    if not os.environ.get("GRADIO_TEMP_DIR"):
        import tempfile

        os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="rag-uploads-")

    origins = [o.rstrip("/") for o in (allow_origins or []) if o and o != "*"]
    app = FastAPI(title="rag", docs_url="/api/docs", openapi_url="/api/openapi.json")
    # An explicit allow-list: Gradio's own CORS handling admits any localhost origin, so it must not decide.
    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                       allow_headers=["content-type"], allow_credentials=False)
    frame_ancestors = " ".join(["'self'", *origins])

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        # /widget holds only a message and a redirect: any page may frame it, to be told why not.
        framers = "*" if request.url.path == "/widget" else frame_ancestors
        response.headers["Content-Security-Policy"] = f"frame-ancestors {framers}"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    slots = threading.BoundedSemaphore(CONCURRENCY)
    waiting = {"n": 0}
    lock = threading.Lock()

    def answer_blocking(question: str, history, filters=None) -> dict:
        with slots:
            return engine.ask(question, history=history, filters=filters).to_json()

    @app.get("/health")
    def health():
        try:
            data = engine.load()
            return {"status": "ok", "documents": len(data.documents), "chunks": int(len(data.chunks)),
                    "index_version": data.version}
        except RagError as e:
            return JSONResponse({"status": "error", "error": client_message(e)}, status_code=503)

    @app.post("/api/ask")
    async def api_ask(request: Request):
        try:
            body = json.loads(await request.body())
        except _TooLarge:
            raise
        except Exception:
            return JSONResponse({"error": "the body must be JSON: {\"question\": \"...\"}"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("question"), str):
            return JSONResponse({"error": "missing \"question\" (a string)"}, status_code=400)
        history = body.get("history") or []
        if not isinstance(history, list):
            return JSONResponse({"error": "\"history\" must be a list of {role, content} turns"}, status_code=400)
        if len(history) > 2 * MAX_HISTORY_TURNS:
            return JSONResponse({"error": f"history over {2 * MAX_HISTORY_TURNS} turns"}, status_code=400)
        try:
            filters = parse_filters(body.get("source"), body.get("since"), body.get("until"))
        except InputError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        with lock:
            if waiting["n"] >= MAX_WAITING + CONCURRENCY:
                return JSONResponse({"error": "busy: too many questions at once, retry shortly"}, status_code=503,
                                    headers={"Retry-After": "1"})
            waiting["n"] += 1
        try:
            return await asyncio.to_thread(answer_blocking, body["question"], history, filters)
        except InputError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        except RagError as e:
            return JSONResponse({"error": client_message(e)}, status_code=503)
        except Exception:
            log.exception("error while answering")
            return JSONResponse({"error": "internal error while answering"}, status_code=500)
        finally:
            with lock:
                waiting["n"] -= 1

    if ui is None:  # the API alone: no chat, so no widget to frame or to explain
        return BodyLimit(app)
    gate = WIDGET_GATE.replace("ALLOWED", json.dumps(origins).replace("<", "\\u003c"))  # the same for every request

    @app.get("/widget", response_class=HTMLResponse)
    def widget_gate():
        return gate

    @app.get("/embed.html", response_class=HTMLResponse)
    def embed_help(request: Request, origin: str = ""):
        snippet = embed_snippet(base_url(request, public_url))
        now = ", ".join(f"<code>{escape(o)}</code>" for o in origins) or "none yet (only this server's own pages)"
        site = web_origin(origin) if origin else None
        if site and site in origins:
            flag = f"<p><code>{escape(site)}</code> is already allowed.</p>"
        elif site:
            flag = (f"<p>To allow <code>{escape(site)}</code>, start the server with:</p>"
                    f"<pre>rag serve --allow-origin {escape(site)}</pre>")
        elif origin:
            flag = "<p>⚠️ That is not a web address such as https://news.example.com.</p>"
        else:
            flag = ""
        return (f"<!doctype html><html lang=en><meta charset=utf-8><title>Embed the chat</title>"
                f"<meta name=viewport content='width=device-width,initial-scale=1'>"
                f"<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:46em;margin:1em auto;padding:0 1em}}"
                f"pre{{white-space:pre-wrap;background:#f3f4f6;padding:.6em}}</style>"
                f"<main><h1>Embed the chat</h1>"
                f"<p>Paste this into your page:</p><pre>{escape(snippet)}</pre>"
                f"<p>The chat shows only on sites the server allows with <code>--allow-origin</code>. "
                f"Allowed now: {now}. On any other site the frame says which flag to add.</p>"
                f"<form method=get><label for=origin>Your site's address</label> "
                f"<input id=origin name=origin value='{escape(origin[:300], quote=True)}' "
                f"placeholder='https://news.example.com'> <button>Show the flag</button></form>{flag}"
                f"<h2>Preview</h2>{snippet}</main></html>")

    import gradio as gr

    full = ui.build(engine).queue(default_concurrency_limit=CONCURRENCY, max_size=MAX_WAITING)
    compact = ui.build(engine, compact=True).queue(default_concurrency_limit=CONCURRENCY, max_size=MAX_WAITING)
    limit = f"{ui.MAX_UPLOAD_BYTES // (1024 * 1024)}mb"  # refused by the server, not only by the browser
    # The widget is framed in other sites' pages: no Gradio footer, API or settings links in it.
    gr.mount_gradio_app(app, compact, path="/embed", show_error=False, css=ui.CSS, head=ui.HEAD,
                        max_file_size=limit, footer_links=[])
    gr.mount_gradio_app(app, full, path="", show_error=False, css=ui.CSS, head=ui.HEAD, max_file_size=limit)
    # Gradio copies any server path a client names in a file input into its cache before a handler
    # sees it, and checks the path only for apps started with launch(), never for mounted ones
    # (gradio.processing_utils._check_allowed returns early unless `has_launched`). Mounted, these
    # apps are live: with the flag set, a file input accepts only files in this server's upload
    # folder. ui.uploaded_file checks again in the handler; tests/test_security.py holds both.
    for blocks in (full, compact):
        blocks.has_launched = True
    return BodyLimit(app)


def watch(engine: Engine, interval: float = REFRESH_SECONDS, stop: threading.Event | None = None) -> threading.Thread:
    """A thread that swaps in index versions other processes commit (`rag index`, another server),
    checking CURRENT every `interval` seconds; questions in flight finish on their version."""
    stop = stop or threading.Event()

    def run():
        while not stop.wait(interval):
            try:
                if engine.refresh():
                    log.warning("rag: now serving index version %s", engine.load().version)
            except Exception as e:  # a broken new version: keep serving the one loaded
                log.error("rag: could not load the new index version (%s); still serving the one loaded", e)

    thread = threading.Thread(target=run, name="rag-index-watch", daemon=True)
    thread.start()
    return thread


def prepare(index_dir: str, seeds: str, model: str | None = None, llm=None, reranker: str | None = None) -> Engine:
    """An engine on `index_dir`; on first start (or after a pipeline upgrade) the index is built from
    `seeds` with a progress bar."""
    from ..index import files as index_io

    engine = Engine(index_dir, model=model, llm=llm, reranker=reranker)
    if not engine.is_current():
        why = "was built by an older version" if index_io.exists(Path(index_dir)) else "does not exist yet"
        print(f"rag: the index in {index_dir}/ {why}; building it from {seeds}/ ...", file=sys.stderr)
        report = engine.index([seeds], progress=True)
        print(f"rag: indexed {report.documents} documents in {report.seconds:.1f} s", file=sys.stderr)
    engine.load()
    engine.embedder.embed(["warm up"])
    _ = engine.retriever
    return engine


def serve(index: str, seeds: str, host: str = "127.0.0.1", port: int = 7860, allow_origins: list[str] | None = None,
          public_url: str | None = None, model: str | None = None, llm=None, reranker: str | None = None) -> None:
    """Build the index on first start, then serve the API and the installed chat UI until stopped."""
    import uvicorn

    engine = prepare(index, seeds, model, llm, reranker)
    base = f"http://{host}:{port}"
    ui = installed_ui()
    app = create_app(engine, allow_origins, public_url=public_url, ui=ui)
    watch(engine)
    pages = f"chat at {base}/  widget at {base}/widget  " if ui else "no chat UI installed;  "
    print(f"rag: {pages}API at {base}/api/ask  (Ctrl+C to stop)", file=sys.stderr)
    # An open browser tab keeps a streaming connection: stop within seconds anyway.
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)
