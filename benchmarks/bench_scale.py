"""How the index holds up as it grows: the MultiHop-RAG index tiled to larger sizes.

Each copy of the corpus gets its own documents (ids suffixed "#k"), sentence and chunk rows and
store ids offset, and its vectors moved by a little noise (then renormalised), so the copies are
near neighbours of each other as syndicated news is, but no two vectors are equal. Each tiled
index is then opened in a fresh process, which prints:

    load      seconds from nothing to the first answer (index read, retriever built, one question)
    p50, p95  warm latency of Engine.retrieve over the questions (MultiHop test half)
    rss       peak resident memory of that process
    disk      the index version's size on disk
    recall    the top-10 chunks and top-3 cited sentences against the exact path's, same questions
    figures   MultiHop-RAG's hits@4/10, MRR@10, MAP@10, evidence recall on those questions
    exact     the same figures with every sentence scored (Settings.search = "exact")

Usage:
    python benchmarks/bench_scale.py --index .cache/multihop-index --copies 10 50 154
    python benchmarks/bench_scale.py --measure DIR --queries 200      (one size, as the runs above do)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

NOISE = 0.02  # per-coordinate standard deviation before renormalising (cosine to the original ~0.93)


def tile(source: Path, copies: int, out: Path, seed: int = 0) -> None:
    """Write `copies` copies of the index in `source` as a new index in `out`.

    Memory holds no tiled vectors (each copy's go straight to the store files) and nothing
    corpus-sized besides the tables, the tiled lexicon and the typicalities: each copy's
    typicalities are computed from its own vectors (no article spans two copies), and the lexicon is
    tiled from the source's (`tile_lexicon`) instead of tokenising every copy again.
    """
    from rag.index import files as io
    from rag.index.vectors import ANN_MIN, FaissStore, FlatWriter
    from rag.retrieval.dense import sentence_typicality
    from rag.retrieval.lexical import Lexicon
    from rag.retrieval.search import Settings, corpus_terms, derive, load_leads

    data = io.load(source)
    sents, chunks = data.sentence_view, data.chunk_view
    n_docs, n_sent = len(data.documents), len(data.sentences)
    cit = sents.citable == 1
    s_vecs = data.sentence_store.get(sents.id[cit])
    c_vecs = data.chunk_store.get(chunks.id)
    doc_of = sents.doc[cit]
    rng = np.random.default_rng(seed)
    docs, s_tabs, c_tabs, typical = [], [], [], []
    span = data.next_id
    out.mkdir(parents=True, exist_ok=True)
    with io.staging(out) as staging:
        # Each copy's vectors go straight to the store files (FlatWriter), as a streamed build writes them.
        s_file, c_file = FlatWriter(staging / "sentences.faiss", data.dim), FlatWriter(staging / "chunks.faiss", data.dim)
        for k in range(copies):
            docs += [replace(d, doc_id=f"{d.doc_id}#{k}") if k else d for d in data.documents]
            s = sents.table.copy()
            s[:, 0] += k * span
            s[:, 1] += k * n_docs
            c = chunks.table.copy()
            c[:, 0] += k * span
            c[:, 1] += k * n_docs
            c[:, 2:4] += k * n_sent
            s_tabs.append(s)
            c_tabs.append(c)
            sv, cv = s_vecs, c_vecs
            if k:
                sv = s_vecs + rng.normal(0, NOISE, s_vecs.shape).astype(np.float32)
                sv /= np.linalg.norm(sv, axis=1, keepdims=True)
                cv = c_vecs + rng.normal(0, NOISE, c_vecs.shape).astype(np.float32)
                cv /= np.linalg.norm(cv, axis=1, keepdims=True)
            s_file.add(s[cit, 0], sv)
            c_file.add(c[:, 0], cv)
            typical.append(sentence_typicality(sv, doc_of, n_docs))
        s_file.close()
        c_file.close()
        big = s_file.n >= ANN_MIN
        tiled = io.IndexData(data.model, data.dim, docs, np.vstack(s_tabs), np.vstack(c_tabs),
                             FaissStore.load(c_file.path, mmap=big), FaissStore.load(s_file.path, mmap=big),
                             data.settings, copies * span)
        st = Settings()
        lexicon = Lexicon.load(data.path, st.bm25_k1, st.bm25_b, len(chunks), int(cit.sum())) \
            or Lexicon.build(*corpus_terms(data), st.bm25_k1, st.bm25_b)
        leads = load_leads(data.path, n_docs, data.dim)  # each copy's articles keep the source's lead vectors
        leads = None if leads is None else np.tile(np.asarray(leads), (copies, 1))
        tiled.derived = derive(tiled, st, tile_lexicon(lexicon, copies), np.concatenate(typical), leads)
        io.save(out, tiled)


def tile_lexicon(lex, copies: int):
    """The lexicon `Lexicon.build` makes of `copies` copies of a corpus, from the corpus's own.

    Each copy's sentences hold the same terms. A chunk's BM25 score of a term is idf x a part that
    depends only on the chunk (its term count and length against the mean length, which copies
    leave unchanged), so a copy scores as its original with the term's idf over the larger corpus
    (bm25s's Lucene idf, log(1 + (N - df + 0.5) / (df + 0.5))). Postings stay best score first,
    ties by chunk row, as the build orders them.
    """
    from rag.retrieval.lexical import Lexicon

    n = lex.n_chunks
    sent_cols = np.asarray(lex.sent_cols)
    sent_ptr = np.asarray(lex.sent_ptr)
    per = int(sent_ptr[-1])
    t_sent_ptr = np.concatenate([sent_ptr[:-1] + k * per for k in range(copies)] + [[copies * per]]).astype(np.int64)
    t_sent_cols = np.tile(sent_cols, copies)
    ptr = np.asarray(lex.bm25_ptr)
    rows, data = np.asarray(lex.bm25_rows), np.asarray(lex.bm25_data)
    df = np.diff(ptr).astype(np.float64)
    old_idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    new_idf = np.log(1 + (copies * n - copies * df + 0.5) / (copies * df + 0.5))
    term = np.repeat(np.arange(len(df)), np.diff(ptr))
    base = (data.astype(np.float64) * (new_idf / old_idf)[term]).astype(np.float32)  # Lucene's idf is never 0
    # Term by term, each posting of the source followed by its copies; then best first, ties by row.
    t_term = np.repeat(term, copies)
    t_rows = (np.repeat(rows.astype(np.int64), copies) + np.tile(np.arange(copies, dtype=np.int64) * n, len(rows)))
    t_data = np.repeat(base, copies)
    order = np.lexsort((t_rows, -t_data, t_term))
    t_ptr = (ptr * copies).astype(np.int64)
    return Lexicon(lex.vocab, t_sent_ptr, t_sent_cols, t_ptr, t_rows[order].astype(np.int32), t_data[order],
                   copies * n, dict(lex.params))


def measure(index: Path, data_dir: Path, queries: int, exact: bool) -> dict:
    """Open `index` in this process and time it (see the module's docstring)."""
    from rag.embedding import load_embedder
    from rag.engine import Engine
    from rag.eval.multihop import evidence_metrics, load_questions, paper_metrics

    emb = load_embedder()
    emb.embed(["warm up the model"])
    asked = load_questions(data_dir, "test")[:queries]
    questions = [q.query for q in asked]
    engine = Engine(index, embedder=emb)
    if exact:
        engine.settings.search = "exact"
    t0 = time.perf_counter()
    engine.retrieve(questions[0])
    load = time.perf_counter() - t0
    latencies, results, quality = [], [], []
    for q in asked:
        t = time.perf_counter()
        ret = engine.retrieve(q.query)
        latencies.append((time.perf_counter() - t) * 1000)
        results.append({"chunks": [int(h.row) for h in ret.chunks], "sentences": [int(h.row) for h in ret.sentences]})
        if q.facts:  # MultiHop-RAG's own figures: any copy of a gold fact counts
            chunks = [ret.retriever.chunk_text[h.row] for h in ret.chunks]
            quality.append({**paper_metrics(chunks, q.facts), **evidence_metrics(chunks, q.facts)})
    version = index / engine.load().version
    return {
        "chunks": len(engine.load().chunks),
        "sentences": len(engine.load().sentences),
        "load_s": round(load, 2),
        "p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "p95_ms": round(float(np.percentile(latencies, 95)), 1),
        "peak_rss_gb": round(_peak_rss_kb() / 2**20, 2),
        "disk_gb": round(sum(f.stat().st_size for f in version.iterdir()) / 2**30, 2),
        "quality": {k: round(float(np.mean([m[k] for m in quality])), 4) for k in quality[0]} if quality else {},
        "results": results,
    }


def _peak_rss_kb() -> int:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: that survives exec, so
    a measuring process started by the tiler would report the tiler's peak."""
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def _recall(got: list[dict], exact: list[dict], key: str, k: int) -> float:
    scores = [len(set(g[key][:k]) & set(e[key][:k])) / max(1, len(e[key][:k])) for g, e in zip(got, exact)]
    return round(float(np.mean(scores)), 4)


def _run(index: Path, args, exact: bool) -> dict | None:
    """One size measured in a fresh process; None (and why, on stderr) when it fails: the exact
    path on the largest sizes needs the whole sentence matrix in memory."""
    cmd = [sys.executable, __file__, "--measure", str(index), "--data", str(args.data), "--queries", str(args.queries)]
    out = subprocess.run(cmd + (["--exact"] if exact else []), capture_output=True, text=True)
    if out.returncode:
        tail = (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[-1]
        print(f"({'exact' if exact else 'approximate'} path on {index}: {tail}; exit status {out.returncode})",
              file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=Path(".cache/multihop-index"), help="the MultiHop-RAG index to tile")
    ap.add_argument("--data", type=Path, default=Path("../shared/eval/multihop_rag"))
    ap.add_argument("--copies", type=int, nargs="*", default=[1, 10])
    ap.add_argument("--work", type=Path, default=Path(".cache/scale"), help="where the tiled indexes are kept")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--exact", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.data, args.queries, args.exact)))
        return 0
    if not (args.index / "CURRENT").is_file():
        print(f"no index in {args.index}; build it with: rag index {args.data}/corpus.json --index {args.index}",
              file=sys.stderr)
        return 1
    print(f"{'chunks':>10} {'sentences':>10} {'load s':>7} {'p50 ms':>7} {'p95 ms':>7} {'RSS GB':>7} {'disk GB':>8}"
          f" {'recall@10':>9} {'cited@3':>8}   exact: {'load s':>7} {'p50 ms':>7} {'p95 ms':>7} {'RSS GB':>7}")
    for copies in args.copies:
        where = args.work / f"x{copies}"
        if not (where / "CURRENT").is_file():
            t0 = time.perf_counter()
            shutil.rmtree(where, ignore_errors=True)
            tile(args.index, copies, where)
            print(f"(tiled {copies} copies in {time.perf_counter() - t0:.0f} s, this process at a peak RSS of "
                  f"{_peak_rss_kb() / 2**20:.1f} GB)", file=sys.stderr)
        got = _run(where, args, exact=False)
        if got is None:
            continue
        ref = _run(where, args, exact=True)
        same = (f"{_recall(got['results'], ref['results'], 'chunks', 10):>9} "
                f"{_recall(got['results'], ref['results'], 'sentences', 3):>8}") if ref else f"{'-':>9} {'-':>8}"
        exact = f"{ref['load_s']:>7} {ref['p50_ms']:>7} {ref['p95_ms']:>7} {ref['peak_rss_gb']:>7}" if ref else "failed"
        print(f"{got['chunks']:>10,} {got['sentences']:>10,} {got['load_s']:>7} {got['p50_ms']:>7} {got['p95_ms']:>7}"
              f" {got['peak_rss_gb']:>7} {got['disk_gb']:>8} {same}          {exact}", flush=True)
        print("    MultiHop-RAG figures, this path (exact path): " + ", ".join(
            f"{k} {v} ({ref['quality'][k] if ref else '-'})" for k, v in got["quality"].items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
