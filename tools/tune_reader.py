"""Tune the reader's weight, its refusal threshold and how many sentences an answer cites, on the
dev questions held out of the reader's training (tools/train_reader.py), every dataset at once.

    python tools/tune_reader.py [--reader DIR]   # default .cache/reader/model

Each question is retrieved once with the reader's logits recorded beside the sentence scores; the
settings are then replayed over those records (the same steps as Engine.retrieve and compose,
without the stated lead, which changes no cited sentence). Prints one row per setting and dataset.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

SHARED = ROOT.parent / "shared" / "eval"


def records(engine, questions) -> list[dict]:
    from rag.answer.extractive import covers
    from rag.engine import hits_text

    r = engine.retriever
    s = engine.settings
    out = []
    for q in questions:
        query = r.query(q.question)
        hits = r.search(query, k=10)
        top = r.sentences(query, hits, k=s.reader_depth)
        data = r.data
        rule = covers(q.question, top[:5], hits_text(r, hits), engine.policy)
        out.append({"q": q, "rows": [h.row for h in top], "base": np.array([h.score - s.reader_weight * h.reader
                                                                            for h in top]),
                    "logit": np.array([h.reader for h in top]), "rule": rule,
                    "text": [r.sentence_text[h.row] for h in top],
                    "doc": [data.documents[data.sentence_view.doc[h.row]].doc_id for h in top]})
    return out


def replay(recs, doc_of, w: float, threshold: float, support: float, cite: int, mode: str) -> dict:
    from rag.eval.newsqa import aggregate, score

    rows = []
    for rec in recs:
        if not len(rec["rows"]):
            rows.append(score(rec["q"], "", False, [], doc_of))
            continue
        total = rec["base"] + w * rec["logit"]
        order = np.argsort(-total, kind="stable")[:5]
        best = float(rec["logit"][order].max())
        found = {"reader": best >= threshold, "rule": rec["rule"], "and": rec["rule"] and best >= threshold,
                 "or": rec["rule"] or best >= threshold}[mode]
        top = list(order)
        if total[top[0]] > 0:
            top = [i for i in top if total[i] >= 0.5 * total[top[0]]]
        pool = top[:1] + [i for i in top[1:cite] if rec["logit"][i] >= support]
        text = " ".join(rec["text"][i] for i in pool)
        rows.append(score(rec["q"], text, found, [(rec["doc"][i], rec["text"][i]) for i in pool], doc_of))
    return aggregate(rows, [0.0])


def main() -> None:
    from train_reader import held_out

    from rag.engine import Engine
    from rag.eval.newsqa import load_multihop, load_realtimeqa, record_ids
    from rag.retrieval.reader import Reader

    p = argparse.ArgumentParser()
    p.add_argument("--reader", default=str(ROOT / ".cache" / "reader" / "model"), help="a trained reader's directory")
    p.add_argument("--all-dev", action="store_true", help="every dev question, not only the held-out ones")
    args = p.parse_args()
    reader = Reader(args.reader)
    sets = {}
    for name, (qs, corpus), idx in (
            ("realtimeqa", load_realtimeqa(SHARED / "realtimeqa", "dev"), ".cache/realtimeqa-index"),
            ("multihop", load_multihop(SHARED / "multihop_rag", "dev"), ".cache/multihop-index")):
        engine = Engine(ROOT / idx, reader=reader)
        qs = [q for q in qs if args.all_dev or held_out(q.question)]
        ids = record_ids(corpus)
        data = engine.load()
        doc_of = {d.doc_id: ids[int(d.doc_id.rsplit("#", 1)[1])] for d in data.documents if "#" in d.doc_id}
        sets[name] = (records(engine, qs), doc_of)
        print(f"{name}: {len(qs)} held-out dev questions", file=sys.stderr)
    keys = ("answer@1", "answer@3", "article@3", "answer_text", "refused", "false_refusal")
    print("mode   w     thr   sup  cite | " + " | ".join(f"{n[:8]:8} " + " ".join(k[:7] for k in keys) for n in sets))
    grid = [("rule", w, 0.0, sp, c) for w, sp, c in itertools.product((0.0, 0.1, 0.2, 0.4, 1.0), (-1.0, 0.0, 1.0),
                                                                       (2, 3))] + [
        (m, w, t, sp, c) for m, w, t, sp, c in itertools.product(
            ("reader", "and", "or"), (0.0, 0.1, 0.2, 0.4, 1.0), (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0), (-1.0, 0.0, 1.0),
            (2, 3))]
    for mode, w, t, sp, c in grid:
        cells = []
        for name, (recs, doc_of) in sets.items():
            out = replay(recs, doc_of, w, t, sp, c, mode)
            cells.append(" ".join(f"{out.get(k, math.nan):7.3f}" for k in keys))
        print(f"{mode:6} {w:<5} {t:<5} {sp:<4} {c:<4} | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
