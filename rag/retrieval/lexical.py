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
from collections import Counter
from pathlib import Path

import numpy as np

from ..index.arrays import FileArray, Spill, copy_file, write_npy
from ..text.words import terms

LEXICON_VERSION = 2  # bump when the tokenizer or what is stored changes: saved lexicons are then rebuilt
POSTINGS_READ = 10_000  # of a term's postings (highest BM25 score first), a search reads at most this many
_ARRAYS = ("sent_ptr", "sent_cols", "bm25_ptr", "bm25_rows", "bm25_data")
LEXICON_FILES = ("lexicon.json",) + tuple(f"lexicon.{name}.npy" for name in _ARRAYS)


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
        """The lexicon of a whole corpus at once (`LexiconBuilder` over one batch), in memory."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="rag-lexicon-") as scratch:
            builder = LexiconBuilder(Path(scratch), k1, b)
            builder.add(sentence_terms, chunk_terms)
            out = Path(scratch) / "out"
            out.mkdir()
            lex = builder.finish(out)
            return cls(lex.vocab, *(np.asarray(getattr(lex, name)) for name in _ARRAYS), lex.n_chunks, lex.params)

    def save(self, directory: Path) -> None:
        meta = {**self.params, "chunks": self.n_chunks, "sentences": len(self.sent_ptr) - 1, "vocab": self.vocab}
        (directory / "lexicon.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        for name in _ARRAYS:
            array = getattr(self, name)
            if isinstance(array, FileArray):  # written by a streamed build: linked (or copied) as it is
                copy_file(array.path, directory / f"lexicon.{name}.npy")
            else:
                np.save(directory / f"lexicon.{name}.npy", array, allow_pickle=False)

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

    def term_weights(self, qterms: list[str], inside: "ChunkSubset | None" = None) -> list[tuple[str, float]]:
        """Each term's share of the question's idf mass.

        With `inside` (the chunks of the articles searched), idf counts only those chunks: within
        one outlet's articles a word they all use ("Google" in TechCrunch's) tells little, however
        rare it is in the whole corpus.
        """
        idf = [self.idf.get(t, 1.0) for t in qterms]
        if inside is not None:
            known = [t for t in dict.fromkeys(qterms) if t in self.col]
            if known:
                ptr, counts = self.bm25_ptr, inside.held
                for t in known:
                    if t not in counts:
                        c = self.col[t]
                        counts[t] = int(np.count_nonzero(inside.mask[self.bm25_rows[ptr[c]:ptr[c + 1]]]))
                held = [counts[t] for t in known]
                n = inside.n
                local = {t: math.log(1 + n / max(float(c), 1.0)) for t, c in zip(known, held)}
                idf = [local.get(t, w) for t, w in zip(qterms, idf)]
        total = sum(idf) or 1.0
        return [(t, w / total) for t, w in zip(qterms, idf)]

    def known(self, text: str) -> list[str]:
        """The terms of `text` the corpus holds, in order, repeats kept."""
        return [t for t in terms(text) if t in self.col]


class ChunkSubset:
    """The chunks of the articles a search is limited to, for `Lexicon.term_weights`: a boolean
    mask over chunks, how many it holds, and each term's count of chunks among them, kept as found (a
    question searches the same articles in several rankings, and on a large index a common
    term's count reads all of its postings)."""

    def __init__(self, mask: np.ndarray):
        self.mask = mask
        self.n = float(np.count_nonzero(mask))
        self.held: dict[str, int] = {}


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


class LexiconBuilder:
    """A corpus's lexicon made a batch of sentences and chunks at a time (`add`), in memory bounded
    by a batch and the vocabulary: the term lists and postings go to spill files under `scratch`,
    and `finish` writes the lexicon's files, the postings a range of terms at a time.

    BM25 is Lucene's (bm25s's default, which `Lexicon.build` matched before it was built on this):
    idf = log(1 + (N - df + 0.5) / (df + 0.5)), a chunk's score of a term idf x tf / (tf + k1 (1 - b +
    b len / mean len)); a chunk with no terms counts as one term long, as bm25s counted it.
    """

    BLOCK = 1 << 22  # postings (or sentence terms) read back at once by `finish`

    def __init__(self, scratch: Path, k1: float, b: float):
        self.k1, self.b = k1, b
        self.col: dict[str, int] = {}  # term -> id in order of first sight; sorted by `finish`
        self.df = np.zeros(0, np.int64)
        self.n_chunks = self.total_len = 0
        self._sent_len = Spill(scratch / "sent_len", np.int64)
        self._sent_cols = Spill(scratch / "sent_cols", np.int32)
        self._term = Spill(scratch / "post_term", np.int32)
        self._chunk = Spill(scratch / "post_chunk", np.int32)
        self._tf = Spill(scratch / "post_tf", np.float32)
        self._chunk_len = Spill(scratch / "chunk_len", np.float64)
        self._spills = (self._sent_len, self._sent_cols, self._term, self._chunk, self._tf, self._chunk_len)

    def add(self, sentence_terms: list[list[str]], chunk_terms: list[list[str]]) -> None:
        """The next citable sentences' terms (in position order) and the next chunks' (title's, then
        their sentences')."""
        col = self.col
        sets = [{col.setdefault(t, len(col)) for t in ts} for ts in sentence_terms]
        self._sent_len.add([len(s) for s in sets])
        self._sent_cols.add(np.fromiter((c for s in sets for c in s), np.int32, sum(map(len, sets))))
        terms_, chunks_, tfs = [], [], []
        for j, ts in enumerate(chunk_terms):
            counts = Counter(col.setdefault(t, len(col)) for t in ts)
            terms_.extend(counts)
            tfs.extend(counts.values())
            chunks_.append(np.full(len(counts), self.n_chunks + j, np.int32))
        terms_ = np.asarray(terms_, np.int32)
        self._term.add(terms_)
        self._chunk.add(np.concatenate(chunks_) if chunks_ else np.zeros(0, np.int32))
        self._tf.add(tfs)
        lengths = [len(ts) or 1 for ts in chunk_terms]
        self._chunk_len.add(lengths)
        self.total_len += sum(lengths)
        self.n_chunks += len(chunk_terms)
        counts = np.bincount(terms_, minlength=len(col))
        counts[: len(self.df)] += self.df
        self.df = counts

    def finish(self, directory: Path) -> "Lexicon":
        """Write the lexicon's files into `directory` and return it, read from there."""
        for spill in self._spills:
            spill.close()
        vocab = sorted(self.col)
        rank = np.empty(len(vocab), np.int64)  # first-sight id -> column
        rank[[self.col[t] for t in vocab]] = np.arange(len(vocab))
        n_sent = self._sent_len.size
        sent_len = self._sent_len.read(0, n_sent)
        sent_ptr = np.concatenate([[0], np.cumsum(sent_len)]).astype(np.int64)
        del sent_len
        np.save(directory / "lexicon.sent_ptr.npy", sent_ptr, allow_pickle=False)
        write_npy(directory / "lexicon.sent_cols.npy", np.int32, int(sent_ptr[-1]),
                  self._sorted_sentence_terms(sent_ptr, rank))
        df = np.zeros(len(vocab), np.int64)
        df[rank[: len(self.df)]] = self.df
        bm25_ptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        np.save(directory / "lexicon.bm25_ptr.npy", bm25_ptr, allow_pickle=False)
        parts = list(self._postings(bm25_ptr, df, rank))
        write_npy(directory / "lexicon.bm25_rows.npy", np.int32, int(bm25_ptr[-1]), (r for r, _ in parts))
        write_npy(directory / "lexicon.bm25_data.npy", np.float32, int(bm25_ptr[-1]), (d for _, d in parts))
        for spill in self._spills:
            spill.path.unlink()
        return Lexicon(vocab, sent_ptr, FileArray(directory / "lexicon.sent_cols.npy"), bm25_ptr,
                       FileArray(directory / "lexicon.bm25_rows.npy"), FileArray(directory / "lexicon.bm25_data.npy"),
                       self.n_chunks, {"k1": self.k1, "b": self.b, "version": LEXICON_VERSION})

    def _sorted_sentence_terms(self, sent_ptr: np.ndarray, rank: np.ndarray):
        """Each sentence's terms as columns, sorted, a block of sentences at a time."""
        n, a = len(sent_ptr) - 1, 0
        while a < n:
            b = max(a + 1, int(np.searchsorted(sent_ptr, sent_ptr[a] + self.BLOCK, side="right")) - 1)
            b = min(b, n)
            lo, hi = int(sent_ptr[a]), int(sent_ptr[b])
            cols = rank[self._sent_cols.read(lo, hi)]
            owner = np.repeat(np.arange(b - a), np.diff(sent_ptr[a:b + 1]))
            yield cols[np.lexsort((cols, owner))]
            a = b

    def _postings(self, bm25_ptr: np.ndarray, df: np.ndarray, rank: np.ndarray):
        """(chunk rows, scores) term by term in column order, each term's best chunk first (ties by
        row); a range of terms at a time, each range one pass over the spilled postings."""
        total = int(bm25_ptr[-1])
        if not total:
            return
        n = self.n_chunks
        idf = np.array([math.log(1 + (n - d + 0.5) / (d + 0.5)) if d else 0.0 for d in df.tolist()], np.float32)
        mean_len = self.total_len / n
        lengths = self._chunk_len.read(0, n)
        norm = self.k1 * ((1 - self.b) + self.b * lengths / mean_len)  # per chunk, as bm25s computes it
        first = 0
        while first < len(df):
            last = max(first + 1, int(np.searchsorted(bm25_ptr, bm25_ptr[first] + self.BLOCK, side="right")) - 1)
            last = min(last, len(df))
            term, chunk, tf = [], [], []
            for a in range(0, total, self.BLOCK):
                t = rank[self._term.read(a, min(total, a + self.BLOCK))]
                keep = (t >= first) & (t < last)
                term.append(t[keep])
                chunk.append(self._chunk.read(a, min(total, a + self.BLOCK))[keep])
                tf.append(self._tf.read(a, min(total, a + self.BLOCK))[keep])
            term, chunk, tf = np.concatenate(term), np.concatenate(chunk), np.concatenate(tf)
            score = (idf[term] * (tf / (norm[chunk] + tf))).astype(np.float32)
            order = np.lexsort((chunk, -score, term))
            yield chunk[order].astype(np.int32), score[order]
            first = last
