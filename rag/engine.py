"""The engine: `index(paths)` builds or updates an index, `ask(question)` answers with citations."""

from __future__ import annotations

import datetime
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .answer.extractive import NOT_FOUND, RefusalPolicy, answerable, compose, strong
from .embedding import DEFAULT_MODEL, load_embedder
from .errors import InputError, RagError
from .index import build
from .index import files as index_io
from .index.build import IndexReport
from .index.locking import writer_lock
from .question.followups import rewrite
from .records import Answer, Citation, Document
from .retrieval.search import ChunkHit, Retriever, SentenceHit, Settings
from .text.chunking import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_SENTENCES
from .text.ingest import MAX_DOCUMENT_CHARS, discover, load_file, printable
from .text.words import encodes

MAX_QUESTION_CHARS = 1000
DEFAULT_TOP_K = 5


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
            from .retrieval.rerank import load_reranker

            self._reranker = load_reranker(self._reranker)
        return self._reranker

    @property
    def reader(self):
        if isinstance(self._reader, (str, os.PathLike)):
            from .retrieval.reader import load_reader

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
        """One write, under the writer lock the caller holds; then the new version is served."""
        data, report = build.update(self.index_dir, docs, emb, self._pipeline(), model_name=self._model_name,
                                    scope=scope, rebuild=rebuild, progress=progress, errors=errors, t0=t0, drop=drop)
        with self._swap:
            self._data, self._retriever = data, None
        return report

    def _pipeline(self) -> build.Pipeline:
        return build.Pipeline(self.chunk_tokens, self.overlap)

    def is_current(self) -> bool:
        """True when the index exists and was built by this pipeline with these settings, and holds
        its articles' lead vectors (an index saved before them gets them on its next update)."""
        from .retrieval.search import lacks_leads

        if not index_io.exists(self.index_dir):
            return False
        data = self.load()
        return data.settings == self._pipeline().settings() and not lacks_leads(data)

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
        from .answer.llm import (
            LLMError,
            build_messages,
            complete,
            repeats_instruction,
            split_claims,
            support,
        )

        r = ret.retriever or self.retriever
        data = r.data
        numbered = []
        for n, h in enumerate(ret.sentences, 1):
            d = data.sentence(h.row).document
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
        return (data if data is not None else self.load()).sentence(row).cite(n, score)
