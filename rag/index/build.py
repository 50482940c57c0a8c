"""The incremental build: new and changed documents are split, chunked and embedded; unchanged
ones keep their rows and vectors; the result is a new index version (`index.save`).

It streams: the tables are made first, then the vectors, typicalities and lexicon are written a
batch of documents at a time into a scratch directory inside the index, which the new version's
files link to; nothing holds the whole corpus's vectors or terms.

The caller holds the index's writer lock (`locking.writer_lock`) for the whole read-modify-write.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..records import Document
from ..retrieval.dense import lead_text, sentence_typicality
from ..retrieval.lexical import LexiconBuilder
from ..retrieval.search import Settings, derive, lacks_leads, load_leads
from ..text.chunking import (
    DEFAULT_CHUNK_TOKENS,
    DEFAULT_OVERLAP_SENTENCES,
    chunk_sentences,
    split_long_counted,
)
from ..text.ingest import printable
from ..text.sentences import split_sentences
from ..text.words import terms
from . import files as index_io
from .arrays import Spill
from .vectors import ANN_MIN, FaissStore, FlatWriter

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
    # An index saved before articles had lead vectors gets them (its other vectors kept) on its next update.
    if old and not todo and not report.removed and not lacks_leads(old):
        data = old  # nothing changed: no new version written, readers keep theirs
    else:
        with index_io.staging(index_dir) as staging:
            data = assemble(old, kept, todo, emb, model, pipeline, progress, report, staging)
            # The version's files are links to those in `staging`: the stores read on after it is gone.
            index_io.save(index_dir, data)
    report.documents = len(data.documents)
    report.sentences = len(data.sentences)
    report.chunks = len(data.chunks)
    report.seconds = time.perf_counter() - t0
    return data, report



BATCH_SENTENCES = 32_768  # sentences embedded, tokenised and written together: what a build holds at once


@dataclass
class _Part:
    """One document's rows in the new version, and where its kept vectors are in the old one."""

    doc: Document
    sentences: index_io.Sentences  # its rows of the new sentence table
    chunks: index_io.Chunks  # its rows of the new chunk table
    base: int  # its first sentence's row in the new table
    old_ids: tuple = ()  # when its vectors are kept: (citable sentence ids, chunk ids) in the old stores
    old_row: int = -1  # then its row in the old version's documents

    @property
    def citable(self) -> np.ndarray:
        return np.flatnonzero(self.sentences.citable == 1)

    def texts(self) -> list[str]:
        s, text, cit = self.sentences, self.doc.text, self.citable
        return [text[a:b] for a, b in zip(s.start[cit].tolist(), s.end[cit].tolist())]

    def members(self) -> list[tuple[int, int]]:
        """Each chunk's sentences as a range of places among the citable ones."""
        cit = self.citable + self.base
        lo, hi = np.searchsorted(cit, self.chunks.first), np.searchsorted(cit, self.chunks.last, side="right")
        return list(zip(lo.tolist(), hi.tolist()))


class _Writer:
    """The new version's vectors, typicalities and lexicon, written a batch of documents at a time
    into `staging` (a directory beside the index, so the version can link the files): a build
    holds one batch's texts, vectors and terms, and for the whole corpus only the tables' rows
    (48 bytes a sentence, 40 a chunk), the documents it was given and the vocabulary."""

    def __init__(self, staging: Path, emb, old, report: IndexReport, bar):
        settings = Settings()
        self.staging, self.emb, self.old, self.report, self.bar = staging, emb, old, report, bar
        self.sentence_file = FlatWriter(staging / "sentences.faiss", emb.dim)
        self.chunk_file = FlatWriter(staging / "chunks.faiss", emb.dim)
        (staging / "lexicon").mkdir()
        self.lexicon = LexiconBuilder(staging / "lexicon", settings.bm25_k1, settings.bm25_b)
        self.typicality = Spill(staging / "typicality", np.float32)
        # Each article's lead vector (dense.lead_text): a kept article keeps its own, unless the old
        # version has none (made before they were saved), when every article's is embedded now.
        self.leads = Spill(staging / "leads", np.float32)
        self.old_leads = load_leads(old.path, len(old.documents), emb.dim) if old is not None and old.path else None
        self.parts: list[_Part] = []
        self.pending = 0

    def add(self, part: _Part) -> None:
        self.parts.append(part)
        self.pending += len(part.citable)
        if self.pending >= BATCH_SENTENCES:
            self.flush()

    def flush(self) -> None:
        parts, self.parts, self.pending = self.parts, [], 0
        if not parts:
            return
        texts = [p.texts() for p in parts]
        new = [t for p, ts in zip(parts, texts) if not p.old_ids for t in ts]
        fresh = embed_sentences(self.emb, new, self.bar)
        self.report.embedded += len(new)
        s_vecs, sentence_terms, chunk_terms, at = [], [], [], 0
        for p, ts in zip(parts, texts):
            members = p.members()
            if p.old_ids:
                sv, cv = self.old.sentence_store.get(p.old_ids[0]), self.old.chunk_store.get(p.old_ids[1])
            else:
                sv, at = fresh[at:at + len(ts)], at + len(ts)
                cv = np.zeros((len(members), self.emb.dim), np.float32)
                for j, (lo, hi) in enumerate(members):  # a chunk's vector: its sentences' normalised sum
                    v = sv[lo:hi].sum(0)
                    cv[j] = v / max(float(np.linalg.norm(v)), 1e-9)
            self.sentence_file.add(p.sentences.id[p.citable], sv)
            self.chunk_file.add(p.chunks.id, cv)
            s_vecs.append(sv)
            own = [terms(t) for t in ts]
            title = terms(p.doc.title)
            sentence_terms += own
            chunk_terms += [title + [t for q in range(lo, hi) for t in own[q]] for lo, hi in members]
        local = np.repeat(np.arange(len(parts)), [len(ts) for ts in texts])  # each sentence's document in the batch
        self.typicality.add(sentence_typicality(np.vstack(s_vecs), local, len(parts)))
        self.lexicon.add(sentence_terms, chunk_terms)
        kept = self.old_leads is not None
        fresh = iter(embed_sentences(self.emb, [lead_text(p.doc) for p in parts if not (p.old_ids and kept)]))
        self.leads.add(np.vstack([self.old_leads[p.old_row] if p.old_ids and kept else next(fresh) for p in parts]))

    def finish(self, data: index_io.IndexData) -> None:
        """Close the files and open them as the new version's stores and derived structures."""
        self.flush()
        for f in (self.sentence_file, self.chunk_file, self.typicality, self.leads):
            f.close()
        lexicon = self.lexicon.finish(self.staging / "lexicon")
        typical = self.typicality.read(0, self.typicality.size)
        n, dim = self.leads.size // self.emb.dim, self.emb.dim  # the leads stay on disk until saved
        leads = np.memmap(self.leads.path, np.float32, "r", shape=(n, dim)) if n else np.zeros((0, dim), np.float32)
        big = self.sentence_file.n >= ANN_MIN  # then the stores stay on disk, as a load leaves them
        data.sentence_store = FaissStore.load(self.sentence_file.path, mmap=big)
        data.chunk_store = FaissStore.load(self.chunk_file.path, mmap=big)
        data.derived = derive(data, lexicon=lexicon, typicality=typical, leads=leads)


def assemble(old, kept, todo, emb, model, pipeline, progress, report, staging: Path) -> index_io.IndexData:
    """The new version: kept documents copy their rows and vectors, new ones are split, chunked and
    embedded. The tables are made first (so the progress bar knows how many sentences there are to
    embed); vectors, typicalities and the lexicon are then written to `staging` a batch at a time."""
    from tqdm.auto import tqdm

    data = index_io.IndexData.empty(model, emb.dim, pipeline.settings())
    data.next_id = old.next_id if old else 0
    parts: list[_Part] = []
    n_rows = 0
    if kept:
        s_old, c_old = old.sentence_view, old.chunk_view
        s_order, c_order = np.argsort(s_old.doc, kind="stable"), np.argsort(c_old.doc, kind="stable")
        s_doc, c_doc = s_old.doc[s_order], c_old.doc[c_order]
    for d, i in kept:
        rows = s_order[np.searchsorted(s_doc, i):np.searchsorted(s_doc, i, side="right")]
        s = index_io.Sentences(old.sentences[rows])  # a copy: ids and spans kept, document row and chunk bounds moved
        c = index_io.Chunks(old.chunks[c_order[np.searchsorted(c_doc, i):np.searchsorted(c_doc, i, side="right")]])
        old_ids = (s.id[s.citable == 1].copy(), c.id.copy())
        s.doc[:] = c.doc[:] = len(parts)
        offset = n_rows - int(rows[0]) if len(rows) else 0
        c.first[:] += offset
        c.last[:] += offset
        parts.append(_Part(d, s, c, n_rows, old_ids, i))
        n_rows += len(s)
    for d in todo:
        row, base = len(parts), n_rows
        spans, tokens = split_long_counted(d.text, split_sentences(d.text, d.title), pipeline.chunk_tokens)
        s = np.zeros((len(spans), 6), np.int64)
        for n, (start, end, citable) in enumerate(spans):
            s[n] = (data.next_id, row, n, start, end, int(citable))
            data.next_id += 1
        cit = [n for n, (_, _, c) in enumerate(spans) if c]
        # Chunk texts never go through the model (a chunk's vector is its sentences' mean): no
        # word-piece budget, only the chunk size in tiktoken tokens.
        spans_c = chunk_sentences([tokens[n] for n in cit], None, pipeline.chunk_tokens, None, pipeline.overlap)
        c = np.zeros((len(spans_c), 5), np.int64)
        for j, sp in enumerate(spans_c):
            c[j] = (data.next_id, row, base + cit[sp.first], base + cit[sp.last], sp.tokens)
            data.next_id += 1
        parts.append(_Part(d, index_io.Sentences(s), index_io.Chunks(c), base))
        n_rows += len(s)
    data.documents = [p.doc for p in parts]
    to_embed = sum(len(p.citable) for p in parts if not p.old_ids)
    with tqdm(total=to_embed, desc="Embedding", unit="sentence", disable=not progress) as bar:
        writer = _Writer(staging, emb, old, report, bar)
        for p in parts:
            writer.add(p)
        writer.finish(data)
    report.embedded_documents = len(todo)
    if parts:
        data.sentences = np.vstack([p.sentences.table for p in parts])
        data.chunks = np.vstack([p.chunks.table for p in parts])
    return data


def embed_sentences(emb, texts: list[str], bar=None, block: int = 1024) -> np.ndarray:
    """Sentence vectors, embedded in blocks of similar length (padding stays small); `bar` (tqdm)
    counts the sentences."""
    out = np.zeros((len(texts), emb.dim), np.float32)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    for b in range(0, len(order), block):
        idx = order[b:b + block]
        out[idx] = emb.embed([texts[i] for i in idx])
        if bar is not None:
            bar.update(len(idx))
    return out
