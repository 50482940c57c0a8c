"""Generative answers on a MultiHop-RAG dev subset through an OpenAI-compatible server.

Usage: python benchmarks/bench_llm.py ../shared/eval/multihop_rag --llm-url http://127.0.0.1:8080 [--limit 40]
(the same figures as `rag eval multihop DATA_DIR --split dev --llm-url URL --llm-limit 40`, without
the retrieval run)
Reports answer accuracy (the benchmark's answer appears in ours, case-insensitive; null questions
count as right when refused), the share of the model's claims the checker kept, how often the
extractive fallback was used, time to first token and total latency.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("--llm-url", required=True)
    ap.add_argument("--llm-model", default="default")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--index", default=".cache/multihop-index")
    args = ap.parse_args()
    from rag.answer.llm import LLMConfig
    from rag.engine import Engine
    from rag.eval.multihop import evaluate_answers, load_questions

    engine = Engine(args.index, llm=LLMConfig(url=args.llm_url, model=args.llm_model, timeout=args.timeout))
    engine.index([Path(args.data_dir) / "corpus.json"])
    print(evaluate_answers(engine, load_questions(Path(args.data_dir), "dev", args.limit)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
