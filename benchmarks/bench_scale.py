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
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

NOISE = 0.02  # per-coordinate standard deviation before renormalising (cosine to the original ~0.93)


def tile(source: Path, copies: int, out: Path, seed: int = 0) -> None:
    """Write `copies` copies of the index in `source` as a new index in `out`."""
    from rag.index import files as io
    from rag.index.vectors import FaissStore
    from rag.retrieval.lexical import Lexicon
    from rag.retrieval.search import Settings, corpus_terms, derive

    data = io.load(source)
    sents, chunks = data.sentence_view, data.chunk_view
    n_docs, n_sent = len(data.documents), len(data.sentences)
    cit = sents.citable == 1
    s_vecs = data.sentence_store.get(sents.id[cit])
    c_vecs = data.chunk_store.get(chunks.id)
    rng = np.random.default_rng(seed)
    docs, s_tabs, c_tabs = [], [], []
    s_store, c_store = FaissStore(data.dim), FaissStore(data.dim)
    span = data.next_id
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
        s_store.add(s[cit, 0], sv)
        c_store.add(c[:, 0], cv)
    tiled = io.IndexData(data.model, data.dim, docs, np.vstack(s_tabs), np.vstack(c_tabs), c_store, s_store,
                         data.settings, copies * span)
    # What the build derives for search, as it would: the copies' terms are the original's, read once.
    s = Settings()
    sentence_terms, chunk_terms = corpus_terms(data)
    tiled.derived = derive(tiled, s, Lexicon.build(sentence_terms * copies, chunk_terms * copies, s.bm25_k1, s.bm25_b))
    io.save(out, tiled)


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
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "disk_gb": round(sum(f.stat().st_size for f in version.iterdir()) / 2**30, 2),
        "quality": {k: round(float(np.mean([m[k] for m in quality])), 4) for k in quality[0]} if quality else {},
        "results": results,
    }


def _recall(got: list[dict], exact: list[dict], key: str, k: int) -> float:
    scores = [len(set(g[key][:k]) & set(e[key][:k])) / max(1, len(e[key][:k])) for g, e in zip(got, exact)]
    return round(float(np.mean(scores)), 4)


def _run(index: Path, args, exact: bool) -> dict:
    cmd = [sys.executable, __file__, "--measure", str(index), "--data", str(args.data), "--queries", str(args.queries)]
    out = subprocess.run(cmd + (["--exact"] if exact else []), check=True, capture_output=True, text=True)
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
            print(f"(tiled {copies} copies in {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        got = _run(where, args, exact=False)
        ref = _run(where, args, exact=True)
        print(f"{got['chunks']:>10,} {got['sentences']:>10,} {got['load_s']:>7} {got['p50_ms']:>7} {got['p95_ms']:>7}"
              f" {got['peak_rss_gb']:>7} {got['disk_gb']:>8} {_recall(got['results'], ref['results'], 'chunks', 10):>9}"
              f" {_recall(got['results'], ref['results'], 'sentences', 3):>8}          {ref['load_s']:>7}"
              f" {ref['p50_ms']:>7} {ref['p95_ms']:>7} {ref['peak_rss_gb']:>7}", flush=True)
        print("    MultiHop-RAG figures, this path (exact path): " + ", ".join(
            f"{k} {v} ({ref['quality'][k]})" for k, v in got["quality"].items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
