"""Incremental indexing, checksums and atomic swaps, with the fake embedder (exact and fast)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from rag.engine import Engine
from rag.errors import IndexCorrupt, IndexMissing, IndexWriteError, InputError
from rag.index import files as index_io
from rag.text.words import terms


def _engine(tmp_path, emb):
    return Engine(tmp_path / "idx", embedder=emb)


def _indexed(tmp_path, emb, files: dict[str, str]) -> Engine:
    """An engine over `files` (name -> text), indexed with `emb`."""
    d = tmp_path / "articles"
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text, encoding="utf-8")
    engine = Engine(tmp_path / "index", embedder=emb)
    engine.index([d])
    return engine


def test_incremental_runs(tmp_path, corpus_dir, fake_embedder):
    eng = _engine(tmp_path, fake_embedder)
    first = eng.index([corpus_dir])
    assert first.documents == 3 and first.embedded_documents == 3 and first.embedded > 0
    version = (tmp_path / "idx" / "CURRENT").read_text()
    second = _engine(tmp_path, fake_embedder).index([corpus_dir])
    assert second.embedded == 0 and second.skipped == 3 and second.removed == 0
    assert (tmp_path / "idx" / "CURRENT").read_text() == version  # nothing changed: nothing written
    (corpus_dir / "c.txt").write_text("Bakery prices fall\nBread prices fell by five percent in Lyon.\n",
                                      encoding="utf-8")
    third = _engine(tmp_path, fake_embedder).index([corpus_dir])
    assert third.embedded_documents == 1 and third.skipped == 2
    (corpus_dir / "a.txt").unlink()
    fourth = _engine(tmp_path, fake_embedder).index([corpus_dir])
    assert fourth.removed == 1 and fourth.documents == 2 and fourth.embedded == 0
    eng = _engine(tmp_path, fake_embedder)
    assert {d.doc_id.rsplit("/", 1)[-1] for d in eng.documents} == {"b.md", "c.txt"}
    answer = eng.ask("volcano Grindavik erupted Monday")
    assert all("volcano" not in c.sentence.lower() for c in answer.citations)
    edited = eng.ask("Bread prices fell by five percent in Lyon")
    assert edited.citations[0].sentence == "Bread prices fell by five percent in Lyon."


def test_kept_documents_keep_their_vectors(tmp_path, corpus_dir, fake_embedder):
    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    before = eng.ask("Ju Wenjun won the final in Shanghai").citations[0]
    (corpus_dir / "a.txt").unlink()
    eng.index([corpus_dir])
    after = _engine(tmp_path, fake_embedder).ask("Ju Wenjun won the final in Shanghai").citations[0]
    assert (after.sentence, after.start, after.end) == (before.sentence, before.start, before.end)
    assert after.score == pytest.approx(before.score, abs=1e-5)


def test_other_paths_are_kept(tmp_path, corpus_dir, fake_embedder):
    other = tmp_path / "other"
    other.mkdir()
    (other / "d.txt").write_text("Harbour news\nThe harbour reopened after the storm.\n", encoding="utf-8")
    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    report = eng.index([other])
    assert report.documents == 4 and report.removed == 0


def test_pipeline_upgrade_re_embeds_everything_and_loses_nothing(tmp_path, corpus_dir, fake_embedder, monkeypatch):
    import rag.index.build as build_mod

    other = tmp_path / "other"
    other.mkdir()
    (other / "d.txt").write_text("Harbour news\nThe harbour reopened after the storm.\n", encoding="utf-8")
    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    eng.index([other])
    assert eng.is_current()
    monkeypatch.setattr(build_mod, "PIPELINE_VERSION", build_mod.PIPELINE_VERSION + 1)
    upgraded = _engine(tmp_path, fake_embedder)
    assert not upgraded.is_current()
    # Re-indexing one folder after an upgrade re-embeds the other folder's documents too, not drops them.
    report = upgraded.index([corpus_dir])
    assert report.documents == 4 and report.embedded_documents == 4 and report.removed == 0
    assert upgraded.is_current()
    assert upgraded.ask("The harbour reopened after the storm").citations[0].sentence == \
        "The harbour reopened after the storm."


def _flip_byte(path: Path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["manifest.json", "documents.jsonl", "sentences.npy", "chunks.npy",
                                  "chunks.faiss", "sentences.faiss", "CURRENT"])
def test_flipped_byte_is_refused(tmp_path, corpus_dir, fake_embedder, name):
    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    idx = tmp_path / "idx"
    target = idx / name if name == "CURRENT" else idx / eng.load().version / name
    _flip_byte(target)
    with pytest.raises(IndexCorrupt, match="rebuild"):
        index_io.load(idx)


def test_a_large_file_is_checked_by_samples_at_load_and_whole_by_rag_check(tmp_path, corpus_dir, fake_embedder,
                                                                            monkeypatch, capsys):
    from rag.app.cli import main

    # Shrink "large" to a few hundred bytes, sampled in four blocks of 16 bytes (and the last).
    monkeypatch.setattr(index_io, "SAMPLE_FROM", 256)
    monkeypatch.setattr(index_io, "SAMPLE_BLOCKS", 4)
    monkeypatch.setattr(index_io, "SAMPLE_BYTES", 16)
    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    idx = tmp_path / "idx"
    vdir = idx / eng.load().version
    manifest = json.loads((vdir / "manifest.json").read_text())
    assert "sentences.faiss" in manifest["sampled"] and "manifest.json" not in manifest["sampled"]
    assert set(manifest["sampled"]) <= set(manifest["files"])  # every file keeps its whole sha256 too
    target = vdir / "sentences.faiss"
    size = target.stat().st_size
    step = size // 4
    original = target.read_bytes()

    def flip(at: int) -> None:
        data = bytearray(original)
        data[at] ^= 0xFF
        target.write_bytes(bytes(data))

    flip(step + 16)  # inside no sampled block: a load does not read it ...
    assert len(index_io.load(idx).documents) == 3
    assert main(["check", "--index", str(idx)]) == 1  # ... a whole check does
    assert "sentences.faiss is missing or fails its checksum" in capsys.readouterr().err
    flip(2 * step + 3)  # inside a sampled block
    with pytest.raises(IndexCorrupt, match="rebuild"):
        index_io.load(idx)
    target.write_bytes(original)
    assert main(["check", "--index", str(idx)]) == 0
    assert "every file matches its sha256" in capsys.readouterr().out
    target.write_bytes(original + b"x")  # a longer file changes the sampled hash (its size is in it)
    with pytest.raises(IndexCorrupt):
        index_io.load(idx)


def test_interrupted_write_leaves_old_index(tmp_path, corpus_dir, fake_embedder, monkeypatch):
    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    version = eng.load().version
    (corpus_dir / "c.txt").write_text("Changed\nSomething else entirely happened today.\n", encoding="utf-8")

    def crash(*a, **k):
        raise KeyboardInterrupt  # as if the process were stopped mid-write

    monkeypatch.setattr(index_io.FaissStore, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        _engine(tmp_path, fake_embedder).index([corpus_dir])
    monkeypatch.undo()
    data = index_io.load(tmp_path / "idx")
    assert data.version == version and len(data.documents) == 3
    assert not list((tmp_path / "idx").glob(".tmp-*"))


def test_crash_after_new_version_written_but_before_swap(tmp_path, corpus_dir, fake_embedder, monkeypatch):
    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    version = eng.load().version
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith("CURRENT"):
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(index_io.os, "replace", replace)
    (corpus_dir / "a.txt").unlink()
    with pytest.raises(IndexWriteError, match="disk full; the previous version is unchanged"):
        _engine(tmp_path, fake_embedder).index([corpus_dir])
    monkeypatch.undo()
    assert index_io.load(tmp_path / "idx").version == version
    assert [p.name for p in (tmp_path / "idx").glob("v-*")] == [version]  # the uncommitted one is gone


def test_missing_index_and_model_mismatch(tmp_path, corpus_dir, fake_embedder):
    with pytest.raises(IndexMissing, match="rag index"):
        index_io.load(tmp_path / "nothing")
    _engine(tmp_path, fake_embedder).index([corpus_dir])
    with pytest.raises(IndexCorrupt, match="built with model 'fake-bow'"):
        index_io.load(tmp_path / "idx", model="all-MiniLM-L6-v2")


def test_bad_files_stop_without_touching_the_index(tmp_path, corpus_dir, fake_embedder):
    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    version = eng.load().version
    (corpus_dir / "bad.txt").write_bytes(b"\x00\x01binary")
    with pytest.raises(InputError, match="bad.txt: binary"):
        _engine(tmp_path, fake_embedder).index([corpus_dir])
    assert index_io.load(tmp_path / "idx").version == version
    report = _engine(tmp_path, fake_embedder).index([corpus_dir], skip_bad=True)
    assert report.documents == 3 and "bad.txt" in report.errors[0]


def test_sentences_are_embedded_alone_and_chunks_are_their_mean(tmp_path, corpus_dir, fake_embedder):
    eng = _engine(tmp_path, fake_embedder)
    report = eng.index([corpus_dir])
    data, retr = eng.load(), eng.retriever
    assert report.embedded == len(retr.sent_rows)  # one model input per citable sentence, no chunk pass
    for row, c in enumerate(data.chunks):
        texts = [retr.sentence_text[r] for r in retr.sent_rows[retr.chunk_lo[row]:retr.chunk_hi[row]]]
        mean = fake_embedder.embed(texts).sum(0)
        np.testing.assert_allclose(data.chunk_store.get(c[:1])[0], mean / np.linalg.norm(mean), atol=1e-6)
    vec = data.sentence_store.get(data.sentence_view.id[retr.sent_rows[:1]])[0]
    np.testing.assert_allclose(vec, fake_embedder.embed([retr.sentence_text[retr.sent_rows[0]]])[0], atol=1e-6)


def test_dense_search_ranks_chunks_by_their_best_sentence_within_the_mask(tmp_path, corpus_dir, fake_embedder):
    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    retr = eng.retriever
    q = fake_embedder.embed(["Bakers blamed the cost of flour."])[0]
    dense = retr.dense.scores(q[None, :], 0.0, exact=True)
    best = int(np.argmax(dense.cos[:, 0]))
    assert retr.sentence_text[retr.sent_rows[best]] == "Bakers blamed the cost of flour."
    ranked = retr._dense_chunks(dense, 0, None)
    assert ranked[0] == retr.sent_chunk[best] and len(ranked) == len(set(ranked)) == len(retr.chunk_text)
    chess = [i for i, d in enumerate(eng.load().documents) if d.title == "Chess final"]
    inside = retr._dense_chunks(dense, 0, retr._doc_mask(chess))
    assert inside and all(retr.chunk_doc[r] in chess for r in inside)


def test_coverage_of_many_sentences_at_once_matches_each_sentence_alone(tmp_path, corpus_dir, fake_embedder):
    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    lex, n = eng.retriever.lexicon, len(eng.retriever.sent_rows)
    qterms = lex.known("Bakers blamed the cost of flour in the chess final")
    weights = eng.retriever._term_weights(qterms + qterms[:1])  # a repeated term counts twice, as it does alone
    some = np.arange(n)[::-1][: n - 1]  # any positions, in any order
    fast = lex.coverages(weights, some)
    assert fast.max() > 0
    assert np.allclose(fast, [lex.covered(lex.columns(weights), lex.term_set(p)) for p in some])
    assert lex.coverages([("no-such-term", 1.0)], some).max() == 0.0


def test_bm25_top_k_from_the_postings_ranks_as_bm25_scoring_every_chunk(tmp_path, corpus_dir, fake_embedder):
    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    import bm25s

    from rag.retrieval.search import corpus_terms

    lex = eng.retriever.lexicon
    bm = bm25s.BM25(k1=1.5, b=0.75)  # every chunk scored by bm25s itself
    bm.index(corpus_terms(eng.load())[1], show_progress=False)
    for question in ("Bakers blamed the cost of flour", "chess final flour flour", "Shanghai", "no such words"):
        qterms = lex.known(question)
        full = bm.get_scores(qterms) if qterms else np.zeros(len(eng.retriever.chunk_text))
        expected = [int(r) for r in np.lexsort((np.arange(len(full)), -full)) if full[r] > 0][:3]
        assert lex.bm25_top(qterms, 3) == expected


def test_a_common_term_is_read_from_its_best_scoring_chunks_only(tmp_path, fake_embedder, monkeypatch):
    from rag.retrieval import lexical

    engine = _indexed(tmp_path, fake_embedder, {
        f"{i}.txt": f"Harbour story {i}\n" + " ".join(["The harbour reopened."] * (i + 1) + ["Boats waited."] * (4 - i))
        for i in range(4)})
    lex = engine.retriever.lexicon
    assert len(lex.bm25_top(["harbour"], 10)) == 4
    best = lex.bm25_top(["harbour"], 10)[:2]
    monkeypatch.setattr(lexical, "POSTINGS_READ", 2)  # the term's two best chunks, and no others
    assert lex.bm25_top(["harbour"], 10) == best


def test_bm25_candidates_respect_the_document_mask(tmp_path, corpus_dir, fake_embedder):
    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    retr = eng.retriever
    docs = eng.load().documents
    chess = [i for i, d in enumerate(docs) if d.title == "Chess final"]
    dense = retr.dense.scores(np.zeros((1, fake_embedder.dim), np.float32), 0.0, exact=True)
    qterms = retr.lexicon.known("flour chess")
    inside = retr._fuse(dense, 0, qterms, retr._doc_mask(chess), None)
    everywhere = retr._fuse(dense, 0, qterms, None, None)
    assert inside and all(retr.chunk_doc[r] in chess for r in inside)
    assert any(retr.chunk_doc[r] not in chess for r in everywhere)


def test_a_sentence_that_answers_one_clause_outranks_one_that_touches_more_of_the_question(tmp_path, fake_embedder):
    # A multi-hop question's facts each answer one clause: the sentence that answers "which volcano
    # erupted ..." in full is the citation, not the one that names more of the question's words.
    r = _indexed(tmp_path, fake_embedder, {"news.txt": "Weekly round-up\nThe volcano near Grindavik erupted on "
                 "Monday night. Bread prices in Lyon and the chess final in Shanghai were discussed.\n"}).retriever
    q = r.query("Which volcano erupted near Grindavik on Monday night, and why did bread prices rise in Lyon "
                "while the chess final in Shanghai lasted six hours?")
    assert len(q.clauses) >= 2
    top = r.sentences(q, r.search(q), k=2)
    assert r.sentence_text[top[0].row] == "The volcano near Grindavik erupted on Monday night."


def test_term_weights_count_idf_within_the_articles_searched(tmp_path, fake_embedder):
    # Tech Daily's articles keep naming Google, so within Tech Daily "google" tells little and
    # "antitrust" (common elsewhere, once in Tech Daily) picks the article: the rerank's coverage
    # prefers the antitrust sentence there, and the Google one over the whole corpus.
    tech = ["Google launched a new phone.", "Regulators proposed an antitrust fine.",
            "Google opened an office in Lyon."]
    other = ["The antitrust trial of the bakers began.", "An antitrust case against a shipping firm closed.",
             "Antitrust lawyers met in Shanghai."]
    engine = _indexed(tmp_path, fake_embedder, {
        f"{i}.md": f"---\ntitle: Story {i}\nsource: {'Tech Daily' if i < len(tech) else 'Other Times'}\n---\n{body}\n"
        for i, body in enumerate(tech + other)})
    r = engine.retriever
    docs = engine.load().documents
    mask = r._doc_mask([i for i, doc in enumerate(docs) if doc.source == "Tech Daily"])
    qterms = terms("google antitrust")
    everywhere, inside = dict(r._term_weights(qterms)), dict(r._term_weights(qterms, mask))
    assert everywhere[qterms[0]] > everywhere[qterms[1]] and inside[qterms[0]] < inside[qterms[1]]
    chunk_of = {r.chunk_text[i].split(".")[0]: i for i in range(len(r.chunk_text))}
    phone, fine = chunk_of["Google launched a new phone"], chunk_of["Regulators proposed an antitrust fine"]
    flat = {phone: 0.0, fine: 0.0}
    assert r._rerank(flat, qterms)[phone] > r._rerank(flat, qterms)[fine]
    assert r._rerank(flat, qterms, mask)[fine] > r._rerank(flat, qterms, mask)[phone]


def test_a_sentence_that_only_restates_its_article_topic_is_not_the_citation(tmp_path, fake_embedder):
    # Every sentence of this article says the volcano erupted; the one the question's own detail
    # asks about (the lava on the road) is what sets its sentence apart, and is cited first.
    r = _indexed(tmp_path, fake_embedder, {
        "volcano.txt": "Volcano erupts\nThe volcano near Grindavik erupted again. The volcano near Grindavik erupted "
                       "on Monday. The volcano near Grindavik erupted overnight. Lava reached the main road.\n",
        "chess.txt": "Chess final\nMs Ju Wenjun won the final in Shanghai.\n"}).retriever
    rows = [int(x) for x in r.sent_rows if r.sentence_text[x].startswith("The volcano")] + \
        [int(x) for x in r.sent_rows if r.sentence_text[x].startswith("Lava")]
    vecs = fake_embedder.embed([r.sentence_text[x] for x in rows])
    # Each sentence against the mean of the article's other sentences (itself left out).
    typicality = ((vecs @ vecs.sum(0)) - (vecs * vecs).sum(1)) / (len(vecs) - 1)
    np.testing.assert_allclose(r.dense.typicality[np.searchsorted(r.sent_rows, rows)], typicality, atol=1e-5)
    assert typicality[-1] < typicality[:-1].min()

    q = r.query("Did lava from the volcano near Grindavik reach the road?")
    cited = lambda: r.sentence_text[r.sentences(q, r.search(q), k=1)[0].row]
    assert cited() == "Lava reached the main road."
    r.settings.typical_weight = 0.0
    assert cited().startswith("The volcano near Grindavik erupted")


def test_weak_citations_are_dropped_by_their_share_of_the_best_and_the_best_always_stays():
    from rag.answer.extractive import RefusalPolicy, compose, strong
    from rag.retrieval.search import SentenceHit

    hits = lambda *scores: [SentenceHit(i, s, 0.6, 0.5, 0) for i, s in enumerate(scores)]
    assert [h.row for h in strong(hits(1.0, 0.6, 0.4), 0.5)] == [0, 1]
    # A sentence typical of its article is marked down, and a score can fall below zero: half of a
    # negative best is above the best, which would leave no citation at all.
    assert [h.row for h in strong(hits(-0.1, -0.3), 0.5)] == [0, 1]
    assert strong([], 0.5) == []
    text, before = ["First.", "Second.", "Third."], ["", "", ""]
    made = compose("Why did it happen?", hits(1.0, 0.9, 0.4), text, before, RefusalPolicy())
    assert made.text == "First. [1] Second. [2]" and made.cited == [0, 1] and made.answers == []
    assert compose("Why?", hits(-0.1, -0.2), text, before, RefusalPolicy()).text.startswith("First. [1]")
    # With a reader, a sentence joins the answer when the reader says it answers the question too.
    read = [SentenceHit(i, 1.0 - i / 10, 0.6, 0.5, 0, x) for i, x in enumerate((2.0, -1.5, 0.5))]
    assert compose("Why?", read, text, before, RefusalPolicy()).cited == [0, 2]


def test_a_ranking_sure_of_its_first_chunk_leaves_the_next_slots_to_the_others():
    from rag.retrieval.search import RRF_K, _merge_scored

    vote = 1 / (RRF_K + 1)  # scores are in first-place votes
    sure = ([1, 2, 3], np.array([3.0, 1.0, 0.9]) * vote)  # its first chunk far ahead
    unsure = ([7, 8, 9], np.array([2.0, 1.95, 1.9]) * vote)  # three chunks close together
    merged = _merge_scored([sure[0], unsure[0]], [sure[1], unsure[1]], temperature=0.2)
    assert merged[:4] == [1, 7, 8, 9]  # the unsure ranking gets a slot for each close chunk
    # Only the gaps within a ranking count: one ranking's scores all raised by the same amount merge the same.
    shifted = _merge_scored([sure[0], unsure[0]], [sure[1] + 5 * vote, unsure[1]], temperature=0.2)
    assert shifted == merged
    # A chunk both rankings hold adds its two shares.
    both = _merge_scored([[1, 2], [3, 2]], [np.array([1.0, 0.9]) * vote, np.array([1.0, 0.9]) * vote], 0.2)
    assert both[0] == 2
    # Only the scored part of a ranking is merged; an empty ranking adds nothing.
    assert _merge_scored([[1, 2, 3], []], [np.array([1.0]) * vote, np.zeros(0)], 0.2) == [1]


def test_a_chunks_best_sentence_cosine_is_read_for_many_chunks_at_once(tmp_path, corpus_dir, fake_embedder):
    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    r = eng.retriever
    dense = r.dense.scores(fake_embedder.embed(["Bakers blamed the cost of flour."]), 0.0, exact=True)
    rows = list(range(len(r.chunk_text)))[::-1]
    expected = [dense.cos[r.chunk_lo[c]:r.chunk_hi[c], 0].max() for c in rows]
    np.testing.assert_allclose(r._chunk_best(dense, 0, rows), expected)
    assert r._chunk_best(dense, 0, []).shape == (0,)


def test_a_reader_rescores_the_best_sentences_and_its_logit_is_kept(tmp_path, corpus_dir, fake_embedder):
    """The fusion of an optional reader (reader.py), with a stand-in that reads one word."""
    import numpy as np

    class WordReader:
        def scores(self, question, passages):
            return np.array([3.0 if "evacuated" in p else 0.0 for p in passages], np.float32)

    engine = Engine(tmp_path / "idx", embedder=fake_embedder, reader=WordReader())
    engine.index([corpus_dir])
    engine.settings.reader_weight = 1.0  # enough for the stand-in's 3.0 to outweigh the word match
    r = engine.retriever
    q = r.query("What happened near Grindavik?")
    top = r.sentences(q, r.search(q), k=3)
    assert "evacuated" in r.sentence_text[top[0].row] and top[0].reader == 3.0
    assert all(h.reader == 0.0 for h in top[1:])
    assert "Residents were evacuated" in r.passage(top[0].row) and "Article: Volcano erupts" in r.passage(top[0].row)


def test_removing_a_document_writes_a_new_version_under_the_lock_and_keeps_the_rest(tmp_path, corpus_dir,
                                                                                      fake_embedder):
    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    before = (tmp_path / "idx" / "CURRENT").read_text()
    old_reader = index_io.load(tmp_path / "idx")  # a reader holding the old version
    gone = next(d.doc_id for d in eng.documents if d.doc_id.endswith("a.txt"))
    report = eng.remove_documents([gone])
    assert report.removed == 1 and report.documents == 2 and report.embedded == 0
    assert (tmp_path / "idx" / "CURRENT").read_text() != before
    assert gone not in {d.doc_id for d in _engine(tmp_path, fake_embedder).documents}
    assert gone in {d.doc_id for d in old_reader.documents}  # readers keep the version they loaded
    kept = _engine(tmp_path, fake_embedder).ask("Bread prices rose by ten percent in Lyon")
    assert kept.found and all("a.txt" not in c.doc_id for c in kept.citations)
    with pytest.raises(InputError, match="not in the index"):
        eng.remove_documents([gone])  # already gone: said, and nothing written
    with pytest.raises(InputError, match="not in the index"):
        eng.remove_documents(["no/such/article"])
    assert len(_engine(tmp_path, fake_embedder).documents) == 2


def test_a_large_index_searches_through_its_approximate_index_and_finds_what_exact_search_does(
        tmp_path, fake_embedder, monkeypatch):
    """Past ANN_MIN sentences an index also saves an IVF-PQ index over its sentence vectors, says so
    in its manifest, and loads its vectors memory-mapped; a search takes its dense candidates from
    it and scores them exactly. (ANN_MIN is lowered here so a few hundred sentences cross it.)"""
    import json

    from rag.index import vectors
    from rag.retrieval import dense

    monkeypatch.setattr(index_io, "ANN_MIN", 300)
    monkeypatch.setattr(dense, "ANN_DEPTH", 60)  # fewer candidates than sentences: the approximate path decides
    places = ["Lyon", "Oslo", "Lima", "Perth", "Quito", "Accra", "Hanoi", "Dakar", "Porto", "Riga"]
    things = ["bridge", "library", "stadium", "harbour", "museum", "market", "tunnel", "airport"]
    files = {f"{p}-{t}.txt": f"The {t} in {p}\nWork on the {t} in {p} began in {1990 + i}. "
             f"The {t} in {p} cost {i + 2} million. Residents of {p} voted on the {t} twice. "
             f"The mayor of {p} opened the {t} in spring.\n"
             for i, (p, t) in enumerate((p, t) for p in places for t in things)}
    engine = _indexed(tmp_path, fake_embedder, files)
    data = engine.load()
    manifest = json.loads((tmp_path / "index" / data.version / "manifest.json").read_text())
    assert manifest["vector_index"]["sentences"].startswith("IVF") and data.sentence_store.ann is not None
    assert (tmp_path / "index" / data.version / index_io.ANN_FILE).is_file()
    r = engine.retriever
    assert r.dense.ann is not None and len(r.sent_rows) >= 300
    for question in ("When did work on the museum in Oslo begin?", "How much did the tunnel in Perth cost?"):
        q = r.query(question)
        approx = r.sentences(q, r.search(q), k=3)
        r.settings.search = "exact"
        exact = r.sentences(q, r.search(q), k=3)
        r.settings.search = "auto"
        assert [h.row for h in approx][:1] == [h.row for h in exact][:1]
    # A large index, loaded, leaves its documents' texts on disk until a sentence of theirs is read.
    engine = Engine(tmp_path / "index", embedder=fake_embedder)
    data = engine.load()
    assert all(isinstance(d, index_io.StoredDocument) for d in data.documents)
    cited = engine.ask("How much did the tunnel in Perth cost?").citations[0]
    doc = next(d for d in data.documents if d.doc_id == cited.doc_id)
    assert doc.text[cited.start:cited.end] == cited.sentence and cited.sentence.startswith("The tunnel in Perth cost")
    texts = {d.doc_id: d.text for d in data.documents}
    (tmp_path / "articles" / "Oslo-ferry.txt").write_text("The ferry in Oslo\nThe ferry in Oslo sails at noon.\n")
    report = engine.index([tmp_path / "articles"])  # kept articles are read from the stored texts
    assert report.skipped == len(files) and report.embedded_documents == 1
    after = index_io.load(tmp_path / "index")
    assert {d.doc_id: d.text for d in after.documents if d.doc_id in texts} == texts
    # A corrupt approximate index is caught by its checksum like every other file.
    data = after
    (tmp_path / "index" / data.version / index_io.ANN_FILE).write_bytes(b"broken")
    with pytest.raises(IndexCorrupt, match="sentences.ann.faiss"):
        index_io.load(tmp_path / "index")
    assert vectors.ANN_NPROBE > 0


def test_the_store_reads_its_vectors_in_place_and_by_id(tmp_path):
    from rag.index.vectors import FaissStore

    store = FaissStore(8)
    vecs = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)
    ids = np.arange(20)[::-1] * 7 + 3  # ids in no particular order
    store.add(ids, vecs)
    np.testing.assert_array_equal(store.ids(), ids)
    np.testing.assert_array_equal(store.vectors(), vecs)
    np.testing.assert_array_equal(store.get(ids[[5, 0, 19]]), vecs[[5, 0, 19]])
    with pytest.raises(KeyError):
        store.get(np.array([4]))
    store.save(tmp_path / "s.faiss")
    mapped = FaissStore.load(tmp_path / "s.faiss", mmap=True)
    np.testing.assert_array_equal(mapped.get(ids[[3, 4]]), vecs[[3, 4]])
    # Rows are read from the file in runs: any order, repeats, near and far apart.
    for pos in ([5, 3, 5, 19, 0], [19], [0, 1, 2, 3], [2, 17, 9, 9, 10]):
        np.testing.assert_array_equal(mapped.rows(np.array(pos)), vecs[pos])
    assert mapped.rows(np.zeros(0, np.int64)).shape == (0, 8)
    assert not mapped.vectors().flags.writeable


def test_the_lexicon_and_typicality_are_saved_with_the_index_and_an_index_without_them_searches_the_same(
        tmp_path, corpus_dir, fake_embedder, monkeypatch):
    import json

    from rag.index.arrays import FileArray
    from rag.retrieval import search

    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    data = eng.load()
    files = json.loads((data.path / "manifest.json").read_text())["files"]
    assert {"lexicon.json", "lexicon.bm25_rows.npy", search.TYPICALITY_FILE, search.LEAD_FILE} <= set(files)
    built = []
    monkeypatch.setattr(search.Lexicon, "build", classmethod(lambda cls, *a: built.append(a) or None))
    saved = eng.retriever  # a load maps what was saved: nothing is tokenised again
    assert not built and isinstance(saved.lexicon.bm25_rows, FileArray)
    monkeypatch.undo()

    # The same tables saved without derived files (an index from before they existed) tokenise at load.
    bare = index_io.load(tmp_path / "idx")
    bare.derived = []
    index_io.save(tmp_path / "bare", bare)
    again = Engine(tmp_path / "bare", embedder=fake_embedder).retriever
    assert not (index_io.load(tmp_path / "bare").path / "lexicon.json").exists()
    assert again.lexicon.vocab == saved.lexicon.vocab
    np.testing.assert_array_equal(again.lexicon.bm25_data, saved.lexicon.bm25_data)
    np.testing.assert_array_equal(again.dense.typicality, saved.dense.typicality)
    assert again.leads is None  # lead vectors need the model: without them a search has no lead bonus
    saved.settings.lead_weight = again.settings.lead_weight = 0.0
    for question in ("Who won the chess final?", "Why did bread prices rise in Lyon?"):
        a, b = saved.query(question), again.query(question)
        assert [h.row for h in saved.sentences(a, saved.search(a), 3)] == \
            [h.row for h in again.sentences(b, again.search(b), 3)]


def test_a_citation_is_made_from_the_sentence_record_that_carries_its_provenance(tmp_path, corpus_dir, fake_embedder):
    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    data, retr = eng.load(), eng.retriever
    row = int(next(r for r in retr.sent_rows if retr.sentence_text[r] == "The match lasted six hours."))
    s = data.sentence(row)
    assert s.text == "The match lasted six hours." == s.document.text[s.start:s.end]
    assert s.document.title == "Chess final" and s.index == data.sentence_view.n[row] > 0
    c = s.cite(2, 0.5)
    assert (c.n, c.doc_id, c.sentence, c.sentence_index, c.start, c.end) == \
        (2, s.document.doc_id, s.text, s.index, s.start, s.end)
    assert eng.citation(2, row, 0.5) == c


def test_a_file_array_reads_slices_and_runs_of_slices(tmp_path):
    from rag.index.arrays import FileArray

    a = np.arange(100, dtype=np.int32) * 3
    np.save(tmp_path / "a.npy", a)
    f = FileArray(tmp_path / "a.npy")
    assert len(f) == 100 and f.dtype == np.int32
    np.testing.assert_array_equal(f[5:9], a[5:9])
    np.testing.assert_array_equal(f[98:200], a[98:])
    assert len(f[7:7]) == 0
    for lo, hi in (([0, 4, 10], [4, 6, 12]), ([10, 0], [12, 3]), ([2, 3], [5, 8]), ([5], [5]), ([], [])):
        want = np.concatenate([a[x:y] for x, y in zip(lo, hi)] or [a[:0]])
        np.testing.assert_array_equal(f.ranges(np.array(lo), np.array(hi)), want)
    np.testing.assert_array_equal(np.asarray(f), a)
    with pytest.raises(TypeError):
        f[[1, 2]]


# -- a build that streams (issue 17) ---------------------------------------------------------

def test_the_streamed_vector_file_is_the_file_faiss_writes(tmp_path):
    from rag.index.vectors import FaissStore, FlatWriter

    for n in (0, 1, 700):
        vecs = np.random.default_rng(n).standard_normal((n, 8)).astype(np.float32)
        ids = np.arange(n, dtype=np.int64) * 3 + 5
        store = FaissStore(8)
        store.add(ids, vecs)
        store.save(tmp_path / "faiss.faiss")
        writer = FlatWriter(tmp_path / "streamed.faiss", 8)
        for a in range(0, n, 256):  # a block at a time, as a build writes it
            writer.add(ids[a:a + 256], vecs[a:a + 256])
        writer.close()
        assert (tmp_path / "streamed.faiss").read_bytes() == (tmp_path / "faiss.faiss").read_bytes()
        back = FaissStore.load(tmp_path / "streamed.faiss", mmap=True)
        assert len(back) == n and np.array_equal(back.get(ids[::-1]), vecs[::-1])


def _random_corpus(seed: int):
    import random

    rng = random.Random(seed)
    words = [f"w{i}" for i in range(300)]
    sentences = [[rng.choice(words[:rng.randint(5, 300)]) for _ in range(rng.randint(0, 12))] for _ in range(1500)]
    chunks, i = [], 0
    while i < len(sentences):
        k = rng.randint(1, 8)
        chunks.append([rng.choice(words)] + [t for s in sentences[i:i + k] for t in s])
        i += k
    return sentences, chunks + [[]]  # a chunk without terms counts one term long, as bm25s counts it


def test_bm25_of_the_lexicon_is_bm25s_scoring_every_chunk():
    import bm25s

    from rag.retrieval.lexical import Lexicon

    sentences, chunks = _random_corpus(0)
    lex = Lexicon.build(sentences, chunks, 1.5, 0.75)
    bm = bm25s.BM25(k1=1.5, b=0.75)
    bm.index([t or ["\0"] for t in chunks], show_progress=False)
    for question in (["w1"], ["w5", "w200", "w5"], ["w17", "w250"]):
        mine = np.zeros(len(chunks))
        for t in question:
            lo, hi = lex.bm25_ptr[lex.col[t]], lex.bm25_ptr[lex.col[t] + 1]
            np.add.at(mine, lex.bm25_rows[lo:hi], lex.bm25_data[lo:hi])
        assert np.allclose(mine, bm.get_scores(question), rtol=0, atol=1e-6)


def test_a_lexicon_built_a_batch_at_a_time_equals_one_built_whole(tmp_path, monkeypatch):
    from rag.retrieval import lexical

    sentences, chunks = _random_corpus(1)
    whole = lexical.Lexicon.build(sentences, chunks, 1.5, 0.75)
    monkeypatch.setattr(lexical.LexiconBuilder, "BLOCK", 97)  # many passes over the spilled postings
    builder = lexical.LexiconBuilder(tmp_path, 1.5, 0.75)
    for a, b in ((0, 400), (400, 1100), (1100, len(sentences))):  # batches need not align with chunks
        builder.add(sentences[a:b], chunks[a * len(chunks) // len(sentences):b * len(chunks) // len(sentences)])
    (tmp_path / "out").mkdir()
    streamed = builder.finish(tmp_path / "out")
    assert streamed.vocab == whole.vocab and streamed.n_chunks == whole.n_chunks
    for name in ("sent_ptr", "sent_cols", "bm25_ptr", "bm25_rows", "bm25_data"):
        assert np.array_equal(np.asarray(getattr(streamed, name)), np.asarray(getattr(whole, name))), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the spill files are gone


def _saved(index: Path) -> dict:
    """Everything a version holds, by file, read back."""
    from rag.index.vectors import FaissStore

    vdir = index / index_io.current(index).split()[0]
    out = {}
    for f in sorted(vdir.iterdir()):
        if f.suffix == ".npy":
            out[f.name] = np.load(f)
        elif f.suffix == ".faiss":
            store = FaissStore.load(f)
            out[f.name] = (store.ids(), np.array(store.vectors()))
        elif f.name != "manifest.json":
            out[f.name] = f.read_bytes()
    return out


def test_a_build_in_batches_of_a_few_sentences_saves_what_one_batch_saves(tmp_path, corpus_dir, fake_embedder,
                                                                           monkeypatch):
    from rag.index import build

    Engine(tmp_path / "one", embedder=fake_embedder).index([corpus_dir])
    monkeypatch.setattr(build, "BATCH_SENTENCES", 2)  # every article flushes a batch of its own
    Engine(tmp_path / "many", embedder=fake_embedder).index([corpus_dir])
    one, many = _saved(tmp_path / "one"), _saved(tmp_path / "many")
    assert one.keys() == many.keys() and "sentences.typicality.npy" in one and "lexicon.bm25_data.npy" in one
    for name in one:
        a, b = one[name], many[name]
        if isinstance(a, tuple):
            assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1], atol=1e-6), name
        elif isinstance(a, np.ndarray) and a.dtype.kind == "f":
            assert np.allclose(a, b, atol=1e-6), name
        elif isinstance(a, np.ndarray):
            assert np.array_equal(a, b), name
        else:
            assert a == b, name
    assert not list((tmp_path / "many").glob(".build-*"))  # the build's scratch files are gone


def test_an_update_in_batches_keeps_old_vectors_and_adds_new_ones(tmp_path, corpus_dir, fake_embedder, monkeypatch):
    from rag.index import build

    monkeypatch.setattr(build, "BATCH_SENTENCES", 2)
    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    (corpus_dir / "d.txt").write_text("Storm\nA storm closed the port on Friday. Ferries stayed in.\n",
                                      encoding="utf-8")
    report = _engine(tmp_path, fake_embedder).index([corpus_dir])
    assert report.skipped == 3 and report.embedded_documents == 1
    Engine(tmp_path / "fresh", embedder=fake_embedder).index([corpus_dir])
    updated = _engine(tmp_path, fake_embedder)
    fresh = Engine(tmp_path / "fresh", embedder=fake_embedder)
    for question in ("A storm closed the port", "Ju Wenjun won the final", "Bakers blamed the cost of flour"):
        assert updated.ask(question).citations[0].sentence == fresh.ask(question).citations[0].sentence
    # The kept and the new sentences' vectors are the model's vectors of their texts.
    data = updated.load()
    rows = np.flatnonzero(data.sentence_view.citable)
    texts = [data.sentence(r).text for r in rows]
    assert np.allclose(data.sentence_store.get(data.sentence_view.id[rows]), fake_embedder.embed(texts), atol=1e-6)


def test_a_stored_document_reads_its_text_when_asked_and_copies_as_a_document(tmp_path, corpus_dir, fake_embedder,
                                                                            monkeypatch):
    import copy
    import dataclasses
    import pickle

    from rag.records import Document

    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    data = eng.load()
    path = data.path / "documents.jsonl"
    monkeypatch.setattr(index_io._DocumentTexts, "CACHE", 2)
    stored = index_io._stored_documents(path)
    assert [d.to_json() for d in stored] == [d.to_json() for d in data.documents]  # texts and all
    assert [d.text for d in reversed(stored)] == [d.text for d in reversed(data.documents)]  # read again past the cache
    d = stored[1]
    for copied in (copy.deepcopy(d), pickle.loads(pickle.dumps(d)), dataclasses.replace(d)):
        assert type(copied) is Document and copied == data.documents[1]
    assert dataclasses.replace(d, title="Other").title == "Other"


def test_each_article_keeps_its_lead_vector_and_an_index_without_them_gets_them_on_its_next_update(
        tmp_path, corpus_dir, fake_embedder):
    from rag.retrieval import dense, search

    eng = _engine(tmp_path, fake_embedder)
    eng.index([corpus_dir])
    data = eng.load()
    leads = {d.doc_id: search.load_leads(data.path, len(data.documents), data.dim)[i].copy()
             for i, d in enumerate(data.documents)}
    for d in data.documents:  # the title and opening, embedded whole
        np.testing.assert_allclose(leads[d.doc_id], fake_embedder.embed([dense.lead_text(d)])[0], atol=1e-6)
    (corpus_dir / "a.txt").unlink()
    eng.index([corpus_dir])
    after = _engine(tmp_path, fake_embedder).load()
    kept = search.load_leads(after.path, len(after.documents), after.dim)
    assert len(after.documents) == len(leads) - 1
    for i, d in enumerate(after.documents):  # rows moved, vectors kept
        np.testing.assert_array_equal(kept[i], leads[d.doc_id])

    bare = index_io.load(tmp_path / "idx")
    bare.derived = []  # as saved before lead vectors existed
    index_io.save(tmp_path / "bare", bare)
    old = Engine(tmp_path / "bare", embedder=fake_embedder)
    assert old.retriever.leads is None and old.ask("Who won the chess final?").found  # it loads and answers
    assert not old.is_current()  # so `rag serve` updates it on start
    report = Engine(tmp_path / "bare", embedder=fake_embedder).index([corpus_dir])
    assert report.embedded == 0  # no sentence embedded again: only the leads are new
    fresh = Engine(tmp_path / "bare", embedder=fake_embedder).retriever
    assert fresh.leads is not None and fresh.leads.shape == (len(after.documents), after.dim)
    assert Engine(tmp_path / "bare", embedder=fake_embedder).is_current()
