"""Calibrate the claim checker on MultiHop-RAG gold facts (dev split) against non-evidence sentences.

Positive pair: a claim restating a gold fact (its first two thirds of words, as a model's shorter
restatement would) cited to the fact's sentence. Negative pairs: the same claim cited to another
sentence of the same article (on topic, but not the evidence), and the claim with its names and
numbers swapped for others from the data set, cited to the true fact (the hallucination a small
model makes). Prints precision and recall of
"supported" at several thresholds and at the configured one.

Usage: python benchmarks/calibrate_checker.py ../shared/eval/multihop_rag [--pairs 600]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("--pairs", type=int, default=600)
    args = ap.parse_args()
    from rag.answer.llm import LLMConfig, support
    from rag.embedding import load_embedder
    from rag.text.sentences import split_sentences

    data = Path(args.data_dir)
    corpus = {d["url"]: d for d in json.loads((data / "corpus.json").read_text(encoding="utf-8"))}
    questions = json.loads((data / "MultiHopRAG.json").read_text(encoding="utf-8"))[::2]  # dev split
    rng = random.Random(0)
    pairs, pool = [], []
    for q in questions:
        for ev in q["evidence_list"]:
            doc = corpus.get(ev["url"])
            if not doc or len(pairs) >= args.pairs:
                continue
            body = doc["body"]
            others = [body[s:e] for s, e, c in split_sentences(body) if c and ev["fact"] not in body[s:e]
                      and len(body[s:e]) > 40]
            words = ev["fact"].split()
            if not others or len(words) < 8:
                continue
            claim = " ".join(words[: max(6, 2 * len(words) // 3)]) + "."
            pairs.append((claim, ev["fact"], True))
            pairs.append((claim, rng.choice(others), False))
            # The error small models make: the right sentence cited, a name or number swapped in.
            names = [i for i, w in enumerate(words[: max(6, 2 * len(words) // 3)]) if w[:1].isupper() and i or w[:1].isdigit()]
            if names and pool:
                wrong = list(words[: max(6, 2 * len(words) // 3)])
                for i in names:
                    wrong[i] = rng.choice(pool)
                pairs.append((" ".join(wrong) + ".", ev["fact"], False))
            pool.extend(w for w in words if w[:1].isupper() and len(w) > 3)
    emb = load_embedder()
    claims = emb.embed([p[0] for p in pairs])
    sources = emb.embed([p[1] for p in pairs])
    scores = np.array([support(c, [s], cv, sv[None, :]) for (c, s, _), cv, sv in zip(pairs, claims, sources)])
    gold = np.array([p[2] for p in pairs])
    configured = LLMConfig(url="-").min_support
    print(f"{len(pairs)} pairs ({gold.sum()} supported, {(~gold).sum()} not)")
    for t in sorted({0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, configured}):
        pred = scores >= t
        prec = (pred & gold).sum() / max(1, pred.sum())
        rec = (pred & gold).sum() / gold.sum()
        mark = "  <- configured" if t == configured else ""
        print(f"threshold {t:.2f}: precision {prec:.3f}, recall {rec:.3f}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
