"""Hybrid retrieval: dense (FAISS) and BM25 over chunks fused by rank, then sentence scoring."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .cues import cue_bonus
from .index import IndexData
from .metadata import MetadataCues
from .text import terms

RRF_K = 60  # reciprocal rank fusion constant (Cormack et al. 2009)


@dataclass(frozen=True)
class ChunkHit:
    row: int  # row in the chunk table
    score: float  # fused score
    dense: float  # cosine of the chunk to the question


@dataclass(frozen=True)
class SentenceHit:
    row: int  # row in the sentence table
    score: float
    dense: float  # cosine of the sentence to the question
    lexical: float  # idf-weighted share of question terms in the sentence
    chunk_rank: int


@dataclass
class Settings:
    """Retrieval knobs; defaults are tuned on the MultiHop-RAG dev split (see BENCHMARKS.md)."""

    candidates: int = 50  # from each retriever before fusion
    dense_weight: float = 0.33
    bm25_weight: float = 1.0
    chunks_for_sentences: int = 6  # sentence scoring looks inside this many best chunks
    lexical_weight: float = 0.6
    chunk_weight: float = 0.15
    rerank_weight: float = 2.0  # best-sentence term coverage, in units of a first-place vote
    rerank_depth: int = 30
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    metadata: bool = True  # use outlets and dates named in the question
    date_bonus: float = 0.5  # in units of a first-place vote of one ranking
    split_outlets: bool = False  # search each named outlet with its own clause of the question too
    clause_weight: float = 1.0
    sentence_weight: float = 0.0  # a third ranking: chunks by their best sentence's cosine
    same_doc_penalty: float = 0.0  # demote each further chunk of an article by this share


class Retriever:
    """Search an `IndexData` with one embedder; built once per loaded index."""

    def __init__(self, data: IndexData, embedder, settings: Settings | None = None):
        import bm25s

        self.data = data
        self.embedder = embedder
        self.settings = settings or Settings()
        docs = data.documents
        sents = data.sentences
        self.sentence_text = [docs[d].text[s:e] for d, s, e in sents[:, [1, 3, 4]]]
        self.citable_rows = [np.flatnonzero(sents[c[2]:c[3] + 1, 5]) + c[2] for c in data.chunks]
        self.chunk_text = [" ".join(self.sentence_text[r] for r in rows) for rows in self.citable_rows]
        # Row lookups from the stores' stable ids.
        self.chunk_row = {int(i): r for r, i in enumerate(data.chunks[:, 0])}
        self.sentence_row = {int(i): r for r, i in enumerate(sents[:, 0])}
        # Terms of every citable sentence once; a chunk's terms are its title's plus its sentences'.
        self.sentence_terms: dict[int, list[str]] = {
            int(r): terms(self.sentence_text[r]) for r in np.flatnonzero(sents[:, 5])} if len(sents) else {}
        self._sentence_term_sets = {r: frozenset(t) for r, t in self.sentence_terms.items()}
        title_terms = [terms(d.title) for d in docs]
        chunk_terms = [title_terms[c[1]] + [t for r in rows for t in self.sentence_terms[int(r)]]
                       for c, rows in zip(data.chunks, self.citable_rows)]
        self.bm25 = None
        if chunk_terms and any(chunk_terms):
            self.bm25 = bm25s.BM25(k1=self.settings.bm25_k1, b=self.settings.bm25_b)
            self.bm25.index([t or ["\0"] for t in chunk_terms], show_progress=False)
        df = Counter(t for ts in chunk_terms for t in set(ts))
        n = max(1, len(chunk_terms))
        self.idf = {t: math.log(1 + n / c) for t, c in df.items()}
        self.vocabulary = set(df)
        self.chunk_doc = data.chunks[:, 1]
        # Each citable sentence's chunk (the first, when the overlap puts it in two): sentence-level
        # dense hits vote for chunks.
        self.sentence_chunk = np.full(len(sents), -1, np.int64)
        for row, rows in reversed(list(enumerate(self.citable_rows))):
            self.sentence_chunk[rows] = row
        self.sentence_doc = sents[:, 1]
        self.cues = MetadataCues([d.source for d in docs], [d.published for d in docs])

    def embed_query(self, question: str) -> np.ndarray:
        return self.embedder.embed([question])[0]

    def search(self, question: str, qvec: np.ndarray, k: int = 10) -> list[ChunkHit]:
        """The best `k` chunks by reciprocal rank fusion of dense and BM25 rankings.

        With metadata on, a question that names outlets is answered from those outlets' articles,
        taking the best chunk of each named outlet in turn (a comparison needs both sides), and
        articles published on a date the question names get a boost.
        """
        if not len(self.data.chunks):
            return []
        s = self.settings
        outlets = self.cues.outlets(question) if s.metadata else []
        dates = self.cues.date_mask(question) if s.metadata else None
        boost = None if dates is None else dates[self.chunk_doc] * (s.date_bonus / (RRF_K + 1))
        qterms = [t for t in terms(question) if t in self.vocabulary]
        ranked: list[int] = []
        fused: dict[int, float] = {}
        if outlets:
            lists = []
            for i, (_, _, docs) in enumerate(outlets):
                mask = np.isin(self.chunk_doc, docs)
                part = self._fuse(qvec, qterms, mask, boost)
                if s.split_outlets and len(outlets) > 1:
                    # A comparison asks one thing of each outlet: search each with its own clause too.
                    lo = outlets[i - 1][1] if i else 0
                    hi = outlets[i + 1][0] if i + 1 < len(outlets) else len(question)
                    clause = question[lo:hi]
                    sub = self._fuse(self.embed_query(clause), [t for t in terms(clause) if t in self.vocabulary],
                                     mask, boost)
                    for r, v in sub.items():
                        part[r] = part.get(r, 0.0) + s.clause_weight * v
                part = self._rerank(part, qterms)
                fused.update(part)
                lists.append(self._diverse(part))
            ranked = _interleave(lists)
        if len(ranked) < k:
            part = self._rerank(self._fuse(qvec, qterms, None, boost), qterms)
            have = set(ranked)
            ranked += [r for r in self._diverse(part) if r not in have]
            for r, v in part.items():
                fused.setdefault(r, v)
        best = ranked[:k]
        vecs = self.data.chunk_store.get(self.data.chunks[best, 0]) if best else np.zeros((0, len(qvec)))
        return [ChunkHit(r, fused[r], float(d)) for r, d in zip(best, vecs @ qvec)]

    def _rerank(self, fused: dict[int, float], qterms: list[str]) -> dict[int, float]:
        """Add the best single sentence's coverage of the question's terms: a gold fact is one
        sentence, and a chunk whose words are spread thin over many sentences is a weaker match."""
        w = self.settings.rerank_weight
        if w <= 0 or not qterms:
            return fused
        out = dict(fused)
        for row in sorted(fused, key=lambda r: -fused[r])[: self.settings.rerank_depth]:
            best = max((self.coverage(qterms, int(r)) for r in self.citable_rows[row]), default=0.0)
            out[row] = fused[row] + w * best / (RRF_K + 1)
        return out

    def _diverse(self, fused: dict[int, float]) -> list[int]:
        """Rows by score, each further chunk of an already chosen article demoted: multi-hop questions
        need facts from several articles, and the second-best chunk of one article rarely adds one."""
        penalty = self.settings.same_doc_penalty
        order = sorted(fused, key=lambda r: -fused[r])
        if penalty <= 0:
            return order
        seen: dict[int, int] = {}
        adjusted = {}
        for r in order:
            d = int(self.chunk_doc[r])
            adjusted[r] = fused[r] * (1 - penalty) ** seen.get(d, 0)
            seen[d] = seen.get(d, 0) + 1
        return sorted(order, key=lambda r: -adjusted[r])

    def _fuse(self, qvec, qterms, mask, boost) -> dict[int, float]:
        """Fused scores of dense and BM25 candidates, within `mask` (a chunk mask) if given."""
        s = self.settings
        fused: dict[int, float] = {}
        allowed = None if mask is None else self.data.chunks[mask, 0]
        scores, ids = self.data.chunk_store.search(qvec[None, :], s.candidates, allowed=allowed)
        for rank, cid in enumerate(ids[0]):
            if cid >= 0:
                row = self.chunk_row[int(cid)]
                fused[row] = fused.get(row, 0.0) + s.dense_weight / (RRF_K + rank + 1)
        if s.sentence_weight > 0:
            allowed_s = None
            if mask is not None:
                docs = np.unique(self.chunk_doc[mask])
                allowed_s = self.data.sentences[np.isin(self.sentence_doc, docs) & (self.data.sentences[:, 5] == 1), 0]
            _, sids = self.data.sentence_store.search(qvec[None, :], s.candidates * 2, allowed=allowed_s)
            rank = 0
            seen = set()
            for sid in sids[0]:
                if sid < 0:
                    continue
                row = int(self.sentence_chunk[self.sentence_row[int(sid)]])
                if row < 0 or row in seen:
                    continue
                seen.add(row)
                fused[row] = fused.get(row, 0.0) + s.sentence_weight / (RRF_K + rank + 1)
                rank += 1
        if self.bm25 is not None and qterms:
            k_bm = min(s.candidates, len(self.chunk_text) if mask is None else int(mask.sum()))
            if k_bm > 0:
                rows, bm = self.bm25.retrieve([qterms], k=k_bm, show_progress=False, n_threads=1,
                                              weight_mask=None if mask is None else mask.astype(np.float32))
                for rank, (row, score) in enumerate(zip(rows[0], bm[0])):
                    if score <= 0:
                        break
                    fused[int(row)] = fused.get(int(row), 0.0) + s.bm25_weight / (RRF_K + rank + 1)
        if boost is not None:
            for row in fused:
                fused[row] += float(boost[row])
        return fused

    def coverage(self, qterms: list[str], row: int) -> float:
        """Idf-weighted share of the question's terms found in sentence `row`."""
        if not qterms:
            return 0.0
        present = self._sentence_term_sets[row]
        total = sum(self.idf.get(t, 1.0) for t in qterms)
        return sum(self.idf.get(t, 1.0) for t in qterms if t in present) / total

    def sentences(self, question: str, qvec: np.ndarray, hits: list[ChunkHit], k: int) -> list[SentenceHit]:
        """The best `k` citable sentences inside the best chunks, near-duplicates collapsed."""
        s = self.settings
        rows: dict[int, int] = {}
        for rank, hit in enumerate(hits[: s.chunks_for_sentences]):
            for r in self.citable_rows[hit.row]:
                rows.setdefault(int(r), rank)
        if not rows:
            return []
        order = list(rows)
        vecs = self.data.sentence_store.get(self.data.sentences[order, 0])
        dense = vecs @ qvec
        qterms = list(dict.fromkeys(terms(question)))
        scored = []
        for r, d in zip(order, dense.tolist()):
            lex = self.coverage(qterms, r)
            score = d + s.lexical_weight * lex + s.chunk_weight / (1 + rows[r]) + cue_bonus(question, self.sentence_text[r])
            scored.append(SentenceHit(r, score, d, lex, rows[r]))
        scored.sort(key=lambda h: -h.score)
        out: list[SentenceHit] = []
        seen: list[set[str]] = []
        for h in scored:
            words = self._sentence_term_sets[h.row]
            if any(_jaccard(words, w) > 0.8 for w in seen):
                continue  # the same sentence syndicated in two articles: cite it once
            seen.append(words)
            out.append(h)
            if len(out) == k:
                break
        return out


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else float(a == b)


def _interleave(lists: list[list[int]]) -> list[int]:
    """Round-robin merge without repeats: the first of each list, then the second of each, ..."""
    out, seen = [], set()
    for i in range(max((len(x) for x in lists), default=0)):
        for x in lists:
            if i < len(x) and x[i] not in seen:
                seen.add(x[i])
                out.append(x[i])
    return out
