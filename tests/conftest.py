"""Shared fixtures: a deterministic fake embedder for logic tests, the real model for golden tests."""

from __future__ import annotations

import hashlib
import http.server as httpserver
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = next(SEEDS.glob("*.txt"))
MULTIHOP = Path(os.environ.get("MULTIHOP_DIR", ROOT.parent / "shared" / "eval" / "multihop_rag"))


class FakeEmbedder:
    """Hashed bag of words: identical texts give identical vectors, shared words raise the cosine."""

    name = "fake-bow"
    dim = 64
    mean_pooled = False  # no embed_packed: clauses are embedded alone
    bf16 = False

    def __init__(self):
        self.calls = 0
        self.texts = 0

    def embed(self, texts, progress=False):
        self.calls += 1
        self.texts += len(texts)
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


@pytest.fixture
def fake_embedder():
    return FakeEmbedder()


@pytest.fixture
def corpus_dir(tmp_path):
    """Three small articles, copied so tests can edit and delete them."""
    d = tmp_path / "articles"
    d.mkdir()
    (d / "a.txt").write_text("Volcano erupts in Iceland\nThe volcano near Grindavik erupted on Monday. "
                             "Residents were evacuated by the coast guard.\n", encoding="utf-8")
    (d / "b.md").write_text("---\ntitle: Chess final\nsource: Chess Weekly\npublished: 2024-01-02\n---\n"
                            "# Chess final\n\nMs Ju Wenjun won the final in Shanghai. The match lasted six hours.\n",
                            encoding="utf-8")
    (d / "c.txt").write_text("Bakery prices rise\nBread prices rose by ten percent in Lyon. "
                             "Bakers blamed the cost of flour.\n", encoding="utf-8")
    return d


@pytest.fixture(scope="session")
def real_embedder():
    from rag.embedding import load_embedder

    return load_embedder()


@pytest.fixture(scope="session")
def seed_engine(tmp_path_factory, real_embedder):
    """The seed article indexed with the real bundled model, once per test session."""
    from rag.engine import Engine

    engine = Engine(tmp_path_factory.mktemp("seed-index"), embedder=real_embedder)
    engine.index([SEEDS])
    return engine


def run_cli(*args, input=None, cwd=None, timeout=300):
    """Run the real `rag` command in a subprocess."""
    import subprocess

    return subprocess.run([sys.executable, "-m", "rag", *map(str, args)], input=input, capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=timeout)


def needs_multihop():
    return pytest.mark.skipif(not (MULTIHOP / "corpus.json").is_file(),
                              reason=f"MultiHop-RAG not found at {MULTIHOP} (set MULTIHOP_DIR)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def wait_until_up(proc, url: str, seconds: float = 180) -> bool:
    """Poll `url` until it answers 200; False (and the process killed) if it exits or times out."""
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        try:
            if http("GET", url, timeout=2)[0] == 200:
                return True
        except OSError:
            time.sleep(0.5)
    proc.kill()
    return False


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """`rag serve` on a fresh directory: the first start builds the index from seeds/."""
    root = tmp_path_factory.mktemp("serve")
    shutil.copytree(SEEDS, root / "seeds")
    port, host_port = free_port(), free_port()
    allowed = f"http://127.0.0.1:{host_port}"  # the host page of the embedding test
    log = open(root / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "rag", "serve", "--port", str(port), "--index", str(root / "index"),
                             "--seeds", str(root / "seeds"), "--allow-origin", allowed],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if not wait_until_up(proc, url + "/health"):
        raise RuntimeError("server did not start: " + (root / "serve.log").read_text())
    first_health = json.loads(http("GET", url + "/health")[2])
    yield {"url": url, "root": root, "log": root / "serve.log", "allowed": allowed, "host_port": host_port,
           "first_health": first_health}
    proc.terminate()
    proc.wait(timeout=20)


class StubLLM(httpserver.BaseHTTPRequestHandler):
    """An OpenAI-compatible /v1/chat/completions that streams `reply`, or misbehaves as `mode` says."""

    mode = "ok"
    reply: str | list[str] = ""
    gap = 0.0  # seconds between streamed pieces

    def log_message(self, *a):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.mode == "error":
            self.send_response(500)
            self.end_headers()
            return
        if self.mode == "stall":
            time.sleep(5)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        if self.mode == "malformed":
            self.wfile.write(b"data: {not json\n\n")
            return
        pieces = self.reply if isinstance(self.reply, list) else [self.reply]
        for piece in pieces:  # one event per piece, flushed apart, as a real server streams tokens
            chunk = {"choices": [{"delta": {"content": piece}}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            time.sleep(self.gap)
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture
def stub():
    port = free_port()
    handler = type("H", (StubLLM,), {})
    server = httpserver.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler, f"http://127.0.0.1:{port}"
    server.shutdown()
