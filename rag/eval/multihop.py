"""`rag eval multihop`: the MultiHop-RAG benchmark, measured the way its paper measures it.

Split: a question is dev when its 0-based position in MultiHopRAG.json is even, test when odd.
Retrieval metric (the upstream retrieval_evaluate.py): null questions are left out; spaces and
newlines are removed from chunks and gold facts; a retrieved chunk is relevant when a gold fact is
a substring of it. Hits@k, MRR@10 and MAP@10 follow that script's definitions.
"""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

K = 10


def _squash(text: str) -> str:
    return text.replace(" ", "").replace("\n", "")


def paper_metrics(retrieved: list[str], gold: list[str]) -> dict:
    """Hits@4/10, MRR@10, MAP@10 of one question, as the upstream script computes them."""
    gold = [_squash(g) for g in gold]
    retrieved = [_squash(r) for r in retrieved[:K]]
    first, ap_sum, found = None, 0.0, []
    for rank, chunk in enumerate(retrieved, start=1):
        if any(g in chunk for g in gold):
            first = first or rank
            new = [g for g in gold if g in chunk and g not in found]
            found += new
            ap_sum += len(new) / rank
    return {
        "hits@10": float(first is not None),
        "hits@4": float(first is not None and first <= 4),
        "mrr@10": 1.0 / first if first else 0.0,
        "map@10": ap_sum / min(len(gold), K),
    }


def evidence_metrics(retrieved: list[str], gold: list[str]) -> dict:
    """Share of a question's distinct gold facts in its top 10 chunks, and whether all are."""
    facts = list(dict.fromkeys(_squash(g) for g in gold))
    chunks = [_squash(r) for r in retrieved[:K]]
    got = sum(1 for f in facts if any(f in c for c in chunks))
    return {"evidence_recall@10": got / len(facts), "all_evidence@10": float(got == len(facts))}


def _norm(text: str) -> str:
    return re.sub(r"\W+", "", text.lower())


def citation_hit(sentences: list[str], gold: list[str]) -> float:
    """1 when one of the cited sentences matches or overlaps a gold fact."""
    facts = [_norm(g) for g in gold]
    for s in sentences:
        n = _norm(s)
        if len(n) < 20:
            continue
        if any(n in f or f in n or _overlap(n, f) for f in facts):
            return 1.0
    return 0.0


def _overlap(a: str, b: str, min_chars: int = 40) -> bool:
    """A shared stretch of at least `min_chars` (a fact split differently into sentences)."""
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    step = max(1, min_chars // 2)
    return any(short[i:i + min_chars] in long_ for i in range(0, max(1, len(short) - min_chars + 1), step))


@dataclass
class Question:
    position: int
    query: str
    answer: str
    qtype: str
    facts: list[str]
    outlets: list[str]


def load_questions(data_dir: Path, split: str, limit: int | None = None) -> list[Question]:
    path = Path(data_dir) / "MultiHopRAG.json"
    if not path.is_file():
        raise InputError(f"{path}: not found; DATA_DIR must hold MultiHop-RAG's corpus.json and MultiHopRAG.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for i, q in enumerate(raw):
        if split == "dev" and i % 2 or split == "test" and not i % 2:
            continue
        facts = [e["fact"] for e in q.get("evidence_list", [])]
        out.append(Question(i, q["query"], q.get("answer", ""), q["question_type"], facts,
                            sorted({e["source"] for e in q.get("evidence_list", [])})))
    return out[:limit] if limit else out


def _mean(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if key in r]
    return round(float(np.mean(vals)), 4) if vals else float("nan")


def evaluate(engine, questions: list[Question], metadata: bool = True, progress: bool = True) -> dict:
    """Run every question through retrieval and the extractive answer; aggregate the figures."""
    from tqdm.auto import tqdm

    engine.settings.metadata = metadata
    retr = engine.retriever
    data = engine.load()
    sources_in_corpus = {d.source.lower() for d in data.documents if d.source}
    rows, latencies = [], []
    for q in tqdm(questions, desc="questions" + ("" if metadata else " (no metadata)"), disable=not progress):
        t0 = time.perf_counter()
        ret = engine.retrieve(q.query, top_k=3)
        latencies.append((time.perf_counter() - t0) * 1000)
        chunks = [retr.chunk_text[h.row] for h in ret.chunks]
        row = {"type": q.qtype, "found": ret.found}
        if q.qtype == "null_query":
            names_present = any(s in q.query.lower() for s in sources_in_corpus)
            row.update(refused=float(not ret.found), names_present_outlet=names_present)
        else:
            row.update(paper_metrics(chunks, q.facts), **evidence_metrics(chunks, q.facts))
            row["citation_hit@3"] = citation_hit([retr.sentence_text[h.row] for h in ret.sentences[:3]], q.facts) \
                if ret.found else 0.0
            row["false_refusal"] = float(not ret.found)
        rows.append(row)
    answerable = [r for r in rows if r["type"] != "null_query"]
    nulls = [r for r in rows if r["type"] == "null_query"]
    present = [r for r in nulls if r["names_present_outlet"]]
    out = {k: _mean(answerable, k) for k in ("hits@4", "hits@10", "mrr@10", "map@10", "citation_hit@3",
                                             "evidence_recall@10", "all_evidence@10", "false_refusal")}
    out["null_refusal"] = _mean(nulls, "refused")
    out["null_refusal_outlet_in_corpus"] = _mean(present, "refused")
    out["null_questions_outlet_in_corpus"] = len(present)
    out["by_type"] = {}
    for qtype in sorted({r["type"] for r in answerable}):
        sub = [r for r in answerable if r["type"] == qtype]
        out["by_type"][qtype] = {k: _mean(sub, k) for k in ("hits@4", "hits@10", "mrr@10", "evidence_recall@10",
                                                              "all_evidence@10", "citation_hit@3")}
        out["by_type"][qtype]["queries"] = len(sub)
    out["latency_ms"] = {"p50": round(float(np.percentile(latencies, 50)), 1),
                         "p95": round(float(np.percentile(latencies, 95)), 1)}
    out["queries"] = {"total": len(rows), "answerable": len(answerable), "null": len(nulls)}
    out["_latencies"] = latencies
    return out


def evaluate_answers(engine, questions: list[Question]) -> dict:
    """Generative answers through engine.llm: accuracy, claims kept by the checker, timings.

    Accuracy: the benchmark's answer appears in ours (case-insensitive); a null question is right
    when refused.
    """
    from tqdm.auto import tqdm

    right, claims, kept, fallback, ttft, total = 0, 0, 0, 0, [], []
    for q in tqdm(questions, desc="LLM answers"):
        engine.llm_stats = {}
        t0 = time.perf_counter()
        a = engine.ask(q.query)
        total.append(time.perf_counter() - t0)
        if "first_token_s" in engine.llm_stats:
            ttft.append(engine.llm_stats["first_token_s"])
        right += (not a.found) if q.qtype == "null_query" else q.answer.lower() in a.answer.lower()
        claims += len(a.claims or [])
        kept += sum(c["supported"] for c in a.claims or [])
        fallback += a.found and a.mode == "extractive"
    return {"questions": len(questions), "answer_accuracy": round(right / max(1, len(questions)), 4),
            "claims": claims, "claims_supported": kept, "claims_supported_share": round(kept / max(1, claims), 4),
            "extractive_fallbacks": int(fallback),
            "first_token_s_p50": round(float(np.percentile(ttft, 50)), 2) if ttft else None,
            "total_s_p50": round(float(np.percentile(total, 50)), 2) if total else None,
            "total_s_p95": round(float(np.percentile(total, 95)), 2) if total else None}


def chart(result: dict, path: Path) -> None:
    """Metrics by question type and the latency distribution, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    types = list(result["by_type"])
    keys = ["hits@10", "hits@4", "mrr@10", "evidence_recall@10", "all_evidence@10"]
    width = 0.8 / len(keys)
    for i, k in enumerate(keys):
        ax1.bar(np.arange(len(types)) + i * width, [result["by_type"][t][k] for t in types], width, label=k)
    ax1.set_xticks(np.arange(len(types)) + 0.4 - width / 2, [t.replace("_query", "") for t in types])
    ax1.set_ylim(0, 1.18)  # room above the bars for the legend
    ax1.set_yticks(np.linspace(0, 1, 6))
    ax1.set_title(f"MultiHop-RAG {result['split']} split: retrieval by question type")
    ax1.legend(fontsize=8, loc="upper center", ncol=3)
    ax2.hist(result["_latencies"], bins=40, color="#4a7")
    ax2.set_title(f"query latency (p50 {result['latency_ms']['p50']} ms, p95 {result['latency_ms']['p95']} ms)")
    ax2.set_xlabel("ms")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(data_dir: str | Path, split: str = "test", limit: int | None = None, index: str | Path | None = None,
        model: str | None = None, reranker: str | None = None, reader: str | None = None, metadata: bool = True,
        llm=None, llm_limit: int = 40, json_out: str | Path | None = None) -> int:
    """Index the corpus (reusing a current cached index), run the split, print and save the figures."""
    from ..engine import Engine

    data_dir = Path(data_dir)
    corpus = data_dir / "corpus.json"
    if not corpus.is_file():
        raise InputError(f"{corpus}: not found; DATA_DIR must hold MultiHop-RAG's corpus.json and MultiHopRAG.json")
    questions = load_questions(data_dir, split, limit)
    index_dir = Path(index or ".cache/multihop-index")
    engine = Engine(index_dir, model=model, reranker=reranker, reader=reader)
    report = engine.index([corpus], progress=sys.stderr.isatty())
    print(f"index: {report.documents} articles, {report.chunks} chunks in {index_dir}/ "
          f"({report.seconds:.1f} s, {report.embedded_documents} embedded)", file=sys.stderr)
    configs = [True, False] if metadata else [False]
    results = {m: evaluate(engine, questions, metadata=m) for m in configs}
    main = results[configs[0]]
    out = {k: v for k, v in main.items() if not k.startswith("_")}
    if len(configs) == 2:
        out["no_metadata"] = {k: v for k, v in results[False].items() if not k.startswith("_")}
    chunks = engine.load().chunk_view
    out.update(split=split, metadata=metadata, index_seconds=round(report.seconds, 1),
               chunk_tokens_max=int(chunks.tokens.max()) if len(chunks) else 0,
               config={"model": engine.load().model, "reranker": getattr(engine.reranker, "name", None),
                       "chunk_tokens": engine.chunk_tokens, "overlap": engine.overlap,
                       **{k: v for k, v in engine.settings.__dict__.items() if k != "metadata"},
                       "refusal": engine.policy.__dict__})
    if llm is not None:
        engine.llm = llm
        engine.settings.metadata = metadata
        out["llm"] = {"url": llm.url, "model": llm.model,
                      **evaluate_answers(engine, questions[:llm_limit])}
    _print_table(out)
    if json_out:
        Path(json_out).write_text(json.dumps(out, indent=2), encoding="utf-8")
        png = Path(json_out).with_suffix(".png")
        chart({**main, "split": split}, png)
        print(f"wrote {json_out} and {png}", file=sys.stderr)
    return 0


def _print_table(out: dict) -> None:
    keys = ["hits@10", "hits@4", "mrr@10", "map@10", "evidence_recall@10", "all_evidence@10", "citation_hit@3",
            "null_refusal", "null_refusal_outlet_in_corpus", "false_refusal"]
    other = out.get("no_metadata")
    print(f"{'metric':32} {'default':>9}" + (f" {'no-metadata':>12}" if other else ""))
    for k in keys:
        print(f"{k:32} {out[k]:>9.4f}" + (f" {other[k]:>12.4f}" if other else ""))
    lat = out["latency_ms"]
    print(f"{'latency p50 / p95 (ms)':32} {lat['p50']:>4} / {lat['p95']}")
    print(f"queries: {out['queries']}")
    if "llm" in out:
        print(f"LLM answers: {out['llm']}")
