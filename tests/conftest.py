"""Shared fixtures: a deterministic fake embedder for logic tests, the real model for golden tests."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
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
    max_tokens = 510

    def __init__(self):
        self.calls = 0
        self.texts = 0

    def count_tokens(self, texts):
        return [len(t.split()) for t in texts]

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
