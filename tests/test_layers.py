"""The library's layers: nothing under rag/ imports the app (ui.py) and the pipeline never imports
the eval harness (rag/eval/); the server finds the chat through its entry point and serves the
API without one."""

import ast

from conftest import ROOT
from fastapi.testclient import TestClient

from rag.app.server import create_app, installed_ui
from rag.engine import Engine


def test_nothing_under_rag_imports_the_app():
    for path in sorted((ROOT / "rag").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            assert not any(n == "ui" or n.startswith("ui.") for n in names), f"{path.name} imports ui"


def test_the_pipeline_never_imports_the_eval_harness():
    for path in sorted((ROOT / "rag").rglob("*.py")):
        if "eval" in path.relative_to(ROOT / "rag").parts[:1] or path.name == "cli.py":
            continue  # the harness itself, and `rag eval`'s lazy import of it
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith(("eval", "rag.eval")), f"{path.name} imports the harness"


def test_the_chat_is_found_through_its_entry_point():
    chat = installed_ui()
    assert chat is not None and chat.__name__ == "ui"  # pyproject.toml registers ui.py under rag.ui
    assert callable(chat.build) and chat.CSS and chat.HEAD and chat.MAX_UPLOAD_BYTES > 0


def test_without_a_ui_the_server_is_the_api_alone(tmp_path, corpus_dir, fake_embedder):
    engine = Engine(tmp_path / "index", embedder=fake_embedder)
    engine.index([corpus_dir])
    client = TestClient(create_app(engine))
    r = client.post("/api/ask", json={"question": "Who won the chess final in Shanghai?"})
    assert r.status_code == 200 and "citations" in r.json()
    assert client.get("/health").json()["documents"] == 3
    for page in ("/", "/embed/", "/widget", "/embed.html"):  # no chat mounted, so no widget either
        assert client.get(page).status_code == 404, page


def test_the_bundled_embedder_declares_what_the_pipeline_asks_of_it(real_embedder, fake_embedder):
    for emb in (real_embedder, fake_embedder):  # the Embedder protocol, read as attributes, never probed
        assert isinstance(emb.name, str) and emb.dim > 0
        assert isinstance(emb.mean_pooled, bool) and isinstance(emb.bf16, bool)
    assert real_embedder.mean_pooled  # MiniLM is mean-pooled: clauses are pooled in the question's pass
    vecs, pooled = real_embedder.embed_packed(["who criticised Hegseth?"], [[(0, 14)]])
    assert vecs.shape == (1, real_embedder.dim) and pooled[0].shape == (1, real_embedder.dim)
