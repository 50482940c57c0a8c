"""Hybrid retrieval: dense (over sentences) and BM25 (over chunks) fused by rank, then sentence scoring."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ..index.files import IndexData
from ..question.clauses import clauses
from ..question.metadata import MetadataCues, without_outlets
from ..text.words import key_terms, terms
from .answer_types import EntityReader
from .stance import asked_stance, stance_bonus

RRF_K = 60  # reciprocal rank fusion constant (Cormack et al. 2009)
MERGE_DEPTH = 50  # how much of each ranking the merge reads


@dataclass(frozen=True)
class ChunkHit:
    row: int  # row in the chunk table
    score: float  # fused score
    dense: float  # cosine of the chunk to the question


@dataclass(frozen=True)
class SentenceHit:
    row: int  # row in the sentence table
    score: float
    dense: float  # cosine of the sentence to the whole question
    lexical: float  # idf-weighted share of the whole question's terms in the sentence
    chunk_rank: int
    reader: float = float("nan")  # the reader's logit that this sentence answers the question (reader.py)


@dataclass(frozen=True)
class Query:
    """A question read once: its vector, the outlets and dates it names, and its clauses' vectors."""

    text: str
    content: str  # `text` with the outlets it names blanked: what its terms and vectors are read from
    vec: np.ndarray
    outlets: list[tuple[int, int, list[int]]]  # (start, end, document rows) per outlet named
    dates: np.ndarray | None  # documents published on a date the question names
    clauses: list[tuple[int, int]]  # spans of the clauses searched on their own ([] for one)
    clause_vecs: np.ndarray
    allowed: np.ndarray | None = None  # documents the user's filters let through (filters.py)


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
    clauses: bool = True  # also search each clause of a long question on its own (see clauses.py)
    feedback_names: int = 1  # names common in the best chunks added to each clause's terms
    list_fusion_k: float = 0.0  # with a cross-encoder, and for feedback: rankings merged by reciprocal rank with this k
    merge_temperature: float = 0.2  # rankings merged by each one's softmax over its scores (first-place votes)
    merge_cosine_weight: float = 1.0  # in those scores, a chunk's best sentence cosine, in first-place votes
    clause_own_share: float = 0.3  # a clause's vector: this share of it embedded alone, the rest pooled in context
    clause_terms_full: int = 5  # in sentence scoring, a clause's term coverage counts in full from this many terms
    typical_weight: float = 0.6  # a sentence's cosine minus this x its dot with its article's mean sentence
    reranker_depth: int = 10  # with a cross-encoder (rerank.py): the best of each ranking it reorders
    reader_depth: int = 16  # the best sentences the reader (reader.py) reads
    reader_weight: float = 0.1  # its logit's weight in a sentence's score
    answer_type_weight: float = 0.1  # a sentence naming a thing of the asked kind (answer_types.py) gains this
    actor_weight: float = 0.2  # for a subject "who" question, a sentence whose subject is such a person
    answer_type_depth: int = 12  # among this many best sentences
    stance_word: float = 0.12  # per sentence word leaning the way the question asks about (stance.py)
    stance_penalty: float = 0.2  # "who ...?" with a stance: a sentence leaning neither way loses this


class Retriever:
    """Search an `IndexData` with one embedder; built once per loaded index."""

    def __init__(self, data: IndexData, embedder, settings: Settings | None = None, reranker=None, reader=None):
        import bm25s

        self.data = data
        self.embedder = embedder
        self.reranker = reranker  # an optional cross-encoder (rerank.py)
        self.reader = reader  # an optional reader (reader.py), or None
        self.settings = settings or Settings()
        docs = data.documents
        sents, chunks = data.sentence_view, data.chunk_view
        self.sentence_text = [docs[d].text[s:e] for d, s, e in zip(sents.doc, sents.start, sents.end)]
        self.citable_rows = [np.flatnonzero(sents.citable[a:b + 1]) + a for a, b in zip(chunks.first, chunks.last)]
        self.chunk_text = [" ".join(self.sentence_text[r] for r in rows) for rows in self.citable_rows]
        # Terms of every citable sentence once; a chunk's terms are its title's plus its sentences'.
        self.sentence_terms: dict[int, list[str]] = {
            int(r): terms(self.sentence_text[r]) for r in np.flatnonzero(sents.citable)}
        self._sentence_term_sets = {r: frozenset(t) for r, t in self.sentence_terms.items()}
        title_terms = [terms(d.title) for d in docs]
        chunk_terms = [title_terms[d] + [t for r in rows for t in self.sentence_terms[int(r)]]
                       for d, rows in zip(chunks.doc, self.citable_rows)]
        self.bm25 = None
        if chunk_terms and any(chunk_terms):
            self.bm25 = bm25s.BM25(k1=self.settings.bm25_k1, b=self.settings.bm25_b)
            self.bm25.index([t or ["\0"] for t in chunk_terms], show_progress=False)
        # One column per term of the corpus. Which chunks hold each term gives its idf, over all chunks
        # or (`_term_weights`) over the chunks of the articles a ranking searches.
        self._term_col = {t: i for i, t in enumerate(sorted({t for ts in chunk_terms for t in ts}))}
        self.vocabulary = set(self._term_col)
        self._chunk_presence = _incidence([{self._term_col[t] for t in ts} for ts in chunk_terms], len(self._term_col))
        n = max(1, len(chunk_terms))
        df = np.asarray(self._chunk_presence.sum(axis=0)).ravel()
        self.idf = {t: math.log(1 + n / float(df[i])) for t, i in self._term_col.items()}
        self.chunk_doc = chunks.doc
        # Dense search runs over sentences (a chunk scores by its best sentence), as one matrix product
        # for the question and all its clauses: the vectors of citable sentences, their documents, and
        # the first chunk holding each (a sentence in an overlap is also the next chunk's first).
        self.sent_rows = np.flatnonzero(sents.citable)
        self.sent_vecs = data.sentence_store.get(sents.id[self.sent_rows]) if len(self.sent_rows) \
            else np.zeros((0, data.dim), np.float32)
        self.sent_doc = sents.doc[self.sent_rows]
        self._sent_matrix = None  # the same vectors as a torch matrix, made on first search
        # How typical each sentence is of its own article: its dot with the mean of the article's
        # other sentence vectors. A sentence restating the article's topic matches every question
        # about the article; the fact a clause asks for is what sets its sentence apart from the rest.
        # The mean leaves the sentence itself out: in a one- or two-sentence article (a news brief,
        # a quiz note) a sentence is otherwise mostly its own mean and its discount its own cosine.
        n_sent = len(self.sent_rows)
        member = sparse.csr_matrix((np.ones(n_sent, np.float32), (self.sent_doc, np.arange(n_sent))),
                                   shape=(len(docs), n_sent))
        sums = np.asarray(member @ self.sent_vecs)  # each article's sum of sentence vectors
        counts = np.bincount(self.sent_doc, minlength=len(docs))[self.sent_doc] if n_sent else np.zeros(0)
        own = np.einsum("ij,ij->i", self.sent_vecs, self.sent_vecs)
        others = np.einsum("ij,ij->i", self.sent_vecs, sums[self.sent_doc]) - own
        self.sent_typicality = np.where(counts > 1, others / np.maximum(counts - 1, 1), 0.0).astype(np.float32)
        self.sent_chunk = np.full(len(self.sent_rows), -1, np.int64)
        position = np.searchsorted(self.sent_rows, np.concatenate(self.citable_rows)) if self.citable_rows \
            else np.zeros(0, np.int64)
        sizes = [len(r) for r in self.citable_rows]
        holder = np.repeat(np.arange(len(sizes)), sizes)
        self.sent_chunk[position[::-1]] = holder[::-1]  # the earliest chunk wins
        self.chunk_sents = np.split(position, np.cumsum(sizes)[:-1]) if sizes else []  # positions in sent_rows
        # Which terms each citable sentence holds, as a sparse matrix: the coverage of a question's
        # terms by every sentence is then one product.
        self._presence = _incidence([[self._term_col[t] for t in self._sentence_term_sets[int(r)]]
                                     for r in self.sent_rows], len(self._term_col))
        self.chunk_names = [None] * len(data.chunks)  # names in each chunk and its title, read on demand
        self.cues = MetadataCues([d.source for d in docs], [d.published for d in docs])
        self.entity_reader = EntityReader()

    def query(self, question: str, filters=None) -> Query:
        """Read a question: outlets and dates it names, its clauses, and every vector in one model call.
        `filters` (filters.Filters) limits every search of it to the articles they let through."""
        from dataclasses import replace

        q = self._query(question)
        allowed = filters.mask(self.data.documents) if filters is not None else None
        return replace(q, allowed=allowed) if allowed is not None else q

    def _query(self, question: str) -> Query:
        s = self.settings
        outlets = self.cues.outlets(question) if s.metadata else []
        dates = self.cues.date_mask(question) if s.metadata else None
        parts = clauses(question, [(a, b) for a, b, _ in outlets]) if s.clauses else []
        content = without_outlets(question, outlets)
        if parts and self.embedder.mean_pooled:
            # Clause vectors pooled from the question's own pass, so each clause is read in the
            # question's context ("his" knows who), blended with the clause read alone (its own
            # words carry more weight there), all in one model call.
            alone = [content[a:b] for a, b in parts] if s.clause_own_share > 0 else []
            qvecs, pooled = self.embedder.embed_packed([content] + alone, [parts] + [[] for _ in alone])
            cvecs = pooled[0]
            cvecs[np.isnan(cvecs[:, 0])] = qvecs[0]  # a clause past the model's limit: the whole question
            if alone:
                cvecs = (1 - s.clause_own_share) * cvecs + s.clause_own_share * qvecs[1:]
                cvecs /= np.linalg.norm(cvecs, axis=1, keepdims=True)
            return Query(question, content, qvecs[0], outlets, dates, parts, cvecs)
        vecs = self.embedder.embed([content] + [content[a:b] for a, b in parts])
        return Query(question, content, vecs[0], outlets, dates, parts, vecs[1:])

    def search(self, q: Query, k: int = 10) -> list[ChunkHit]:
        """The best `k` chunks: dense and BM25 rankings fused by reciprocal rank, then reranked.

        With metadata on, a question that names outlets is searched within each outlet's articles
        (a comparison needs both sides), and articles published on a date it names get a boost.
        A long question's clauses are searched too, each within the outlets it names, so each fact
        it strings together gets its own ranking. The rankings are merged by how sure each one is of
        its chunks (`_merge_scored`).
        """
        if not len(self.data.chunks):
            return []
        s = self.settings
        boost = self._date_boost(q.dates)
        qterms = [t for t in terms(q.content) if t in self.vocabulary]
        scores: dict[int, float] = {}
        rankings: list[list[int]] = []
        sure: list[np.ndarray] = []  # per ranking, its chunks' scores for the merge

        def rank(cos, qt, mask, boost_) -> list[int]:
            if q.allowed is not None:  # the user's filters hold in every ranking
                mask = q.allowed if mask is None else mask & q.allowed
            part = self._rerank(self._fuse(cos, qt, mask, boost_), qt, mask)
            for r, v in part.items():
                scores.setdefault(r, v)
            order = sorted(part, key=lambda r: -part[r])
            # Reciprocal-rank scores say little about how much better the first chunk is than the
            # next; the best sentence's cosine, in the same units, does.
            top = order[:MERGE_DEPTH]
            cosine = self._chunk_best(cos, top) * (s.merge_cosine_weight / (RRF_K + 1))
            sure.append(np.array([part[r] for r in top]) + cosine)
            return order

        dense = self._cosines(np.vstack([q.vec, *q.clause_vecs]))  # sentences x (question, clauses)
        dense -= s.typical_weight * self.sent_typicality[:, None]
        if q.allowed is not None and not q.allowed.any():
            return []
        outlet_masks = [self._doc_mask(docs) for _, _, docs in q.outlets]
        distinct = list({tuple(docs): m for (_, _, docs), m in zip(q.outlets, outlet_masks)}.values())
        rankings += [rank(dense[:, 0], qterms, mask, boost) for mask in distinct or [None]]
        texts = [q.content] * len(rankings)  # what each ranking searched for
        extra = self._feedback(q.text, rankings) if q.clauses else []
        for j, (a, b) in enumerate(q.clauses, start=1):
            text = q.content[a:b]
            named = [m for o, m in zip(q.outlets, outlet_masks) if a <= o[0] < b] or outlet_masks
            mask = np.logical_or.reduce(named) if named else None
            dates = self.cues.date_mask(text) if s.metadata else None
            cterms = [t for t in terms(text) if t in self.vocabulary] + extra
            rankings.append(rank(dense[:, j], cterms, mask, boost if dates is None else self._date_boost(dates)))
            texts.append(text)
        if self.reranker is not None:
            rankings = self._cross_rerank(rankings, texts)
            ranked = _merge(rankings, s.list_fusion_k) if len(rankings) > 1 else rankings[0]
        else:
            ranked = _merge_scored(rankings, sure, s.merge_temperature) if len(rankings) > 1 else rankings[0]
        if len(ranked) < k and q.outlets:  # the named outlets hold too little: fill from everything
            have = set(ranked)
            ranked += [r for r in rank(dense[:, 0], qterms, None, boost) if r not in have]
        best = ranked[:k]
        vecs = self.data.chunk_store.get(self.data.chunk_view.id[best]) if best else np.zeros((0, len(q.vec)))
        return [ChunkHit(r, scores[r], float(d)) for r, d in zip(best, vecs @ q.vec)]

    def _chunk_best(self, cos: np.ndarray, rows: list[int]) -> np.ndarray:
        """Each chunk's best sentence cosine (`cos` holds one per citable sentence)."""
        sents = [self.chunk_sents[r] for r in rows]
        sizes = np.fromiter(map(len, sents), np.int64, len(sents))
        if not len(rows) or not sizes.all():  # no chunks, or one with no citable sentence: one at a time
            return np.array([cos[x].max() if len(x) else 0.0 for x in sents], np.float32)
        return np.maximum.reduceat(cos[np.concatenate(sents)], np.concatenate([[0], np.cumsum(sizes)[:-1]]))

    def _cross_rerank(self, rankings: list[list[int]], texts: list[str]) -> list[list[int]]:
        """Each ranking's best `reranker_depth` chunks reordered by the cross-encoder's score for that
        ranking's own text (a clause's candidates against the clause), in one batch of pairs."""
        n = self.settings.reranker_depth
        texts = [" ".join(t.split()) for t in texts]  # blanked outlet names leave runs of spaces
        pairs = list(dict.fromkeys((t, r) for ranking, t in zip(rankings, texts) for r in ranking[:n]))
        docs = self.data.documents
        passages = [(t, f"{docs[int(self.chunk_doc[r])].title}\n{self.chunk_text[r]}") for t, r in pairs]
        score = dict(zip(pairs, self.reranker.scores(passages).tolist()))
        return [sorted(ranking[:n], key=lambda r: -score[(t, r)]) + ranking[n:] for ranking, t in zip(rankings, texts)]

    def _date_boost(self, dates: np.ndarray | None) -> np.ndarray | None:
        return None if dates is None else dates[self.chunk_doc] * (self.settings.date_bonus / (RRF_K + 1))

    def _feedback(self, question: str, rankings: list[list[int]]) -> list[str]:
        """Names the best chunks share that the question lacks: the answer of an inference question
        ("which individual ...?") is the bridge to facts that name it but echo no clause words."""
        n = self.settings.feedback_names
        if n <= 0:
            return []
        known = set(key_terms(question)) | set(terms(question))
        counts: Counter[str] = Counter()
        for row in _merge(rankings, self.settings.list_fusion_k)[:5]:
            if self.chunk_names[row] is None:
                title = self.data.documents[int(self.chunk_doc[row])].title
                self.chunk_names[row] = frozenset(key_terms(f"{title} . {self.chunk_text[row]}"))
            counts.update(t for t in self.chunk_names[row] if t not in known)
        ranked = sorted(counts.items(), key=lambda tc: (-tc[1], tc[0]))  # ties by name: runs repeat exactly
        return [t for t, c in ranked[:n] if c >= 3 and t in self.vocabulary]

    def _rerank(self, fused: dict[int, float], qterms: list[str], mask: np.ndarray | None = None) -> dict[int, float]:
        """Add the best single sentence's coverage of the question's terms: a gold fact is one
        sentence, and a chunk whose words are spread thin over many sentences is a weaker match.
        Terms are weighted by their idf within the articles searched (`mask`)."""
        w = self.settings.rerank_weight
        if w <= 0 or not qterms:
            return fused
        out = dict(fused)
        cov = self._coverages(self._term_weights(qterms, mask))
        for row in sorted(fused, key=lambda r: -fused[r])[: self.settings.rerank_depth]:
            best = float(cov[self.chunk_sents[row]].max()) if len(self.chunk_sents[row]) else 0.0
            out[row] = fused[row] + w * best / (RRF_K + 1)
        return out

    def _coverages(self, weights: list[tuple[str, float]]) -> np.ndarray:
        """`_covered` for every citable sentence at once (in `sent_rows` order)."""
        per_term: dict[int, float] = {}
        for t, w in weights:
            if t in self._term_col:
                per_term[self._term_col[t]] = per_term.get(self._term_col[t], 0.0) + w
        if not per_term:
            return np.zeros(len(self.sent_rows), np.float32)
        return self._presence[:, list(per_term)] @ np.fromiter(per_term.values(), np.float32)

    def _cosines(self, vecs: np.ndarray) -> np.ndarray:
        """Every citable sentence's cosine to each of `vecs`, by torch: numpy's BLAS threads would
        spin on the same two cores as the model's next forward pass and slow it threefold."""
        import torch

        if self._sent_matrix is None:
            # bf16 when the embedder runs in bf16 (CPUs with AMX, AVX512-BF16): 4x faster here, and the
            # ranking of sentences is the same to within 1% of the top 150 (scores use fp32 later).
            m = torch.from_numpy(self.sent_vecs)
            self._sent_matrix = m.to(torch.bfloat16) if self.embedder.bf16 else m
        m = self._sent_matrix
        # (vecs x m^T) reads the sentence matrix row by row: a third faster than (m x vecs^T) here.
        return torch.nn.functional.linear(torch.from_numpy(np.ascontiguousarray(vecs)).to(m.dtype), m).float().numpy().T

    def _doc_mask(self, docs: list[int]) -> np.ndarray:
        mask = np.zeros(len(self.data.documents), bool)
        mask[docs] = True
        return mask

    def _dense_chunks(self, cos: np.ndarray, mask: np.ndarray | None) -> list[int]:
        """Chunks in order of their best sentence's cosine (`cos`, one per citable sentence)."""
        n = self.settings.candidates
        if mask is not None:
            cos = np.where(mask[self.sent_doc], cos, -np.inf)
        top = min(len(cos), 3 * n)  # sentences cluster in chunks: three per chunk wanted is plenty
        if top == 0:
            return []
        best = np.argpartition(-cos, top - 1)[:top]
        best = best[np.argsort(-cos[best], kind="stable")]
        chunks = self.sent_chunk[best[np.isfinite(cos[best])]]
        chunks = chunks[chunks >= 0]
        _, first = np.unique(chunks, return_index=True)
        return chunks[np.sort(first)][:n].tolist()

    def _fuse(self, cos, qterms, mask, boost) -> dict[int, float]:
        """Fused scores of dense and BM25 candidates, within `mask` (a document mask) if given."""
        s = self.settings
        fused: dict[int, float] = {}
        for rank, row in enumerate(self._dense_chunks(cos, mask)):
            fused[row] = fused.get(row, 0.0) + s.dense_weight / (RRF_K + rank + 1)
        if mask is not None:
            mask = mask[self.chunk_doc]
        if self.bm25 is not None and qterms:
            # Scores of every chunk at once: bm25s's own retrieve() starts a thread pool per call,
            # which took longer than the scoring.
            bm = self.bm25.get_scores(qterms)
            if mask is not None:
                bm = np.where(mask, bm, 0.0)
            k_bm = min(s.candidates, int(np.count_nonzero(bm > 0)))
            if k_bm > 0:
                rows = np.argpartition(-bm, k_bm - 1)[:k_bm]
                rows = rows[np.argsort(-bm[rows], kind="stable")]
                for rank, row in enumerate(rows.tolist()):
                    fused[row] = fused.get(row, 0.0) + s.bm25_weight / (RRF_K + rank + 1)
        if boost is not None:
            for row in fused:
                fused[row] += float(boost[row])
        return fused

    def _term_weights(self, qterms: list[str], mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Each term's share of the question's idf mass, computed once per ranking.

        With `mask` (a document mask), idf counts only the chunks of those articles: within one
        outlet's articles a word they all use ("Google" in TechCrunch's) tells little, however rare
        it is in the whole corpus.
        """
        idf = [self.idf.get(t, 1.0) for t in qterms]
        if mask is not None:
            inside = mask[self.chunk_doc].astype(np.float32)
            known = [t for t in dict.fromkeys(qterms) if t in self._term_col]
            if known:
                held = self._chunk_presence[:, [self._term_col[t] for t in known]].T @ inside
                n = float(inside.sum())
                local = {t: math.log(1 + n / max(float(c), 1.0)) for t, c in zip(known, held)}
                idf = [local.get(t, w) for t, w in zip(qterms, idf)]
        total = sum(idf) or 1.0
        return [(t, w / total) for t, w in zip(qterms, idf)]

    def _covered(self, weights: list[tuple[str, float]], row: int) -> float:
        """Idf-weighted share of the question's terms found in sentence `row`."""
        present = self._sentence_term_sets[row]
        return sum(w for t, w in weights if t in present)

    def sentences(self, q: Query, hits: list[ChunkHit], k: int) -> list[SentenceHit]:
        """The best `k` citable sentences inside the best chunks, near-duplicates collapsed."""
        s = self.settings
        rows: dict[int, int] = {}
        for rank, hit in enumerate(hits[: s.chunks_for_sentences]):
            for r in self.citable_rows[hit.row]:
                rows.setdefault(int(r), rank)
        if not rows:
            return []
        order = list(rows)
        # A sentence scores by the part of the question it answers best: the whole question, or one
        # of its clauses (each fact of a multi-hop question answers one clause, not all of them).
        spans = [(0, len(q.content))] + q.clauses
        at = np.searchsorted(self.sent_rows, order)
        cos = self.sent_vecs[at] @ np.vstack([q.vec, *q.clause_vecs]).T
        typical = (s.typical_weight * self.sent_typicality[at]).tolist()
        parts = [list(dict.fromkeys(terms(q.content[a:b]))) for a, b in spans]
        named = self._doc_mask([d for _, _, docs in q.outlets for d in docs]) if q.outlets else None
        weights = [self._term_weights(t, named) for t in parts]  # idf within the outlets named
        # A short clause is covered in full by any short sentence that names its two or three terms
        # (a league table's "7. Green Bay Packers (6-6)"): its coverage counts in proportion.
        scale = [1.0] + [min(1.0, len(t) / s.clause_terms_full) for t in parts[1:]]
        sign = asked_stance(q.text) if s.stance_word or s.stance_penalty else 0
        scored = []
        for r, views, typ in zip(order, cos.tolist(), typical):
            lex = [self._covered(w, r) for w in weights]
            best = max(c + s.lexical_weight * x * f for c, x, f in zip(views, lex, scale)) - typ
            score = best + s.chunk_weight / (1 + rows[r])
            if sign:
                score += stance_bonus(sign, self.sentence_text[r], s.stance_word, s.stance_penalty)
            scored.append(SentenceHit(r, score, views[0], lex[0], rows[r]))
        scored.sort(key=lambda h: -h.score)
        if s.answer_type_weight > 0 or s.actor_weight > 0:
            scored = self._typed(q.text, scored)
        out: list[SentenceHit] = []
        seen: list[set[str]] = []
        depth = max(k, s.reader_depth if self.reader is not None else 0)
        for h in scored:
            words = self._sentence_term_sets[h.row]
            if any(_jaccard(words, w) > 0.8 for w in seen):
                continue  # the same sentence syndicated in two articles: cite it once
            seen.append(words)
            out.append(h)
            if len(out) == depth:
                break
        if self.reader is not None:
            out = self._read(q.text, out)
        return out[:k]

    def _typed(self, question: str, scored: list[SentenceHit]) -> list[SentenceHit]:
        """The best sentences that name a thing of the asked kind the question does not name
        (answer_types.py) score `answer_type_weight` higher."""
        from dataclasses import replace

        from ..answer.statement import asked

        s = self.settings
        a = asked(question)
        # "Who criticised X?": a sentence whose subject is a person the question does not name
        # reports what that person did, a surer sign than a name anywhere in it.
        w = s.actor_weight if a.actor else s.answer_type_weight
        if w <= 0:
            return scored
        top = scored[: s.answer_type_depth]
        holds = self.entity_reader.answers(question, [h.row for h in top], [self.sentence_text[h.row] for h in top])
        top = [replace(h, score=h.score + w) if yes else h for h, yes in zip(top, holds)]
        return sorted(top, key=lambda h: -h.score) + scored[s.answer_type_depth:]

    def passage(self, row: int) -> str:
        """Sentence `row` as the reader reads it: with its article's title, and the sentence before
        it when it leans on that one (reader.passage)."""
        from .reader import passage

        title = self.data.documents[int(self.data.sentence_view.doc[row])].title
        return passage(self.sentence_text[row], title, self.previous(row))

    def previous(self, row: int) -> str:
        """The sentence before sentence `row` in its article ("" for an article's first)."""
        sents = self.data.sentence_view
        if row > 0 and int(sents.n[row]) > 0 and sents.doc[row - 1] == sents.doc[row]:
            return self.sentence_text[row - 1]
        return ""

    def _read(self, question: str, hits: list[SentenceHit]) -> list[SentenceHit]:
        """The best sentences rescored with the reader's logit, in one batch."""
        s = self.settings
        top, rest = hits[: s.reader_depth], hits[s.reader_depth:]
        logits = self.reader.scores(" ".join(question.split()), [self.passage(h.row) for h in top]).tolist()
        read = [SentenceHit(h.row, h.score + s.reader_weight * x, h.dense, h.lexical, h.chunk_rank, x)
                for h, x in zip(top, logits)]
        read.sort(key=lambda h: -h.score)
        return read + rest


def _incidence(rows: list, n_cols: int) -> sparse.csc_matrix:
    """A 0/1 matrix with a one at (i, c) for each column c in `rows[i]`, stored by column."""
    lens = np.fromiter(map(len, rows), np.int64, len(rows))
    return sparse.csr_matrix(
        (np.ones(int(lens.sum()), np.float32), np.fromiter((c for cs in rows for c in cs), np.int64, int(lens.sum())),
         np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)),
        shape=(len(rows), n_cols)).tocsc()


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else float(a == b)


def _merge_scored(rankings: list[list[int]], scores: list[np.ndarray], temperature: float) -> list[int]:
    """Rankings merged by how sure each is: a ranking's scores (in first-place votes) become a
    softmax over its chunks, and a chunk's merged score is the sum of its shares.

    A ranking whose first chunk stands well clear of the rest puts nearly all of its weight there,
    so the slots go to the other rankings; a ranking with several chunks close together spreads its
    weight over them and gets a slot for each. Each ranking counts once, however long it is.
    """
    share: dict[int, float] = {}
    for ranking, score in zip(rankings, scores):
        if not len(score):
            continue
        p = np.exp((score - score.max()) * (RRF_K + 1) / temperature)
        for r, v in zip(ranking[:len(score)], (p / p.sum()).tolist()):
            share[r] = share.get(r, 0.0) + v
    return sorted(share, key=lambda r: -share[r])


def _merge(rankings: list[list[int]], k: float, depth: int = MERGE_DEPTH) -> list[int]:
    """Rankings merged by reciprocal rank with a small k: close to taking the first of each, then the
    second of each, but a chunk high in two rankings (two clauses, or a clause and the whole) goes first."""
    score: dict[int, float] = {}
    for ranking in rankings:
        for i, r in enumerate(ranking[:depth]):
            score[r] = score.get(r, 0.0) + 1 / (k + i + 1)
    return sorted(score, key=lambda r: -score[r])
