"""Query latency with a cross-encoder reranker, on MultiHop-RAG dev questions.

Usage: python benchmarks/bench_rerank.py ../shared/eval/multihop_rag RERANKER [--limit 100] [--depth 10]
RERANKER is a sentence-transformers cross-encoder (name or path). The figures printed are latency
and the retrieval metrics; the latter mean something only for a trained cross-encoder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("reranker")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--index", default=".cache/multihop-index")
    args = ap.parse_args()
    from rag.engine import Engine
    from rag.eval.multihop import evaluate, load_questions

    questions = load_questions(Path(args.data_dir), "dev", args.limit)
    engine = Engine(args.index)
    engine.index([Path(args.data_dir) / "corpus.json"])
    for reranker in (None, args.reranker):
        engine._reranker, engine._retriever = reranker, None
        engine.settings.reranker_depth = args.depth
        res = evaluate(engine, questions, progress=False)
        print(f"{'reranker ' + reranker if reranker else 'no reranker':40} p50 {res['latency_ms']['p50']:7.1f} ms  "
              f"p95 {res['latency_ms']['p95']:7.1f} ms  hits@10 {res['hits@10']:.4f}  "
              f"evidence_recall@10 {res['evidence_recall@10']:.4f}  all_evidence@10 {res['all_evidence@10']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
