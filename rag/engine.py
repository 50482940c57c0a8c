"""The engine: `index(paths)` builds or updates an index, `ask(question)` answers with citations."""

from __future__ import annotations

import datetime
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import index as index_io
from .answer import NOT_FOUND, RefusalPolicy, answerable, compose, strong
from .chunking import (
    DEFAULT_CHUNK_TOKENS,
    DEFAULT_OVERLAP_SENTENCES,
    chunk_sentences,
    split_long_counted,
)
from .conversation import rewrite
from .embedding import DEFAULT_MODEL, load_embedder
from .errors import InputError, RagError
from .ingest import MAX_DOCUMENT_CHARS, discover, load_file, printable
from .locking import writer_lock
from .records import Answer, Citation, Document
from .retrieval import ChunkHit, Retriever, SentenceHit, Settings
from .sentences import split_sentences
from .text import encodes

MAX_QUESTION_CHARS = 1000
# Bump when segmentation, chunking or the embedded text changes: stored vectors then go stale.
PIPELINE_VERSION = 5
DEFAULT_TOP_K = 5


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


@dataclass
class Retrieval:
    """What retrieval found for one question, before an answer is written."""

    question: str
    query: str  # the question as searched (rewritten from the conversation when needed)
    chunks: list[ChunkHit]
    sentences: list[SentenceHit]
    found: bool
    allowed: np.ndarray | None = None  # the documents the user's filters let through (None: no filter)
    # The retriever (and through it the index version) that found these: the answer and its
    # citations read the same version even if a newer one is swapped in meanwhile.
    retriever: Retriever | None = field(default=None, repr=False, compare=False)
    answerability: float = float("nan")  # the answerability model's probability (answer.answerable)


def hits_text(r: Retriever, hits: list[ChunkHit]) -> str:
    """The best chunks' text with each one's title, outlet and date: where a question's names are
    looked for when deciding whether the articles answer it."""
    data = r.data
    doc = data.chunk_view.doc
    return " ".join(f"{_describe(data.documents[doc[h.row]])} {r.chunk_text[h.row]}" for h in hits[:6])


def _describe(doc: Document) -> str:
    """A document's title, outlet and date in words, for matching the names a question uses."""
    when = ""
    try:
        d = datetime.date.fromisoformat(doc.published[:10])
        when = f"{d.strftime('%B')} {d.day} {d.year}"
    except ValueError:
        pass
    return f"{doc.title} {doc.source} {when}"


def check_question(question: str) -> str:
    """The question stripped, or InputError for empty and over-long ones."""
    if not isinstance(question, str) or not question.strip():
        raise InputError("the question is empty")
    question = question.strip()
    if not encodes(question):
        raise InputError("the question is not valid UTF-8 text")
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(f"the question is {len(question)} characters; the limit is {MAX_QUESTION_CHARS}")
    return question


def _doc_id(path: Path) -> str:
    """The path relative to the working directory when below it, else absolute."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path.resolve())
    return str(path.resolve()) if rel.startswith("..") else Path(rel).as_posix()


class Engine:
    """Index articles and answer questions about them, citing exact sentences."""

    def __init__(self, index_dir: str | os.PathLike = "index", model: str | None = None,
                 embedder=None, chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
                 overlap: int = DEFAULT_OVERLAP_SENTENCES, settings: Settings | None = None,
                 policy: RefusalPolicy | None = None, llm=None, reranker=None,
                 reader=None, max_document_chars: int = MAX_DOCUMENT_CHARS, lock_timeout: float | None = None):
        self.index_dir = Path(index_dir)
        self.max_document_chars = max_document_chars
        # How long a write waits for another writer's lock (None: as long as it takes).
        self.lock_timeout = lock_timeout
        self._refreshing = threading.Lock()  # one refresh at a time
        self._swap = threading.Lock()  # the loaded version and its retriever change together
        self._refresh_failed: str | None = None  # a CURRENT whose version failed to load: not retried
        self.llm = llm  # an LLMConfig: generative answers, checked claim by claim
        self.llm_stats: dict = {}  # timings of the last LLM call
        self._model_name = model
        self._embedder = embedder
        self.chunk_tokens = chunk_tokens
        self.overlap = overlap
        self.settings = settings or Settings()
        self.policy = policy or RefusalPolicy()
        self._data: index_io.IndexData | None = None
        self._retriever: Retriever | None = None
        # An optional cross-encoder (a model name or path, or a loaded reranker): off by default.
        self._reranker = reranker
        # An optional reader (reader.py): a trained model's directory or a loaded Reader. None ships:
        # the one trained here did not generalise (BENCHMARKS.md, issue 15), so the default is none.
        self._reader = reader

    # -- model and index -------------------------------------------------------------------
    @property
    def embedder(self):
        if self._embedder is None:
            self._embedder = load_embedder(self._model_name or self._index_model() or DEFAULT_MODEL)
        return self._embedder

    @property
    def reranker(self):
        if isinstance(self._reranker, str):
            from .rerank import load_reranker

            self._reranker = load_reranker(self._reranker)
        return self._reranker

    @property
    def reader(self):
        if isinstance(self._reader, (str, os.PathLike)):
            from .reader import load_reader

            self._reader = load_reader(self._reader)
        return self._reader or None

    def _index_model(self) -> str | None:
        if self._data is not None:
            return self._data.model
        try:
            return self.load().model
        except RagError:
            return None

    def load(self) -> index_io.IndexData:
        """Load (and verify) the index once; later calls reuse it."""
        if self._data is None:
            self._data = index_io.load(self.index_dir, model=self._model_name)
        return self._data

    @property
    def retriever(self) -> Retriever:
        """The retriever over the loaded version; `retriever.data` is that version."""
        with self._swap:  # a consistent pair, even while `refresh` swaps in a new version
            data, r = self._data, self._retriever
        data = data if data is not None else self.load()
        if r is None or r.data is not data:
            r = Retriever(data, self.embedder, self.settings, self.reranker, self.reader)
            with self._swap:
                if self._data is data:
                    self._retriever = r
        return r

    def refresh(self) -> bool:
        """Pick up a version another process committed: load it and its retriever, then swap them
        in together. Questions already being answered finish on the version they started with.
        True when a newer version was swapped in."""
        if not self._refreshing.acquire(blocking=False):
            return False  # another thread is already loading it
        try:
            pointer = index_io.current(self.index_dir)
            if self._data is None or not pointer or pointer.split()[0] == self._data.version \
                    or pointer == self._refresh_failed:
                return False
            try:
                data = index_io.load(self.index_dir, model=self._model_name)
                retriever = Retriever(data, self.embedder, self.settings, self.reranker, self.reader)
            except Exception:
                self._refresh_failed = pointer  # tried again only once CURRENT names another version
                raise
            with self._swap:
                self._data, self._retriever = data, retriever
            return True
        finally:
            self._refreshing.release()

    @property
    def documents(self) -> list[Document]:
        return self.load().documents

    # -- indexing --------------------------------------------------------------------------
    def read(self, paths: list, skip_bad: bool = False) -> tuple[list[Document], list[str]]:
        """Load every document under `paths`; bad files raise, or are reported with skip_bad."""
        docs, errors = [], []
        for f in discover(paths, exclude=[self.index_dir]):
            try:
                docs.extend(load_file(f, _doc_id(f), max_chars=self.max_document_chars))
            except InputError as e:
                errors.append(str(e))
        if errors and not skip_bad:
            more = f" (and {len(errors) - 1} more bad files)" if len(errors) > 1 else ""
            raise InputError(f"{errors[0]}{more}; nothing was indexed, the index is unchanged")
        seen: dict[str, Document] = {}
        for d in docs:
            seen[d.doc_id] = d
        return list(seen.values()), errors

    def index(self, paths: list, rebuild: bool = False, skip_bad: bool = False,
              progress: bool = False, scope: list | None = None, on_wait=None) -> IndexReport:
        """Bring the index up to date with `paths`: embed new and changed documents only.

        Documents previously indexed from files under `paths` (or `scope`) that are gone are
        removed; documents from other paths stay. The new index is swapped in atomically.
        """
        t0 = time.perf_counter()
        docs, errors = self.read(paths, skip_bad)
        if not docs:
            raise InputError(f"no supported files in {', '.join(map(printable, paths))} (.txt .md .html .json .jsonl)")
        return self.add_documents(docs, scope=scope if scope is not None else paths, rebuild=rebuild,
                                  progress=progress, errors=errors, t0=t0, on_wait=on_wait)

    def add_documents(self, docs: list[Document], scope: list | None = None, rebuild: bool = False,
                      progress: bool = False, errors: list[str] | None = None, t0: float | None = None,
                      on_wait=None, lock_timeout: float | None = None) -> IndexReport:
        """Add or replace `docs`; remove old documents whose files lie under `scope` but are not in `docs`.

        The whole read-modify-write holds the index's writer lock: a second writer (another
        process, or another thread here) waits for it (`on_wait` gets a message naming the holder)
        and then builds on the version this one committed, so no writer's documents are lost.
        `lock_timeout` (default: the engine's) bounds the wait; past it, IndexBusy.
        """
        t0 = t0 if t0 is not None else time.perf_counter()
        timeout = self.lock_timeout if lock_timeout is None else lock_timeout
        # The lock first: an index that cannot be written fails before the model loads.
        with writer_lock(self.index_dir, timeout=timeout, on_wait=on_wait):
            return self._update(docs, scope, rebuild, progress, errors, t0, self.embedder)

    def remove_documents(self, doc_ids, on_wait=None, lock_timeout: float | None = None) -> IndexReport:
        """Remove the documents with these ids, under the writer lock, as a new version (readers
        keep theirs until it is swapped in). An id the index does not hold raises InputError and
        nothing is written."""
        t0 = time.perf_counter()
        timeout = self.lock_timeout if lock_timeout is None else lock_timeout
        with writer_lock(self.index_dir, timeout=timeout, on_wait=on_wait):
            return self._update([], None, False, False, None, t0, self.embedder, drop=set(doc_ids))

    def _update(self, docs, scope, rebuild, progress, errors, t0, emb, drop=frozenset()) -> IndexReport:
        old = None
        if not rebuild and index_io.exists(self.index_dir):
            old = index_io.load(self.index_dir, model=self._model_name)
            if old.model != (self._model_name or old.model):
                raise InputError(f"index was built with {old.model}; use --rebuild to change the model")
        missing = sorted(drop - {d.doc_id for d in (old.documents if old else [])})
        if missing:
            raise InputError(f"not in the index: {printable(missing[0])}"
                             + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "") + "; nothing was removed")
        model = old.model if old else (self._model_name or emb.name)
        settings = self._pipeline_settings()
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
            data = self._assemble(old, kept, todo, emb, model, settings, progress, report)
            index_io.save(self.index_dir, data)
        with self._swap:
            self._data, self._retriever = data, None
        report.documents = len(data.documents)
        report.sentences = len(data.sentences)
        report.chunks = len(data.chunks)
        report.seconds = time.perf_counter() - t0
        return report

    def _pipeline_settings(self) -> dict:
        return {"chunk_tokens": self.chunk_tokens, "overlap": self.overlap, "pipeline": PIPELINE_VERSION,
                # Each sentence embedded on its own (the one mode left; the key keeps old indexes current).
                "sentence_vectors": "own"}

    def is_current(self) -> bool:
        """True when the index exists and was built by this pipeline with these settings."""
        return index_io.exists(self.index_dir) and self.load().settings == self._pipeline_settings()

    def _assemble(self, old, kept, todo, emb, model, settings, progress, report) -> index_io.IndexData:
        """New tables: kept documents copy their rows and vectors, new ones are split and embedded."""
        data = index_io.IndexData.empty(model, emb.dim, settings)
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
            spans, tokens = split_long_counted(d.text, split_sentences(d.text, d.title), self.chunk_tokens)
            s = np.zeros((len(spans), 6), np.int64)
            for n, (start, end, citable) in enumerate(spans):
                s[n] = (data.next_id, row, n, start, end, int(citable))
                data.next_id += 1
            sent_rows.append(s)
            cit = [n for n, (_, _, c) in enumerate(spans) if c]
            cit_text = [d.text[spans[n][0]:spans[n][1]] for n in cit]
            # Chunk texts never go through the model (a chunk's vector is its sentences' mean): no
            # word-piece budget, only the chunk size in tiktoken tokens.
            spans_c = chunk_sentences([tokens[n] for n in cit], None, self.chunk_tokens, None, self.overlap)
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
            cvecs, svecs, report.embedded = self._embed(emb, texts_s, members, progress)
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

    def _embed(self, emb, texts_s: list[str], members: list[list[int]], progress: bool):
        """Chunk and sentence vectors, and how many texts the model read.

        Each sentence is embedded on its own, which is the text the model was trained on (sentence
        pairs): a clause of a question finds its paraphrase among sentences read alone far better
        than among sentences pooled from a 256-token chunk (MultiHop-RAG dev, BENCHMARKS.md). A
        chunk's vector is the normalised sum of its sentences', with no second model pass.
        """
        svecs = self._embed_sentences(emb, texts_s, progress)
        cvecs = np.zeros((len(members), emb.dim), np.float32)
        for j, mem in enumerate(members):
            v = svecs[mem].sum(0)
            cvecs[j] = v / max(float(np.linalg.norm(v)), 1e-9)
        return cvecs, svecs, len(texts_s)

    @staticmethod
    def _embed_sentences(emb, texts: list[str], progress: bool, block: int = 1024) -> np.ndarray:
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

    # -- asking ----------------------------------------------------------------------------
    def retrieve(self, question: str, top_k: int = DEFAULT_TOP_K, history=None, filters=None) -> Retrieval:
        """The best chunks and sentences for a question, and whether they answer it; with `filters`
        (filters.Filters), only among the articles they let through."""
        question = check_question(question)
        query = rewrite(question, history) if history else question
        r = self.retriever
        q = r.query(query, filters)
        hits = r.search(q, k=10)
        top = r.sentences(q, hits, k=max(1, top_k))
        found, p = answerable(r, query, top, hits_text(r, hits), self.policy)
        if found:
            top = strong(top, self.policy.citation_ratio)
        return Retrieval(question, query, hits, top, found, q.allowed, r, p)

    def ask(self, question: str, top_k: int = DEFAULT_TOP_K, history=None, on_draft=None, filters=None) -> Answer:
        """Answer from the articles, citing exact sentences; `found` is False when they do not say.

        `history` (chat turns, oldest first) lets a follow-up like "who is he?" use the conversation.
        `on_draft`, with an LLM, receives the model's unchecked text as it streams. `filters`
        (filters.Filters: outlets, published since / until) limits the articles searched.
        """
        ret = self.retrieve(question, top_k, history, filters)
        if self.llm is not None and ret.found:
            answer = self.generate(ret, on_draft)
        else:
            answer = self.answer(ret)
        if ret.allowed is not None:
            note = (f"searched only articles {filters.describe()}" if ret.allowed.any()
                    else f"no article matches the filters ({filters.describe()})")
            answer.notice = f"{answer.notice}; {note}" if answer.notice else note
        return answer

    def generate(self, ret: Retrieval, on_draft=None) -> Answer:
        """The LLM's answer, keeping only claims its cited sentences support; else the extractive one."""
        from .llm import LLMError, build_messages, complete, repeats_instruction, split_claims, support

        r = ret.retriever or self.retriever
        data = r.data
        numbered = []
        for n, h in enumerate(ret.sentences, 1):
            d = data.documents[data.sentence_view.doc[h.row]]
            meta = " · ".join(x for x in (d.title, d.source, d.published[:10]) if x)
            numbered.append((n, meta, r.sentence_text[h.row]))
        fallback = self.answer(ret)
        try:
            reply = complete(self.llm, build_messages(ret.query, numbered), self.llm_stats, on_draft)
        except LLMError as e:
            fallback.notice = f"{e}; showing the extractive answer"
            return fallback
        if "NOT IN THESE ARTICLES" in reply.upper():
            fallback.notice = "the LLM found no answer in the retrieved sentences; showing the extractive answer"
            return fallback
        claims, kept = [], []
        parsed = [(t, [n for n in nums if 1 <= n <= len(numbered)]) for t, nums in split_claims(reply)]
        # Claims and cited sentences embedded alike (standalone), as the checker was calibrated.
        vecs = self.embedder.embed([t for t, _ in parsed] + [sent for _, _, sent in numbered])
        claim_vecs, sent_vecs = vecs[: len(parsed)], vecs[len(parsed):]
        for (text, nums), cvec in zip(parsed, claim_vecs):  # numbers never retrieved are already gone
            idx = [n - 1 for n in nums]
            score = support(text, [numbered[i][2] for i in idx], cvec, sent_vecs[idx]) if nums else 0.0
            if repeats_instruction(text, [sent for _, _, sent in numbered]):
                score = 0.0  # obeying an instruction found in the articles is never an answer
            ok = score >= self.llm.min_support
            claims.append({"text": text, "citations": nums, "supported": ok, "support": round(score, 3)})
            if ok:
                kept.append((text, nums))
        if not kept:
            fallback.notice = "no claim of the LLM's answer was supported by its citations; showing the extractive answer"
            fallback.claims = claims
            return fallback
        # Renumber: the answer cites only sentences it uses, numbered in order of first use.
        order: list[int] = []
        for _, nums in kept:
            order += [n for n in nums if n not in order]
        new = {old: i for i, old in enumerate(order, 1)}
        text = " ".join(f"{t} " + "".join(f"[{new[n]}]" for n in nums) for t, nums in kept)
        for c in claims:
            c["citations"] = [new[n] for n in c["citations"] if n in new] if c["supported"] else c["citations"]
        dropped = sum(1 for c in claims if not c["supported"])
        citations = [self.citation(new[n], ret.sentences[n - 1].row, ret.sentences[n - 1].score, data)
                     for n in order]
        related = [self.citation(len(order) + k, h.row, h.score, data)
                   for k, h in enumerate((h for n, h in enumerate(ret.sentences, 1) if n not in new), 1)]
        rewritten = ret.query if ret.query != ret.question else ""
        return Answer(ret.question, text, True, citations, mode="generative", rewritten=rewritten, claims=claims,
                      related=related,
                      notice=f"{dropped} unsupported claim(s) removed" if dropped else "", documents=data.documents)

    def answer(self, ret: Retrieval) -> Answer:
        """The extractive answer for a retrieval: its best sentences with [n] markers, or a refusal."""
        rewritten = ret.query if ret.query != ret.question else ""
        if not ret.found:
            return Answer(ret.question, NOT_FOUND, False, [], rewritten=rewritten)
        r = ret.retriever or self.retriever
        top = ret.sentences
        made = compose(ret.query, top, r.sentence_text, [r.previous(h.row) for h in top], self.policy)
        citations = [self.citation(n, top[i].row, top[i].score, r.data) for n, i in enumerate(made.cited, 1)]
        cited = set(made.cited)
        rest = [i for i in range(len(top)) if i not in cited]
        related = [self.citation(n, top[i].row, top[i].score, r.data)
                   for n, i in enumerate(rest, len(citations) + 1)]
        return Answer(ret.question, made.text, True, citations, rewritten=rewritten, answers=made.answers,
                      related=related, documents=r.data.documents, lead=made.lead)

    def citation(self, n: int, row: int, score: float, data: index_io.IndexData | None = None) -> Citation:
        data = data if data is not None else self.load()
        sid, drow, pos, start, end, _ = data.sentences[row].tolist()
        d = data.documents[drow]
        return Citation(n, d.doc_id, d.title, d.source, d.url, d.published, d.text[start:end], pos, start, end, score)
