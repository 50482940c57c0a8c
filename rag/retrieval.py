"""Hybrid retrieval: dense (FAISS) and BM25 over chunks fused by rank, then sentence scoring."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .cues import cue_bonus
from .index import IndexData
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
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    chunks_for_sentences: int = 6  # sentence scoring looks inside this many best chunks
    lexical_weight: float = 0.35
    chunk_weight: float = 0.15
    metadata: bool = True  # use outlets and dates named in the question


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
        chunk_terms = [terms(f"{docs[c[1]].title} {t}") for c, t in zip(data.chunks, self.chunk_text)]
        self.bm25 = None
        if chunk_terms and any(chunk_terms):
            self.bm25 = bm25s.BM25()
            self.bm25.index([t or ["\0"] for t in chunk_terms], show_progress=False)
        df = Counter(t for ts in chunk_terms for t in set(ts))
        n = max(1, len(chunk_terms))
        self.idf = {t: math.log(1 + n / c) for t, c in df.items()}
        self.vocabulary = set(df)

    def embed_query(self, question: str) -> np.ndarray:
        return self.embedder.embed([question])[0]

    def search(self, question: str, qvec: np.ndarray, k: int = 10) -> list[ChunkHit]:
        """The best `k` chunks by reciprocal rank fusion of dense and BM25 rankings."""
        if not len(self.data.chunks):
            return []
        s = self.settings
        fused: dict[int, float] = {}
        dense: dict[int, float] = {}
        scores, ids = self.data.chunk_store.search(qvec[None, :], s.candidates)
        for rank, (score, cid) in enumerate(zip(scores[0], ids[0])):
            if cid < 0:
                continue
            row = self.chunk_row[int(cid)]
            dense[row] = float(score)
            fused[row] = fused.get(row, 0.0) + s.dense_weight / (RRF_K + rank + 1)
        qterms = [t for t in terms(question) if t in self.vocabulary]
        if self.bm25 is not None and qterms:
            k_bm = min(s.candidates, len(self.chunk_text))
            rows, bm_scores = self.bm25.retrieve([qterms], k=k_bm, show_progress=False)
            for rank, (row, score) in enumerate(zip(rows[0], bm_scores[0])):
                if score <= 0:
                    break
                fused[int(row)] = fused.get(int(row), 0.0) + s.bm25_weight / (RRF_K + rank + 1)
        best = sorted(fused.items(), key=lambda kv: -kv[1])[:k]
        missing = [r for r, _ in best if r not in dense]
        if missing:
            vecs = self.data.chunk_store.get(self.data.chunks[missing, 0])
            dense.update(zip(missing, (vecs @ qvec).tolist()))
        return [ChunkHit(r, f, dense[r]) for r, f in best]

    def lexical(self, qterms: list[str], text: str) -> float:
        """Idf-weighted share of the question's terms found in `text`."""
        if not qterms:
            return 0.0
        present = set(terms(text))
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
            lex = self.lexical(qterms, self.sentence_text[r])
            score = d + s.lexical_weight * lex + s.chunk_weight / (1 + rows[r]) + cue_bonus(question, self.sentence_text[r])
            scored.append(SentenceHit(r, score, d, lex, rows[r]))
        scored.sort(key=lambda h: -h.score)
        out: list[SentenceHit] = []
        seen: list[set[str]] = []
        for h in scored:
            words = set(terms(self.sentence_text[h.row]))
            if any(_jaccard(words, w) > 0.8 for w in seen):
                continue  # the same sentence syndicated in two articles: cite it once
            seen.append(words)
            out.append(h)
            if len(out) == k:
                break
        return out


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else float(a == b)
