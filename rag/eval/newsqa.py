"""`rag eval realtimeqa | jsonl`: cited answers scored as a reader would, beside two plain baselines.

Every run scores three systems on the same questions over the same articles:

- **product**: `Engine.ask`, its answer text and its citations;
- **dense**: the pipeline a user builds in an afternoon: each article cut into 256-token (cl100k)
  windows, each window embedded whole with the same model, FAISS inner-product search, then the
  best sentences of the best windows by cosine with the question;
- **bm25**: BM25 over the same windows, then the best sentences of the best windows by BM25.

A baseline never refuses; its "answer" is its top sentence. Per question and system:
`answer@1` / `answer@3` (an accepted answer string, folded, in the first 1 / 3 cited sentences; for
a question with no answer string, a gold evidence sentence instead), `article@3` (a document
holding the answer among the first 3 citations), `answer_text` (the answer text itself contains
an accepted answer), `evidence@3` (share of gold evidence sentences cited in the first 3),
refusals of unanswerable questions and false refusals of answerable ones, latency.

Datasets are one JSONL format (`load_jsonl`), with adapters for RealTime QA and MultiHop-RAG.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..text.words import fold

WINDOW_TOKENS = 256
BASELINE_WINDOWS = 5  # windows whose sentences a baseline ranks


@dataclass
class QA:
    """One question of any dataset, in the shape every scorer reads."""

    id: str
    question: str
    answers: list[str] = field(default_factory=list)  # accepted answer strings; empty: score by evidence
    evidence: list[str] = field(default_factory=list)  # gold evidence sentences or facts, when known
    doc_ids: list[str] = field(default_factory=list)  # dataset ids of the records that hold the answer
    unanswerable: bool = False
    qtype: str = ""


def contains_answer(text: str, answers: list[str]) -> bool:
    t = f" {fold(text)} "
    return any(f" {fold(a)} " in t for a in answers if fold(a))


def _evidence_hit(sentence: str, facts: list[str]) -> bool:
    from .multihop import citation_hit

    return bool(citation_hit([sentence], facts))


# -- datasets ----------------------------------------------------------------------------------
def load_jsonl(path: Path, split: str = "all", limit: int | None = None) -> list[QA]:
    """Questions in the generic format, one JSON object per line:
    {"id", "question", "answers": [...], "evidence": [...], "doc_ids": [...], "unanswerable", "qtype"}.
    Split by line number counting from 1: dev = even lines, test = odd lines."""
    out = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip() or split == "dev" and n % 2 or split == "test" and not n % 2:
            continue
        try:
            r = json.loads(line)
            out.append(QA(str(r.get("id", n)), r["question"], list(r.get("answers") or []),
                          list(r.get("evidence") or []),
                          [str(d) for d in r.get("doc_ids") or r.get("answer_doc_ids") or []],
                          bool(r.get("unanswerable")), str(r.get("qtype", ""))))
        except (ValueError, KeyError, TypeError):
            raise InputError(f"{path}: line {n} is not a question record (needs at least \"question\")") from None
    return out[:limit] if limit else out


def load_realtimeqa(data_dir: Path, split: str, limit: int | None = None) -> tuple[list[QA], Path]:
    """RealTime QA 2022-2024 (`../shared/eval/realtimeqa`): questions.jsonl and corpus.jsonl."""
    data_dir = Path(data_dir)
    questions, corpus = data_dir / "questions.jsonl", data_dir / "corpus.jsonl"
    if not questions.is_file() or not corpus.is_file():
        raise InputError(f"{data_dir}: needs RealTime QA's questions.jsonl and corpus.jsonl")
    return load_jsonl(questions, split, limit), corpus


def load_multihop(data_dir: Path, split: str, limit: int | None = None) -> tuple[list[QA], Path]:
    """MultiHop-RAG (`../shared/eval/multihop_rag`) as cited-answer questions: the accepted answer
    when it is a string a sentence can hold, else (yes/no, comparisons) scored by gold evidence;
    null queries are unanswerable. Records are identified by title. Dev = even positions."""
    data_dir = Path(data_dir)
    questions, corpus = data_dir / "MultiHopRAG.json", data_dir / "corpus.json"
    if not questions.is_file() or not corpus.is_file():
        raise InputError(f"{data_dir}: needs MultiHop-RAG's MultiHopRAG.json and corpus.json")
    out = []
    for i, q in enumerate(json.loads(questions.read_text(encoding="utf-8"))):
        if split == "dev" and i % 2 or split == "test" and not i % 2:
            continue
        facts = [e["fact"] for e in q.get("evidence_list", [])]
        null = q["question_type"] == "null_query"
        answer = str(q.get("answer", ""))
        # An answer counts as a string only when a gold fact spells it out.
        as_string = not null and fold(answer) not in ("yes", "no", "") and any(
            f" {fold(answer)} " in f" {fold(f)} " for f in facts)
        out.append(QA(f"multihop-{i}", q["query"], [answer] if as_string else [], facts,
                      sorted({e["title"] for e in q.get("evidence_list", [])}), null, q["question_type"]))
    return (out[:limit] if limit else out), corpus


def record_ids(corpus: Path) -> list[str]:
    """The dataset id of each record of a corpus file, in order (record i is document `path#i`):
    its "id", else its title (a JSON array of records, as MultiHop-RAG's corpus.json, or JSONL)."""
    text = corpus.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        records = json.loads(text)
    else:
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [str(r.get("id", r.get("title", n))) for n, r in enumerate(records)]


# -- baselines ---------------------------------------------------------------------------------
class Baselines:
    """Plain dense and plain BM25 retrieval over 256-token windows of the indexed articles."""

    def __init__(self, data, embedder, cache: Path | None = None):
        import bm25s
        import faiss

        from ..text.chunking import _encoding

        enc = _encoding()
        self.embedder = embedder
        self.data = data
        docs, sents = data.documents, data.sentence_view
        self.sentence_text = [docs[d].text[s:e] for d, s, e in zip(sents.doc, sents.start, sents.end)]
        # Windows: fixed runs of 256 tokens of each article, as a plain pipeline cuts them.
        self.windows: list[tuple[int, int, int]] = []  # (doc row, start char, end char)
        for row, d in enumerate(docs):
            _, offsets = enc.decode_with_offsets(enc.encode_ordinary(d.text))  # each token's first character
            starts = offsets[::WINDOW_TOKENS] or [0]
            self.windows += [(row, a, b) for a, b in zip(starts, starts[1:] + [len(d.text)])]
        texts = [docs[r].text[a:b] for r, a, b in self.windows]
        # Each window's citable sentences (those that start inside it).
        citable = np.flatnonzero(sents.citable == 1)
        by_doc: dict[int, list[int]] = {}
        for i in citable:
            by_doc.setdefault(int(sents.doc[i]), []).append(int(i))
        self.window_sentences = [[i for i in by_doc.get(r, []) if a <= sents.start[i] < b] for r, a, b in self.windows]
        key = f"{data.version}-{len(texts)}-{embedder.name.replace('/', '_')}.npy"
        path = cache / f"dense-windows-{key}" if cache else None
        if path and path.is_file():
            vecs = np.load(path, allow_pickle=False)
        else:
            vecs = embedder.embed(texts, progress=sys.stderr.isatty()).astype(np.float32)
            if path:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, vecs, allow_pickle=False)
        self.index = faiss.IndexFlatIP(vecs.shape[1])
        self.index.add(vecs)
        # Sentence vectors: the index's own (each citable sentence embedded alone, the same model).
        ids = sents.id[citable]
        svecs = data.sentence_store.get(ids)
        self.sentence_vec = {int(i): v for i, v in zip(citable, svecs)}
        self.bm25 = bm25s.BM25()
        self.bm25.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
        self.sbm25 = bm25s.BM25()
        self.sbm25.index(bm25s.tokenize([self.sentence_text[i] for i in citable], stopwords="en",
                                        show_progress=False), show_progress=False)
        self._srow = {int(i): n for n, i in enumerate(citable)}

    def dense(self, question: str, k: int = 3) -> list[int]:
        """Sentence rows: the best sentences by cosine among the best windows by cosine."""
        q = self.embedder.embed([question])[0].astype(np.float32)
        _, top = self.index.search(q[None, :], BASELINE_WINDOWS)
        pool = [s for w in top[0] if w >= 0 for s in self.window_sentences[w]]
        pool = list(dict.fromkeys(pool))
        scored = sorted(pool, key=lambda s: -float(self.sentence_vec[s] @ q))
        return scored[:k]

    def lexical(self, question: str, k: int = 3) -> list[int]:
        """Sentence rows: the best sentences by BM25 among the best windows by BM25."""
        import bm25s

        qt = bm25s.tokenize([question], stopwords="en", show_progress=False)
        if not qt.vocab:
            return []
        words = list(qt.vocab)
        wins, _ = self.bm25.retrieve(qt, k=min(BASELINE_WINDOWS, len(self.windows)), show_progress=False)
        pool = list(dict.fromkeys(s for w in wins[0] for s in self.window_sentences[int(w)]))
        scores = self.sbm25.get_scores(words)
        return sorted(pool, key=lambda s: -float(scores[self._srow[s]]))[:k]


# -- scoring -----------------------------------------------------------------------------------
def score(q: QA, answer_text: str, found: bool, cited: list[tuple[str, str]], doc_of: dict[str, str]) -> dict:
    """One question's figures. `cited`: (doc_id in the index, sentence) strongest first."""
    if q.unanswerable:
        return {"refused": float(not found)}
    top = cited[:3]
    if q.answers:
        hit1 = bool(top[:1]) and contains_answer(top[0][1], q.answers)
        hit3 = any(contains_answer(s, q.answers) for _, s in top)
        text = contains_answer(answer_text, q.answers) if found else False
    else:  # yes/no and comparison answers are not strings a sentence holds: gold evidence instead
        hit1 = bool(top[:1]) and _evidence_hit(top[0][1], q.evidence)
        hit3 = any(_evidence_hit(s, q.evidence) for _, s in top)
        text = hit1 if found else False
    row = {"answer@1": float(hit1), "answer@3": float(hit3), "answer_text": float(text),
           "false_refusal": float(not found)}
    if q.doc_ids:
        row["article@3"] = float(any(doc_of.get(d) in q.doc_ids for d, _ in top))
    if q.evidence:
        got = sum(1 for f in q.evidence if any(_evidence_hit(s, [f]) for _, s in top))
        row["evidence@3"] = got / len(q.evidence)
    return row


METRICS = ("answer@1", "answer@3", "article@3", "answer_text", "evidence@3", "refused", "false_refusal")


def aggregate(rows: list[dict], latencies: list[float]) -> dict:
    out = {}
    for k in METRICS:
        vals = [r[k] for r in rows if k in r]
        if vals:
            out[k] = round(float(np.mean(vals)), 4)
    out["latency_ms"] = {"p50": round(float(np.percentile(latencies, 50)), 1),
                         "p95": round(float(np.percentile(latencies, 95)), 1)}
    return out


def evaluate(engine, questions: list[QA], doc_of: dict[str, str], baselines: Baselines | None,
             progress: bool = True) -> dict:
    """Every question through the product and both baselines; the figures of each."""
    from tqdm.auto import tqdm

    r = engine.retriever
    data = r.data
    systems = {"product": ([], []), "dense": ([], []), "bm25": ([], [])}
    for q in tqdm(questions, desc="questions", disable=not progress):
        t0 = time.perf_counter()
        a = engine.ask(q.question)
        systems["product"][1].append((time.perf_counter() - t0) * 1000)
        systems["product"][0].append(score(q, a.answer, a.found, [(c.doc_id, c.sentence) for c in a.citations],
                                           doc_of))
        if baselines is None:
            continue
        for name, fn in (("dense", baselines.dense), ("bm25", baselines.lexical)):
            t0 = time.perf_counter()
            rows = fn(q.question)
            systems[name][1].append((time.perf_counter() - t0) * 1000)
            cited = [(data.sentence(s).document.doc_id, baselines.sentence_text[s]) for s in rows]
            systems[name][0].append(score(q, cited[0][1] if cited else "", True, cited, doc_of))
    out = {name: aggregate(rows, lat) for name, (rows, lat) in systems.items() if rows}
    out["queries"] = {"total": len(questions), "answerable": sum(not q.unanswerable for q in questions),
                      "unanswerable": sum(q.unanswerable for q in questions)}
    return out


def print_table(out: dict, title: str) -> None:
    systems = [s for s in ("product", "dense", "bm25") if s in out]
    print(title)
    print(f"{'metric':16}" + "".join(f"{s:>10}" for s in systems))
    for k in METRICS:
        if any(k in out[s] for s in systems):
            print(f"{k:16}" + "".join(f"{out[s][k]:>10.4f}" if k in out[s] else f"{'-':>10}" for s in systems))
    print(f"{'p50 / p95 ms':16}" + "".join(f"{out[s]['latency_ms']['p50']:>5}/{out[s]['latency_ms']['p95']:<4}"
                                           for s in systems))
    print(f"queries: {out['queries']}")


def chart(out: dict, title: str, path: Path) -> None:
    """The product beside both baselines, one group of bars per figure, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = [s for s in ("product", "dense", "bm25") if s in out]
    keys = [k for k in METRICS if any(k in out[s] for s in systems)]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / len(systems)
    for i, s in enumerate(systems):
        ax.bar(np.arange(len(keys)) + i * width, [out[s].get(k, 0) for k in keys], width, label=s)
    ax.set_xticks(np.arange(len(keys)) + 0.4 - width / 2, keys)
    ax.set_ylim(0, 1.15)
    ax.set_title(title)
    ax.legend(loc="upper center", ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(benchmark: str, data_dir: str | Path, split: str = "test", limit: int | None = None,
        corpus: str | Path | None = None, index: str | Path | None = None, model: str | None = None,
        reranker: str | None = None, reader: str | None = None, baselines: bool = True,
        json_out: str | Path | None = None) -> int:
    """Index the corpus (a cached index is reused when current), score the split, print and save."""
    from ..engine import Engine

    if benchmark == "realtimeqa":
        questions, corpus = load_realtimeqa(Path(data_dir), split, limit)
    elif benchmark == "multihop-qa":
        questions, corpus = load_multihop(Path(data_dir), split, limit)
    else:
        if not corpus:
            raise InputError("rag eval jsonl needs --corpus FILE (the articles, as .jsonl records with an \"id\")")
        questions, corpus = load_jsonl(Path(data_dir), split, limit), Path(corpus)
    name = {"multihop-qa": "multihop"}.get(benchmark, benchmark)
    index_dir = Path(index or f".cache/{name}-index")
    engine = Engine(index_dir, model=model, reranker=reranker, reader=reader)
    report = engine.index([corpus], progress=sys.stderr.isatty())
    print(f"index: {report.documents} articles, {report.chunks} chunks in {index_dir}/ "
          f"({report.seconds:.1f} s, {report.embedded_documents} embedded)", file=sys.stderr)
    data = engine.load()
    ids = record_ids(corpus)
    doc_of = {d.doc_id: ids[int(d.doc_id.rsplit("#", 1)[1])] for d in data.documents if "#" in d.doc_id}
    # The dense baseline's window vectors are cached beside the index (keyed by its version).
    beside = Baselines(data, engine.embedder, index_dir.parent) if baselines else None
    out = evaluate(engine, questions, doc_of, beside, progress=sys.stderr.isatty())
    out.update(dataset=benchmark, split=split, index_seconds=round(report.seconds, 1))
    title = f"{benchmark} {split} split ({out['queries']['total']} questions)"
    print_table(out, title)
    if json_out:
        Path(json_out).write_text(json.dumps(out, indent=2), encoding="utf-8")
        png = Path(json_out).with_suffix(".png")
        chart(out, title, png)
        print(f"wrote {json_out} and {png}", file=sys.stderr)
    return 0
