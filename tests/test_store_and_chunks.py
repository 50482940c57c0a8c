import numpy as np
import pytest

from rag.index.vectors import FaissStore
from rag.text.chunking import (
    chunk_sentences,
    count_tokens,
    split_long,
    split_long_counted,
)


def _unit(rng, n, d):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_faiss_equals_brute_force():
    rng = np.random.default_rng(7)
    base, queries = _unit(rng, 2000, 48), _unit(rng, 25, 48)
    ids = np.arange(1000, 3000)
    store = FaissStore(48)
    store.add(ids, base)
    scores, got = store.search(queries, 10)
    brute = queries @ base.T
    expect = np.argsort(-brute, axis=1)[:, :10]
    assert np.array_equal(got, ids[expect])
    assert np.allclose(scores, np.take_along_axis(brute, expect, axis=1), atol=1e-5)


def test_store_delete_get_save_load(tmp_path):
    rng = np.random.default_rng(1)
    vecs = _unit(rng, 10, 8)
    store = FaissStore(8)
    store.add(np.arange(10), vecs)
    assert store.delete(np.array([2, 5])) == 2 and len(store) == 8
    assert np.allclose(store.get(np.array([7, 0])), vecs[[7, 0]])
    _, ids = store.search(vecs[[2]], 8)
    assert 2 not in ids[0] and 5 not in ids[0]
    store.save(tmp_path / "v.faiss")
    again = FaissStore.load(tmp_path / "v.faiss")
    assert len(again) == 8 and np.allclose(again.get(np.array([9])), vecs[[9]])
    with pytest.raises(ValueError, match="dimension 8"):
        store.add(np.arange(1), _unit(rng, 1, 4))


def test_chunks_respect_both_limits_and_overlap():
    tokens = [40, 60, 80, 30, 100, 20, 90]
    spans = chunk_sentences(tokens, [t + 10 for t in tokens], max_tokens=150, model_max=160, overlap=1)
    for sp in spans:
        if sp.first < sp.last:
            assert sum(tokens[sp.first:sp.last + 1]) <= 150
            assert sum(t + 10 for t in tokens[sp.first:sp.last + 1]) <= 160
    assert spans[0].first == 0 and spans[-1].last == len(tokens) - 1
    for a, b in zip(spans, spans[1:]):
        assert b.first <= a.last + 1  # contiguous coverage
        assert b.first >= a.first + 1  # always progresses


def test_an_over_long_sentence_is_a_chunk_of_its_own():
    spans = chunk_sentences([10, 400, 10], max_tokens=256, overlap=1)
    assert any(sp.first == sp.last == 1 for sp in spans)


def test_an_over_long_sentence_is_cut_at_spaces_into_pieces_that_fit():
    text = "Short one. " + " ".join(f"item{i}," for i in range(400)) + " end."
    pieces = split_long(text, [(0, 10, True), (11, len(text), True)], 256)
    assert pieces[0] == (0, 10, True)
    sizes = count_tokens([text[a:b] for a, b, _ in pieces])
    assert len(pieces) > 2 and max(sizes) <= 256
    # Exact spans, in order, covering every word of the long sentence and nothing else.
    assert " ".join(text[a:b] for a, b, _ in pieces[1:]) == text[11:]
    assert all(text[a] != " " and text[b - 1] != " " for a, b, _ in pieces)


def test_the_counts_split_long_returns_are_each_pieces_own_count():
    # The chunker reuses these counts instead of counting every sentence again.
    text = "Short one. " + " ".join(f"item{i}," for i in range(400)) + " end. Another short one."
    spans = [(0, 10, True), (11, 11 + len(text) - 35, True), (len(text) - 22, len(text), False)]
    pieces, counts = split_long_counted(text, spans, 256)
    assert pieces == split_long(text, spans, 256)
    assert counts == count_tokens([text[a:b] for a, b, _ in pieces])


def test_offline_tokenizer_counts():
    assert count_tokens(["hello world", ""]) == [2, 0]


def test_the_scale_benchmarks_tiled_lexicon_is_the_one_the_build_makes_of_the_copies():
    # benchmarks/bench_scale.py tiles a 1M-chunk index from a small one without tokenising every copy;
    # its figures mean something only if that lexicon is the one Lexicon.build makes of the copies.
    import importlib.util
    from pathlib import Path

    from rag.retrieval.lexical import Lexicon

    path = Path(__file__).parents[1] / "benchmarks" / "bench_scale.py"
    spec = importlib.util.spec_from_file_location("bench_scale", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    sentences = [["storm", "coast"], ["storm"], ["mayor", "budget", "coast"], ["budget"], ["storm", "storm", "rain"]]
    chunks = [["title", "storm", "coast", "storm"], ["title", "mayor", "budget", "coast", "budget"],
              ["rain", "storm", "storm", "rain", "rain"]]
    source = Lexicon.build(sentences, chunks, 1.5, 0.75)
    for copies in (1, 3, 7):
        want = Lexicon.build(sentences * copies, chunks * copies, 1.5, 0.75)
        got = bench.tile_lexicon(source, copies)
        assert got.vocab == want.vocab and got.n_chunks == want.n_chunks == 3 * copies
        for name in ("sent_ptr", "sent_cols", "bm25_ptr", "bm25_rows"):
            assert np.array_equal(np.asarray(getattr(got, name)), np.asarray(getattr(want, name))), name
        np.testing.assert_allclose(got.bm25_data, want.bm25_data, rtol=1e-6)
        assert got.bm25_top(["storm", "coast"], 4) == want.bm25_top(["storm", "coast"], 4)
