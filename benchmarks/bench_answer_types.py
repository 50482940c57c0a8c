"""What the answer-type check (rag/expected.py) costs per question: RealTime QA dev questions asked
with it off and on, alternately twice, the entity cache cleared before each run.

    python benchmarks/bench_answer_types.py [--shared ../shared] [--questions 80]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.engine import Engine  # noqa: E402
from rag.eval.newsqa import load_realtimeqa  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--questions", type=int, default=80)
    args = ap.parse_args()
    questions, corpus = load_realtimeqa(Path(args.shared) / "eval" / "realtimeqa", "dev")
    engine = Engine(ROOT / ".cache" / "realtimeqa-index")
    engine.index([corpus])
    engine.load()
    s = engine.retriever.settings
    on = (s.answer_type_weight, s.actor_weight)
    for label, (answer_type, actor) in (("off", (0.0, 0.0)), ("on", on)) * 2:
        s.answer_type_weight, s.actor_weight = answer_type, actor
        engine.retriever.entity_reader._seen.clear()
        ms = []
        for q in questions[: args.questions]:
            t0 = time.perf_counter()
            engine.ask(q.question)
            ms.append((time.perf_counter() - t0) * 1000)
        print(f"answer types {label:3}: p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
