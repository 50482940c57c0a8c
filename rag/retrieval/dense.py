"""The dense side of retrieval: sentence vectors, how typical each is of its article, and the
cosines of a question's vectors to the sentences a search looks at.

Where the sentence store has no approximate index (below `vectors.ANN_MIN` sentences), or with
`exact=True`, every sentence is scored, one matrix product per question. Otherwise the approximate
index proposes candidates, their exact cosines are read from the stored vectors, and a search
limited to a few articles (an outlet the question names, the user's filters) scores all of those
articles' sentences exactly.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import sparse

from .lexical import runs

ANN_DEPTH = 2_000  # candidates the approximate index proposes per vector
ANN_RESCORE = 500  # of which this many, the best by approximate score, are scored exactly
EXACT_SUBSET = 20_000  # a search limited to at most this many sentences scores them all exactly


class DenseIndex:
    """Citable sentence vectors (`vecs`, one row per position, in sentence-row order) and their documents."""

    def __init__(self, vecs: np.ndarray, sent_doc: np.ndarray, n_docs: int, bf16: bool, ann=None,
                 typicality: np.ndarray | None = None, fetch=None):
        self.vecs = vecs  # every vector, for the exact scan (a memory-mapped view on a large index)
        # Reads the vectors at some positions (FaissStore.rows: from the file, on a large index).
        self.fetch = fetch or (lambda pos: np.asarray(vecs[pos], np.float32))
        self.sent_doc = sent_doc
        self.ann = ann  # an approximate index over the same vectors (its ids are positions), or None
        self._bf16 = bf16
        self._matrix = None  # the vectors as a torch matrix, made on the first exact search
        self.typicality = typicality if typicality is not None else sentence_typicality(vecs, sent_doc, n_docs)
        # Sentences are stored article by article: an article's sentences are one run of positions.
        self.doc_lo = np.searchsorted(sent_doc, np.arange(n_docs))
        self.doc_hi = np.searchsorted(sent_doc, np.arange(n_docs), side="right")

    def __len__(self) -> int:
        return len(self.sent_doc)

    def scores(self, queries: np.ndarray, weight: float, exact: bool = False,
               masks: list[np.ndarray] = ()) -> "Dense":
        """Each query vector's cosine, less `weight` x typicality, to every sentence (exact), or to
        the approximate index's candidates and every sentence of the articles in each of `masks`."""
        if exact or self.ann is None:
            cos = self._cosines(queries)
            cos -= weight * self.typicality[:, None]
            return Dense(self, queries, weight, None, cos)
        queries = np.ascontiguousarray(queries, np.float32)
        depth = min(ANN_DEPTH, len(self))
        pos = [self._best(queries, weight, *self.ann.search(queries, depth))]
        for mask in masks:
            docs = np.flatnonzero(mask)
            size = int((self.doc_hi[docs] - self.doc_lo[docs]).sum())
            inside = runs(self.doc_lo[docs], self.doc_hi[docs])
            if size <= EXACT_SUBSET:  # a few articles: every sentence of them
                pos.append(inside)
            else:  # many: the approximate index searched among them alone
                pos.append(self._best(queries, weight, *self._ann_within(queries, inside, depth)))
        pos = np.unique(np.concatenate(pos))
        return Dense(self, queries, weight, pos, self._exact(queries, weight, pos))

    def _ann_within(self, queries: np.ndarray, inside: np.ndarray, depth: int) -> np.ndarray:
        import faiss

        bits = np.zeros(len(self), bool)
        bits[inside] = True
        packed = np.packbits(bits, bitorder="little")
        params = faiss.SearchParametersIVF(sel=faiss.IDSelectorBitmap(len(self), faiss.swig_ptr(packed)),
                                           nprobe=2 * self.ann.nprobe)  # fewer of each list pass: look wider
        return self.ann.search(queries, depth, params=params)

    def _best(self, queries: np.ndarray, weight: float, approx: np.ndarray, found: np.ndarray) -> np.ndarray:
        """Of each query's candidates, the ANN_RESCORE best by approximate score less typicality:
        the ones worth reading exactly."""
        out = []
        for d, ids in zip(approx, found):
            ok = ids >= 0
            ids = ids[ok]
            if len(ids) > ANN_RESCORE:
                score = d[ok] - weight * self.typicality[ids]
                ids = ids[np.argpartition(-score, ANN_RESCORE - 1)[:ANN_RESCORE]]
            out.append(ids)
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def _exact(self, queries: np.ndarray, weight: float, pos: np.ndarray) -> np.ndarray:
        """The cosines of the sentences at `pos` to `queries`, less `weight` x typicality, by torch
        (see `_cosines`) from the stored vectors' rows."""
        import torch

        rows = torch.from_numpy(self.fetch(pos))
        cos = torch.nn.functional.linear(torch.from_numpy(queries), rows).numpy().T
        return cos - weight * self.typicality[pos][:, None]

    def _cosines(self, queries: np.ndarray) -> np.ndarray:
        """Every sentence's cosine to each query, by torch: numpy's BLAS threads would spin on the
        same two cores as the model's next forward pass and slow it threefold."""
        import torch

        if self._matrix is None:
            # bf16 when the embedder runs in bf16 (CPUs with AMX, AVX512-BF16): 4x faster here, and the
            # ranking of sentences is the same to within 1% of the top 150 (scores use fp32 later).
            with warnings.catch_warnings():  # the store's vectors are read-only, and never written here
                warnings.simplefilter("ignore", UserWarning)
                m = torch.from_numpy(np.asarray(self.vecs, np.float32))
            self._matrix = m.to(torch.bfloat16) if self._bf16 else m
        m = self._matrix
        # (queries x m^T) reads the sentence matrix row by row: a third faster than (m x queries^T) here.
        q = torch.from_numpy(np.ascontiguousarray(queries)).to(m.dtype)
        return torch.nn.functional.linear(q, m).float().numpy().T


class Dense:
    """One question's dense scores: column j is its j-th vector (the question, then each clause)."""

    def __init__(self, index: DenseIndex, queries: np.ndarray, weight: float, pos: np.ndarray | None,
                 cos: np.ndarray):
        self.index, self.queries, self.weight = index, queries, weight
        self.pos = pos  # the positions scored, sorted; None: every position
        self.cos = cos

    def top(self, j: int, n: int, mask: np.ndarray | None) -> np.ndarray:
        """Positions of the best `n` sentences for vector `j`, best first, within `mask` (documents)."""
        cos = self.cos[:, j]
        doc = self.index.sent_doc if self.pos is None else self.index.sent_doc[self.pos]
        if mask is not None:
            cos = np.where(mask[doc], cos, -np.inf)
        top = min(len(cos), n)
        if top == 0:
            return np.zeros(0, np.int64)
        best = np.argpartition(-cos, top - 1)[:top]
        best = best[np.argsort(-cos[best], kind="stable")]
        best = best[np.isfinite(cos[best])]
        return best if self.pos is None else self.pos[best]

    def at(self, j: int, positions: np.ndarray) -> np.ndarray:
        """Vector `j`'s scores of the sentences at `positions`, computed for any not scored yet."""
        if self.pos is None:
            return self.cos[positions, j]
        i = np.minimum(np.searchsorted(self.pos, positions), len(self.pos) - 1)
        have = self.pos[i] == positions
        out = np.empty(len(positions), np.float32)
        out[have] = self.cos[i[have], j]
        if not have.all():
            out[~have] = self.index._exact(self.queries[j:j + 1], self.weight, positions[~have])[:, 0]
        return out


def sentence_typicality(vecs: np.ndarray, sent_doc: np.ndarray, n_docs: int) -> np.ndarray:
    """How typical each sentence is of its own article: its dot with the mean of the article's
    other sentence vectors. A sentence restating the article's topic matches every question about
    the article; the fact a clause asks for is what sets its sentence apart from the rest. The mean
    leaves the sentence itself out: in a one- or two-sentence article (a news brief, a quiz note) a
    sentence is otherwise mostly its own mean and its discount its own cosine."""
    n = len(sent_doc)
    if not n:
        return np.zeros(0, np.float32)
    vecs = np.asarray(vecs, np.float32)
    member = sparse.csr_matrix((np.ones(n, np.float32), (sent_doc, np.arange(n))), shape=(n_docs, n))
    sums = np.asarray(member @ vecs)  # each article's sum of sentence vectors
    counts = np.bincount(sent_doc, minlength=n_docs)[sent_doc]
    own = np.einsum("ij,ij->i", vecs, vecs)
    others = np.einsum("ij,ij->i", vecs, sums[sent_doc]) - own
    return np.where(counts > 1, others / np.maximum(counts - 1, 1), 0.0).astype(np.float32)


# About a lede's length (120-150 word pieces): on every dev half as good as 2,000 characters (all the
# bundled model reads), at a third of the model time (BENCHMARKS.md, issue 15's sixth step).
LEAD_CHARS = 600


def lead_text(doc) -> str:
    """What an article's lead vector embeds: its title and opening. A news story's lede says what
    the story is about, which a question asking about the story as a whole ("which city did the
    strike shut?") matches better than any one sentence does."""
    return f"{doc.title}\n{doc.text[:LEAD_CHARS]}"
