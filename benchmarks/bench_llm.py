"""Generative answers on a MultiHop-RAG dev subset through an OpenAI-compatible server.

Usage: python benchmarks/bench_llm.py ../shared/eval/multihop_rag --llm-url http://127.0.0.1:8080 [--limit 40]
Reports answer accuracy (the benchmark's answer appears in ours, case-insensitive; null questions
count as right when refused), the share of the model's claims the checker kept, how often the
extractive fallback was used, time to first token and total latency.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("--llm-url", required=True)
    ap.add_argument("--llm-model", default="default")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--index", default=".cache/multihop-index")
    args = ap.parse_args()
    from rag.engine import Engine
    from rag.evaluate import load_questions
    from rag.llm import LLMConfig

    engine = Engine(args.index, llm=LLMConfig(url=args.llm_url, model=args.llm_model, timeout=args.timeout))
    engine.index([Path(args.data_dir) / "corpus.json"])
    right, claims, kept, fallback, ttft, total, n = 0, 0, 0, 0, [], [], 0
    for q in load_questions(Path(args.data_dir), "dev", args.limit):
        engine.llm_stats = {}
        t0 = time.perf_counter()
        a = engine.ask(q.query)
        total.append(time.perf_counter() - t0)
        if "first_token_s" in engine.llm_stats:
            ttft.append(engine.llm_stats["first_token_s"])
        n += 1
        if q.qtype == "null_query":
            right += not a.found
        else:
            right += q.answer.lower() in a.answer.lower()
        claims += len(a.claims or [])
        kept += sum(c["supported"] for c in a.claims or [])
        fallback += a.found and a.mode == "extractive"
    print(f"{n} dev questions via {args.llm_url}: answer accuracy {right / n:.3f}; "
          f"claims kept by the checker {kept}/{claims} ({kept / max(1, claims):.3f}); "
          f"extractive fallback on {fallback} answered questions")
    if ttft:
        print(f"time to first token p50 {np.percentile(ttft, 50):.2f} s; "
              f"total per question p50 {np.percentile(total, 50):.2f} s, p95 {np.percentile(total, 95):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
