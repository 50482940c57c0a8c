"""The lexical side of retrieval: the corpus's terms, BM25 over chunks, and which terms each
sentence holds. Every query-time step reads only the postings of the question's terms or the rows
of the candidates, never the whole corpus.

A `Lexicon` is plain arrays, so the build saves it with the index (`LEXICON_FILES`) and a load
maps it from disk instead of re-reading every sentence; an index saved without it (or with other
BM25 parameters) is tokenised again when loaded.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..index.arrays import FileArray
from ..text.words import terms

LEXICON_VERSION = 2  # bump when the tokenizer or what is stored changes: saved lexicons are then rebuilt
POSTINGS_READ = 10_000  # of a term's postings (highest BM25 score first), a search reads at most this many
LEXICON_FILES = ("lexicon.json", "lexicon.sent_ptr.npy", "lexicon.sent_cols.npy", "lexicon.bm25_ptr.npy",
                 "lexicon.bm25_rows.npy", "lexicon.bm25_data.npy")


class Lexicon:
    """Terms of the citable sentences (by position: their rows in order) and BM25 over the chunks
    (a chunk's terms are its title's plus its sentences'), as arrays:

        vocab                 every term of the corpus, sorted; a term's column is its place here
        sent_ptr, sent_cols   which terms each sentence holds (CSR: sentence p's are sent_cols[sent_ptr[p]:sent_ptr[p+1]])
        bm25_ptr, bm25_rows, bm25_data   each term's postings (CSC): the chunks holding it and its BM25
                              score there, highest score first
    """

    def __init__(self, vocab: list[str], sent_ptr, sent_cols, bm25_ptr, bm25_rows, bm25_data, n_chunks: int,
                 params: dict):
        self.vocab = vocab
        self.col = {t: i for i, t in enumerate(vocab)}
        self.sent_ptr, self.sent_cols = sent_ptr, sent_cols
        self.bm25_ptr, self.bm25_rows, self.bm25_data = bm25_ptr, bm25_rows, bm25_data
        self.n_chunks = n_chunks
        self.params = params  # {"k1", "b", "version"}: what the BM25 scores were computed with
        # idf over all chunks: a term's chunks are its postings.
        df = np.diff(np.asarray(bm25_ptr))
        n = max(1, n_chunks)
        self.idf = {t: math.log(1 + n / float(df[i])) for i, t in enumerate(vocab)}

    @classmethod
    def build(cls, sentence_terms: list[list[str]], chunk_terms: list[list[str]], k1: float, b: float) -> "Lexicon":
        import bm25s

        vocab = sorted({t for ts in chunk_terms for t in ts})
        col = {t: i for i, t in enumerate(vocab)}
        sets = [sorted({col[t] for t in ts}) for ts in sentence_terms]
        sent_ptr = np.concatenate([[0], np.cumsum([len(s) for s in sets], dtype=np.int64)]).astype(np.int64)
        sent_cols = np.fromiter((c for s in sets for c in s), np.int32, int(sent_ptr[-1]))
        bm25_ptr, bm25_rows, bm25_data = np.zeros(len(vocab) + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32)
        if chunk_terms and any(chunk_terms):
            bm = bm25s.BM25(k1=k1, b=b)
            bm.index([t or ["\0"] for t in chunk_terms], show_progress=False)
            s = bm.scores
            ptr, rows, data = s["indptr"], s["indices"], s["data"]
            # bm25s numbers terms its own way: its postings re-ordered into our columns.
            theirs = [bm.vocab_dict[t] for t in vocab]
            sizes = np.array([ptr[i + 1] - ptr[i] for i in theirs], np.int64)
            bm25_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
            take = runs(np.asarray([ptr[i] for i in theirs], np.int64), np.asarray([ptr[i + 1] for i in theirs], np.int64))
            bm25_rows, bm25_data = rows[take].astype(np.int32), data[take].astype(np.float32)
            # Within each term, its best chunks first: a search of a common term reads only the head.
            term = np.repeat(np.arange(len(vocab)), sizes)
            order = np.lexsort((bm25_rows, -bm25_data, term))
            bm25_rows, bm25_data = bm25_rows[order], bm25_data[order]
        return cls(vocab, sent_ptr, sent_cols, bm25_ptr, bm25_rows, bm25_data, len(chunk_terms),
                   {"k1": k1, "b": b, "version": LEXICON_VERSION})

    def save(self, directory: Path) -> None:
        meta = {**self.params, "chunks": self.n_chunks, "sentences": len(self.sent_ptr) - 1, "vocab": self.vocab}
        (directory / "lexicon.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        for name in ("sent_ptr", "sent_cols", "bm25_ptr", "bm25_rows", "bm25_data"):
            np.save(directory / f"lexicon.{name}.npy", getattr(self, name), allow_pickle=False)

    @classmethod
    def load(cls, directory: Path, k1: float, b: float, chunks: int, sentences: int) -> "Lexicon | None":
        """The lexicon saved in `directory`, memory-mapped; None when there is none, or it was made
        with other parameters or for other tables."""
        try:
            meta = json.loads((directory / "lexicon.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if (meta.get("version"), meta.get("k1"), meta.get("b"), meta.get("chunks"), meta.get("sentences")) \
                != (LEXICON_VERSION, k1, b, chunks, sentences):
            return None
        # The pointers are read whole; the term lists and postings a slice at a time, as asked for.
        arrays = {name: np.load(directory / f"lexicon.{name}.npy", allow_pickle=False) for name in ("sent_ptr", "bm25_ptr")}
        arrays |= {name: FileArray(directory / f"lexicon.{name}.npy") for name in ("sent_cols", "bm25_rows", "bm25_data")}
        return cls(meta["vocab"], n_chunks=chunks, params={k: meta[k] for k in ("k1", "b", "version")}, **arrays)

    def __contains__(self, term: str) -> bool:
        return term in self.col

    def term_set(self, position: int) -> frozenset[int]:
        """The terms (as columns) of the citable sentence at `position`."""
        return frozenset(self.sent_cols[self.sent_ptr[position]:self.sent_ptr[position + 1]].tolist())

    def bm25_top(self, qterms: list[str], n: int, chunk_ok: np.ndarray | None = None,
                 chunk_doc: np.ndarray | None = None) -> list[int]:
        """The best `n` chunks by BM25 for `qterms` (a repeated term counts again), among those whose
        document passes `chunk_ok` (a document mask) if given. Only the postings of the question's
        terms are read: a chunk with none of them scores nothing and is never looked at. Of a term
        held by more than POSTINGS_READ chunks only the POSTINGS_READ where it scores highest are
        read (an index of fewer chunks is scored exactly)."""
        cols = [self.col[t] for t in qterms if t in self.col]
        if not cols or n <= 0:
            return []
        ptr = self.bm25_ptr
        ends = [min(int(ptr[c + 1]), int(ptr[c]) + POSTINGS_READ) for c in cols]
        rows = np.concatenate([self.bm25_rows[ptr[c]:e] for c, e in zip(cols, ends)])
        vals = np.concatenate([self.bm25_data[ptr[c]:e] for c, e in zip(cols, ends)]).astype(np.float64)
        if len(rows) * 4 < self.n_chunks:  # few postings: summed per chunk without a corpus-long array
            rows, inv = np.unique(rows, return_inverse=True)
            score = np.bincount(inv, weights=vals, minlength=len(rows))
        else:
            score = np.bincount(rows, weights=vals, minlength=self.n_chunks)
            rows = np.flatnonzero(score > 0)
            score = score[rows]
        if chunk_ok is not None:
            keep = chunk_ok[chunk_doc[rows]]
            rows, score = rows[keep], score[keep]
        k = min(n, len(rows))
        if k == 0:
            return []
        top = np.argpartition(-score, k - 1)[:k] if k < len(rows) else np.arange(len(rows))
        top = top[np.lexsort((rows[top], -score[top]))]  # ties by chunk row: runs repeat exactly
        return rows[top].tolist()

    def coverages(self, weights: list[tuple[str, float]], positions: np.ndarray) -> np.ndarray:
        """Idf-weighted share of the question's terms (`weights`, from `term_weights`) held by each
        citable sentence at `positions`."""
        per_term: dict[int, float] = {}
        for t, w in weights:
            if t in self.col:
                per_term[self.col[t]] = per_term.get(self.col[t], 0.0) + w
        positions = np.asarray(positions, np.int64)
        if not per_term or not len(positions):
            return np.zeros(len(positions), np.float32)
        qcols = np.array(sorted(per_term), np.int64)
        qw = np.array([per_term[c] for c in qcols], np.float32)
        lo, hi = np.asarray(self.sent_ptr[positions]), np.asarray(self.sent_ptr[positions + 1])
        cols = _ranges(self.sent_cols, lo, hi).astype(np.int64)
        at = np.minimum(np.searchsorted(qcols, cols), len(qcols) - 1)
        gain = np.where(qcols[at] == cols, qw[at], np.float32(0))
        return np.bincount(np.repeat(np.arange(len(positions)), hi - lo), weights=gain,
                           minlength=len(positions)).astype(np.float32)

    def covered(self, weights: list[tuple[int, float]], present: frozenset[int]) -> float:
        """The share of the question's terms (`weights` by column, from `columns`) a sentence holds."""
        return sum(w for c, w in weights if c in present)

    def columns(self, weights: list[tuple[str, float]]) -> list[tuple[int, float]]:
        return [(self.col.get(t, -1), w) for t, w in weights]

    def term_weights(self, qterms: list[str], inside: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Each term's share of the question's idf mass.

        With `inside` (a 0/1 mask over chunks: those of the articles searched), idf counts only those
        chunks: within one outlet's articles a word they all use ("Google" in TechCrunch's) tells
        little, however rare it is in the whole corpus.
        """
        idf = [self.idf.get(t, 1.0) for t in qterms]
        if inside is not None:
            known = [t for t in dict.fromkeys(qterms) if t in self.col]
            if known:
                ptr = self.bm25_ptr
                held = [int(inside[self.bm25_rows[ptr[c]:ptr[c + 1]]].sum()) for c in (self.col[t] for t in known)]
                n = float(inside.sum())
                local = {t: math.log(1 + n / max(float(c), 1.0)) for t, c in zip(known, held)}
                idf = [local.get(t, w) for t, w in zip(qterms, idf)]
        total = sum(idf) or 1.0
        return [(t, w / total) for t, w in zip(qterms, idf)]

    def known(self, text: str) -> list[str]:
        """The terms of `text` the corpus holds, in order, repeats kept."""
        return [t for t in terms(text) if t in self.col]


def _ranges(array, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """array[lo[0]:hi[0]], array[lo[1]:hi[1]], ... one after another (an ndarray or a FileArray)."""
    if isinstance(array, FileArray):
        return array.ranges(lo, hi)
    return array[runs(lo, hi)]


def runs(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The concatenated ranges lo[i]..hi[i]-1."""
    lo, hi = np.asarray(lo, np.int64), np.asarray(hi, np.int64)
    sizes = hi - lo
    total = int(sizes.sum())
    if not total:
        return np.zeros(0, np.int64)
    return np.repeat(lo - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes) + np.arange(total)
