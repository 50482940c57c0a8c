"""Try retrieval settings on the MultiHop-RAG dev split (never the test split).

Usage: python benchmarks/tune_multihop.py ../shared/eval/multihop_rag [--limit N] "bm25_weight=1.5" "..."
Each argument is one configuration: comma-separated Settings / RefusalPolicy fields changed from
their defaults, e.g. "bm25_weight=1.5,candidates=100".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

KEYS = ["hits@10", "hits@4", "mrr@10", "evidence_recall@10", "all_evidence@10", "citation_hit@3",
        "null_refusal", "null_refusal_outlet_in_corpus", "false_refusal"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("configs", nargs="*", default=[""])
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--index", default=".cache/multihop-index")
    args = ap.parse_args()
    from rag.engine import Engine
    from rag.eval.multihop import evaluate, load_questions

    questions = load_questions(Path(args.data_dir), "dev", args.limit)
    engine = Engine(args.index)
    engine.index([Path(args.data_dir) / "corpus.json"])
    print(f"{'config':48}" + "".join(f"{k[:10]:>11}" for k in KEYS) + f"{'p95 ms':>8}")
    from rag.answer.extractive import RefusalPolicy
    from rag.retrieval.search import Settings

    for cfg in args.configs:
        engine.settings, engine.policy = Settings(), RefusalPolicy()  # each configuration from the defaults
        for item in filter(None, cfg.split(",")):
            key, value = item.split("=")
            target = engine.settings if hasattr(engine.settings, key) else engine.policy
            setattr(target, key, type(getattr(target, key))(value) if not isinstance(getattr(target, key), bool)
                    else value.lower() in ("1", "true", "yes"))
        engine._retriever = None  # settings are read when the retriever is built
        res = evaluate(engine, questions, metadata=engine.settings.metadata, progress=False)
        print(f"{cfg or 'default':48}" + "".join(f"{res[k]:>11.4f}" for k in KEYS) + f"{res['latency_ms']['p95']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
