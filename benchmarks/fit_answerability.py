"""Fit the answerability model (rag/answerability.json) on the dev halves of every dataset.

    python benchmarks/fit_answerability.py [--shared ../shared] [--write]

For each dev question of MultiHop-RAG, RealTime QA and the project's own set, retrieval runs as
the product runs it and `rag.answer.extractive.answerability_features` reads what it found; a logistic model
of "the articles answer this" is fitted to them (each dataset and each class weighted equally, so
the large MultiHop-RAG set does not decide alone; a small ridge). It prints the coefficients and,
for each threshold, the refusals of unanswerable and answerable dev questions per dataset; the
threshold kept is the one whose worst dataset does best (refused minus twice the false refusals).
Test halves are never read. `--write` saves the model where the engine loads it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.answer.extractive import FEATURES, MODEL_FILE, answerability_features  # noqa: E402
from rag.engine import Engine, hits_text  # noqa: E402
from rag.eval.newsqa import load_jsonl, load_multihop, load_realtimeqa  # noqa: E402

THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


def datasets(shared: Path):
    mh = shared / "eval" / "multihop_rag"
    yield "multihop", load_multihop(mh, "dev")[0], mh / "corpus.json", ROOT / ".cache" / "multihop-index"
    rt = shared / "eval" / "realtimeqa"
    yield "realtimeqa", load_realtimeqa(rt, "dev")[0], rt / "corpus.jsonl", ROOT / ".cache" / "realtimeqa-index"
    own = ROOT / "benchmarks" / "questions" / "multihop-own.jsonl"
    yield "own", load_jsonl(own, "dev"), mh / "corpus.json", ROOT / ".cache" / "multihop-index"


def features(engine: Engine, question: str) -> list[float]:
    r = engine.retriever
    q = r.query(question)
    hits = r.search(q, k=10)
    top = r.sentences(q, hits, k=5)
    return answerability_features(r, question, top, hits_text(r, hits))


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, ridge: float = 1e-2):
    mean, scale = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    beta = np.zeros(z.shape[1])
    for _ in range(100):  # iteratively reweighted least squares
        p = 1 / (1 + np.exp(-z @ beta))
        h = z.T @ (z * (w * p * (1 - p))[:, None]) + ridge * np.eye(len(beta))
        step = np.linalg.solve(h, z.T @ (w * (y - p)) - ridge * beta)
        beta += step
        if np.abs(step).max() < 1e-8:
            break
    return mean, scale, beta


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--write", action="store_true", help=f"save the model to {MODEL_FILE.relative_to(ROOT)}")
    args = ap.parse_args()
    rows = []
    engines: dict[Path, Engine] = {}
    for name, questions, corpus, index in datasets(Path(args.shared)):
        if index not in engines:
            engines[index] = Engine(index)
            engines[index].index([corpus])
            engines[index].load()
        for q in questions:
            rows.append((name, int(not q.unanswerable), features(engines[index], q.question)))
        print(f"{name}: {len(questions)} dev questions", file=sys.stderr)
    names = np.array([n for n, _, _ in rows])
    y = np.array([a for _, a, _ in rows], float)
    x = np.array([f for _, _, f in rows], float)
    w = np.ones(len(y))
    for n in set(names):
        for c in (0, 1):
            m = (names == n) & (y == c)
            w[m] = 1.0 / max(1, m.sum())
    w *= len(y) / w.sum()
    mean, scale, beta = fit(x, y, w)
    p = 1 / (1 + np.exp(-(np.hstack([(x - mean) / scale, np.ones((len(x), 1))]) @ beta)))
    print("feature                                                      coef")
    for f, c in zip(FEATURES, beta[:-1]):
        print(f"  {f[:58]:58} {c:+.3f}")
    print(f"  {'bias':58} {beta[-1]:+.3f}")
    best, best_t = -9.0, 0.5
    for t in THRESHOLDS:
        cells, worst = [], 9.0
        for n in sorted(set(names)):
            m = names == n
            refused = float(np.mean(p[m & (y == 0)] < t))
            false = float(np.mean(p[m & (y == 1)] < t))
            cells.append(f"{n} {refused:.3f}/{false:.3f}")
            worst = min(worst, refused - 2 * false)
        print(f"threshold {t:.2f}: refused / false refusal  " + "  ".join(cells))
        if worst > best:
            best, best_t = worst, t
    print(f"kept threshold {best_t}")
    if args.write:
        model = {"features": list(FEATURES), "mean": mean.round(6).tolist(), "scale": scale.round(6).tolist(),
                 "coef": beta[:-1].round(6).tolist(), "bias": round(float(beta[-1]), 6), "threshold": best_t,
                 "trained_on": "dev halves of MultiHop-RAG, RealTime QA and benchmarks/questions/multihop-own.jsonl",
                 "command": "python benchmarks/fit_answerability.py --write"}
        MODEL_FILE.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_FILE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
