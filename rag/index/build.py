"""The incremental build: new and changed documents are split, chunked and embedded; unchanged
ones keep their rows and vectors; the result is a new index version (`index.save`).

The caller holds the index's writer lock (`locking.writer_lock`) for the whole read-modify-write.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..records import Document
from ..retrieval.search import derive
from ..text.chunking import (
    DEFAULT_CHUNK_TOKENS,
    DEFAULT_OVERLAP_SENTENCES,
    chunk_sentences,
    split_long_counted,
)
from ..text.ingest import printable
from ..text.sentences import split_sentences
from . import files as index_io

# Bump when segmentation, chunking or the embedded text changes: stored vectors then go stale.
PIPELINE_VERSION = 5


@dataclass
class IndexReport:
    """What one indexing run did; the JSON of `rag index --json`."""

    documents: int = 0
    sentences: int = 0
    chunks: int = 0
    embedded: int = 0  # texts newly through the model in this run (sentences, by default)
    embedded_documents: int = 0
    skipped: int = 0  # unchanged documents whose vectors were reused
    removed: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)  # bad files left out (only with skip_bad)

    def to_json(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Pipeline:
    """How documents become sentences, chunks and vectors; an index built otherwise is rebuilt."""

    chunk_tokens: int = DEFAULT_CHUNK_TOKENS
    overlap: int = DEFAULT_OVERLAP_SENTENCES

    def settings(self) -> dict:
        # Each sentence embedded on its own (the one mode left; the key keeps old indexes current).
        return {"chunk_tokens": self.chunk_tokens, "overlap": self.overlap, "pipeline": PIPELINE_VERSION,
                "sentence_vectors": "own"}


def update(index_dir: Path, docs: list[Document], emb, pipeline: Pipeline, model_name: str | None = None,
           scope: list | None = None, rebuild: bool = False, progress: bool = False, errors: list[str] | None = None,
           t0: float | None = None, drop=frozenset()) -> tuple[index_io.IndexData, IndexReport]:
    """Add or replace `docs`, remove the documents whose files lie under `scope` but are not in
    `docs` and those whose ids are in `drop`, and save the result as a new version (none when
    nothing changed). Returns the version now current and what was done."""
    t0 = t0 if t0 is not None else time.perf_counter()
    old = None
    if not rebuild and index_io.exists(index_dir):
        old = index_io.load(index_dir, model=model_name)
        if old.model != (model_name or old.model):
            raise InputError(f"index was built with {old.model}; use --rebuild to change the model")
    missing = sorted(drop - {d.doc_id for d in (old.documents if old else [])})
    if missing:
        raise InputError(f"not in the index: {printable(missing[0])}"
                         + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "") + "; nothing was removed")
    model = old.model if old else (model_name or emb.name)
    settings = pipeline.settings()
    # Pipeline changed: every document, including those from other paths, is re-split and re-embedded.
    stale = bool(old and old.settings != settings)
    new_ids = {d.doc_id for d in docs}
    roots = [Path(p).resolve() for p in (scope or [])]

    def in_scope(d: Document) -> bool:
        if not d.path:
            return False
        p = Path(d.path).resolve()
        return any(p == r or r in p.parents for r in roots)

    report = IndexReport(errors=errors or [])
    kept: list[tuple[Document, int]] = []  # (document, row in old index) reused as is
    todo: list[Document] = []
    old_by_id = {d.doc_id: i for i, d in enumerate(old.documents)} if old else {}
    for d in docs:
        i = old_by_id.get(d.doc_id)
        if i is not None and old.documents[i].sha256 == d.sha256 and not stale:
            kept.append((d, i))
        else:
            todo.append(d)
    if old:
        for i, d in enumerate(old.documents):
            if d.doc_id in new_ids:
                continue
            if in_scope(d) or d.doc_id in drop:
                report.removed += 1
            elif stale:
                todo.append(d)
            else:
                kept.append((d, i))
    report.skipped = sum(1 for d, _ in kept if d.doc_id in new_ids)
    if old and not todo and not report.removed:
        data = old  # nothing changed: no new version written, readers keep theirs
    else:
        data = assemble(old, kept, todo, emb, model, pipeline, progress, report)
        data.derived = derive(data)  # what a search reads, saved with the tables
        index_io.save(index_dir, data)
    report.documents = len(data.documents)
    report.sentences = len(data.sentences)
    report.chunks = len(data.chunks)
    report.seconds = time.perf_counter() - t0
    return data, report



def assemble(old, kept, todo, emb, model, pipeline, progress, report) -> index_io.IndexData:
    """New tables: kept documents copy their rows and vectors, new ones are split and embedded."""
    data = index_io.IndexData.empty(model, emb.dim, pipeline.settings())
    data.next_id = old.next_id if old else 0
    sent_rows, chunk_rows, documents = [], [], []
    chunk_vecs, sent_vecs = [], []
    for d, i in kept:
        row = len(documents)
        documents.append(d)
        s_mask = old.sentence_view.doc == i
        offset = sum(len(x) for x in sent_rows) - int(np.flatnonzero(s_mask)[0]) if s_mask.any() else 0
        s = index_io.Sentences(old.sentences[s_mask].copy())
        s.doc[:] = row
        c = index_io.Chunks(old.chunks[old.chunk_view.doc == i].copy())
        c.doc[:] = row
        c.first[:] += offset
        c.last[:] += offset
        sent_rows.append(s.table)
        chunk_rows.append(c.table)
        chunk_vecs.append(old.chunk_store.get(c.id))
        sent_vecs.append(old.sentence_store.get(s.id[s.citable == 1]))
    texts_s: list[str] = []  # the citable sentences of the new documents, embedded each on its own
    members: list[list[int]] = []  # per new chunk: its sentences' positions in texts_s
    pending_c, pending_s = [], []
    for d in todo:
        row = len(documents)
        documents.append(d)
        base = sum(len(x) for x in sent_rows)
        spans, tokens = split_long_counted(d.text, split_sentences(d.text, d.title), pipeline.chunk_tokens)
        s = np.zeros((len(spans), 6), np.int64)
        for n, (start, end, citable) in enumerate(spans):
            s[n] = (data.next_id, row, n, start, end, int(citable))
            data.next_id += 1
        sent_rows.append(s)
        cit = [n for n, (_, _, c) in enumerate(spans) if c]
        cit_text = [d.text[spans[n][0]:spans[n][1]] for n in cit]
        # Chunk texts never go through the model (a chunk's vector is its sentences' mean): no
        # word-piece budget, only the chunk size in tiktoken tokens.
        spans_c = chunk_sentences([tokens[n] for n in cit], None, pipeline.chunk_tokens, None, pipeline.overlap)
        c = np.zeros((len(spans_c), 5), np.int64)
        k0 = len(texts_s)
        for j, sp in enumerate(spans_c):
            c[j] = (data.next_id, row, base + cit[sp.first], base + cit[sp.last], sp.tokens)
            data.next_id += 1
            members.append([k0 + m for m in range(sp.first, sp.last + 1)])
        chunk_rows.append(c)
        pending_c.append(index_io.Chunks(c).id)
        new = index_io.Sentences(s)
        pending_s.append(new.id[new.citable == 1])
        texts_s.extend(cit_text)
    if todo:
        cvecs, svecs, report.embedded = embed(emb, texts_s, members, progress)
        chunk_vecs.append(cvecs)
        sent_vecs.append(svecs)
        report.embedded_documents = len(todo)
    data.documents = documents
    data.sentences = np.vstack(sent_rows) if sent_rows else data.sentences
    data.chunks = np.vstack(chunk_rows) if chunk_rows else data.chunks
    kept_c = [index_io.Chunks(c).id for c in chunk_rows[: len(kept)]]
    order_c = np.concatenate(kept_c + pending_c) if (kept_c or pending_c) else np.zeros(0, np.int64)
    kept_s = [v.id[v.citable == 1] for v in map(index_io.Sentences, sent_rows[: len(kept)])]
    order_s = np.concatenate(kept_s + pending_s) if (kept_s or pending_s) else np.zeros(0, np.int64)
    if chunk_vecs:
        data.chunk_store.add(order_c, np.vstack(chunk_vecs))
        data.sentence_store.add(order_s, np.vstack(sent_vecs))
    return data

def embed(emb, texts_s: list[str], members: list[list[int]], progress: bool):
    """Chunk and sentence vectors, and how many texts the model read.

    Each sentence is embedded on its own, which is the text the model was trained on (sentence
    pairs): a clause of a question finds its paraphrase among sentences read alone far better
    than among sentences pooled from a 256-token chunk (MultiHop-RAG dev, BENCHMARKS.md). A
    chunk's vector is the normalised sum of its sentences', with no second model pass.
    """
    svecs = embed_sentences(emb, texts_s, progress)
    cvecs = np.zeros((len(members), emb.dim), np.float32)
    for j, mem in enumerate(members):
        v = svecs[mem].sum(0)
        cvecs[j] = v / max(float(np.linalg.norm(v)), 1e-9)
    return cvecs, svecs, len(texts_s)

def embed_sentences(emb, texts: list[str], progress: bool, block: int = 1024) -> np.ndarray:
    """Sentence vectors in blocks of similar length (padding stays small), with one progress bar
    counting sentences rather than the model's batches."""
    from tqdm.auto import tqdm

    out = np.zeros((len(texts), emb.dim), np.float32)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    with tqdm(total=len(texts), desc="Embedding", unit="sentence", disable=not progress) as bar:
        for b in range(0, len(order), block):
            idx = order[b:b + block]
            out[idx] = emb.embed([texts[i] for i in idx])
            bar.update(len(idx))
    return out
