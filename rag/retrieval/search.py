"""Hybrid retrieval: dense (over sentences) and BM25 (over chunks) fused by rank, then sentence scoring."""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..index.files import IndexData, Sentences
from ..question.clauses import clauses
from ..question.metadata import MetadataCues, without_outlets
from ..text.words import key_terms, terms
from .answer_types import EntityReader
from .dense import Dense, DenseIndex, sentence_typicality
from .lexical import LEXICON_FILES, ChunkSubset, Lexicon, runs
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
    # A question of one clause naming no outlet: each chunk gains this x its article's lead cosine
    # (dense.lead_text), in first-place votes. Not for a question of several clauses, whose facts lie
    # in several articles (MultiHop-RAG's dev half lost 0.06 answer@3 that way), nor within the
    # articles of an outlet the question names (its mrr@10 lost 0.002): BENCHMARKS.md, sixth step.
    lead_weight: float = 5.0
    reranker_depth: int = 10  # with a cross-encoder (rerank.py): the best of each ranking it reorders
    reader_depth: int = 16  # the best sentences the reader (reader.py) reads
    reader_weight: float = 0.1  # its logit's weight in a sentence's score
    answer_type_weight: float = 0.1  # a sentence naming a thing of the asked kind (answer_types.py) gains this
    actor_weight: float = 0.2  # for a subject "who" question, a sentence whose subject is such a person
    answer_type_depth: int = 12  # among this many best sentences
    stance_word: float = 0.12  # per sentence word leaning the way the question asks about (stance.py)
    stance_penalty: float = 0.2  # "who ...?" with a stance: a sentence leaning neither way loses this
    search: str = "auto"  # "exact": score every sentence even where the index has an approximate one (dense.py)


class SentenceTexts:
    """Each sentence's text, cut from its document when asked for (indexed by sentence row)."""

    def __init__(self, documents, sentences: Sentences):
        self._docs, self._doc, self._start, self._end = documents, sentences.doc, sentences.start, sentences.end

    def __len__(self) -> int:
        return len(self._doc)

    def __getitem__(self, row) -> str:
        row = int(row)
        return self._docs[int(self._doc[row])].text[int(self._start[row]):int(self._end[row])]


class ChunkTexts:
    """Each chunk's citable sentences joined by spaces, when asked for (indexed by chunk row)."""

    def __init__(self, retriever: "Retriever"):
        self._r = retriever

    def __len__(self) -> int:
        return len(self._r.chunk_lo)

    def __getitem__(self, row) -> str:
        r = self._r
        return " ".join(r.sentence_text[x] for x in r.sent_rows[r.chunk_lo[row]:r.chunk_hi[row]].tolist())


class Retriever:
    """Search an `IndexData` with one embedder; built once per loaded index."""

    def __init__(self, data: IndexData, embedder, settings: Settings | None = None, reranker=None, reader=None):
        self.data = data
        self.embedder = embedder
        self.reranker = reranker  # an optional cross-encoder (rerank.py)
        self.reader = reader  # an optional reader (reader.py), or None
        self.settings = settings or Settings()
        docs = data.documents
        sents, chunks = data.sentence_view, data.chunk_view
        self.sentence_text = SentenceTexts(docs, sents)
        # Citable sentences by position (their rows in order); a chunk's citable sentences are the
        # run of positions chunk_lo..chunk_hi.
        self.sent_rows = np.flatnonzero(sents.citable)
        self.sent_doc = sents.doc[self.sent_rows]
        self.chunk_doc = chunks.doc
        self.chunk_lo = np.searchsorted(self.sent_rows, chunks.first)
        self.chunk_hi = np.searchsorted(self.sent_rows, chunks.last, side="right")
        self.chunk_text = ChunkTexts(self)
        # The first chunk holding each sentence (one in an overlap is also the next chunk's first):
        # chunks are stored in order, so it is the first whose run ends past it.
        first = np.searchsorted(self.chunk_hi, np.arange(len(self.sent_rows)), side="right")
        held = first < len(chunks)
        held[held] &= self.chunk_lo[first[held]] <= np.flatnonzero(held)
        self.sent_chunk = np.where(held, first, -1)
        # The lexicon and typicalities saved with the index (`derive`), or made now for an index without them.
        s, n = self.settings, len(self.sent_rows)
        lexicon = Lexicon.load(data.path, s.bm25_k1, s.bm25_b, len(chunks), n) if data.path else None
        self.lexicon = lexicon or Lexicon.build(*corpus_terms(data), s.bm25_k1, s.bm25_b)
        self.idf = self.lexicon.idf
        store = data.sentence_store
        vecs, in_order = data.citable_vectors()
        typical = _load_typicality(data.path, n) if data.path else None
        # Each article's lead vector, or None for an index made before they were saved (no lead bonus).
        self.leads = load_leads(data.path, len(docs), data.dim) if data.path else None
        self.dense = DenseIndex(vecs, self.sent_doc, len(docs), embedder.bf16, store.ann if in_order else None,
                                typical, store.rows if in_order else None)
        self.chunk_names = {}  # names in each chunk and its title, read on demand
        self._subsets = functools.lru_cache(maxsize=8)(self._subset)  # see `_inside`
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
        qterms = self.lexicon.known(q.content)
        scores: dict[int, float] = {}
        rankings: list[list[int]] = []
        sure: list[np.ndarray] = []  # per ranking, its chunks' scores for the merge

        def rank(j, qt, mask, boost_) -> list[int]:
            if q.allowed is not None:  # the user's filters hold in every ranking
                mask = q.allowed if mask is None else mask & q.allowed
            part = self._rerank(self._fuse(dense, j, qt, mask, boost_), qt, mask)
            if j == 0 and lead:
                part = self._lead(part, q.vec)
            for r, v in part.items():
                scores.setdefault(r, v)
            order = sorted(part, key=lambda r: -part[r])
            # Reciprocal-rank scores say little about how much better the first chunk is than the
            # next; the best sentence's cosine, in the same units, does.
            top = order[:MERGE_DEPTH]
            cosine = self._chunk_best(dense, j, top) * (s.merge_cosine_weight / (RRF_K + 1))
            sure.append(np.array([part[r] for r in top]) + cosine)
            return order

        if q.allowed is not None and not q.allowed.any():
            return []
        outlet_masks = [self._doc_mask(docs) for _, _, docs in q.outlets]
        lead = s.lead_weight > 0 and self.leads is not None and not q.clauses and not q.outlets
        # Each sentence's cosine to the question and to each clause (columns), less its typicality.
        dense = self.dense.scores(np.vstack([q.vec, *q.clause_vecs]), s.typical_weight, s.search == "exact",
                                  outlet_masks + ([q.allowed] if q.allowed is not None else []))
        distinct = list({tuple(docs): m for (_, _, docs), m in zip(q.outlets, outlet_masks)}.values())
        rankings += [rank(0, qterms, mask, boost) for mask in distinct or [None]]
        texts = [q.content] * len(rankings)  # what each ranking searched for
        extra = self._feedback(q.text, rankings) if q.clauses else []
        for j, (a, b) in enumerate(q.clauses, start=1):
            text = q.content[a:b]
            named = [m for o, m in zip(q.outlets, outlet_masks) if a <= o[0] < b] or outlet_masks
            mask = np.logical_or.reduce(named) if named else None
            dates = self.cues.date_mask(text) if s.metadata else None
            cterms = self.lexicon.known(text) + extra
            rankings.append(rank(j, cterms, mask, boost if dates is None else self._date_boost(dates)))
            texts.append(text)
        if self.reranker is not None:
            rankings = self._cross_rerank(rankings, texts)
            ranked = _merge(rankings, s.list_fusion_k) if len(rankings) > 1 else rankings[0]
        else:
            ranked = _merge_scored(rankings, sure, s.merge_temperature) if len(rankings) > 1 else rankings[0]
        if len(ranked) < k and q.outlets:  # the named outlets hold too little: fill from everything
            have = set(ranked)
            ranked += [r for r in rank(0, qterms, None, boost) if r not in have]
        best = ranked[:k]
        vecs = self.data.chunk_store.get(self.data.chunk_view.id[best]) if best else np.zeros((0, len(q.vec)))
        return [ChunkHit(r, scores[r], float(d)) for r, d in zip(best, vecs @ q.vec)]

    def _chunk_best(self, dense: Dense, j: int, rows: list[int]) -> np.ndarray:
        """Each chunk's best sentence score for the question's `j`-th vector (0.0 with no citable sentence)."""
        rows = np.asarray(rows, np.int64)
        lo, hi = self.chunk_lo[rows], self.chunk_hi[rows]
        sizes = hi - lo
        if not len(rows):
            return np.zeros(0, np.float32)
        cos = dense.at(j, runs(lo, hi))
        out = np.zeros(len(rows), np.float32)
        has = sizes > 0
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        if len(cos):
            out[has] = np.maximum.reduceat(cos, starts[has])
        return out

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
        """Per document, what a chunk of it gains for being published on a date the question names."""
        return None if dates is None else dates * (self.settings.date_bonus / (RRF_K + 1))

    def _feedback(self, question: str, rankings: list[list[int]]) -> list[str]:
        """Names the best chunks share that the question lacks: the answer of an inference question
        ("which individual ...?") is the bridge to facts that name it but echo no clause words."""
        n = self.settings.feedback_names
        if n <= 0:
            return []
        known = set(key_terms(question)) | set(terms(question))
        counts: Counter[str] = Counter()
        for row in _merge(rankings, self.settings.list_fusion_k)[:5]:
            if row not in self.chunk_names:
                title = self.data.documents[int(self.chunk_doc[row])].title
                self.chunk_names[row] = frozenset(key_terms(f"{title} . {self.chunk_text[row]}"))
            counts.update(t for t in self.chunk_names[row] if t not in known)
        ranked = sorted(counts.items(), key=lambda tc: (-tc[1], tc[0]))  # ties by name: runs repeat exactly
        return [t for t, c in ranked[:n] if c >= 3 and t in self.lexicon]

    def _rerank(self, fused: dict[int, float], qterms: list[str], mask: np.ndarray | None = None) -> dict[int, float]:
        """Add the best single sentence's coverage of the question's terms: a gold fact is one
        sentence, and a chunk whose words are spread thin over many sentences is a weaker match.
        Terms are weighted by their idf within the articles searched (`mask`)."""
        w = self.settings.rerank_weight
        if w <= 0 or not qterms:
            return fused
        out = dict(fused)
        rows = sorted(fused, key=lambda r: -fused[r])[: self.settings.rerank_depth]
        lo, hi = self.chunk_lo[rows], self.chunk_hi[rows]
        cov = self.lexicon.coverages(self._term_weights(qterms, mask), runs(lo, hi))
        at = 0
        for row, size in zip(rows, (hi - lo).tolist()):
            best = float(cov[at:at + size].max()) if size else 0.0
            at += size
            out[row] = fused[row] + w * best / (RRF_K + 1)
        return out

    def _lead(self, scored: dict[int, float], vec: np.ndarray) -> dict[int, float]:
        """Each chunk's score plus `lead_weight` x its article's lead cosine, in first-place votes:
        every chunk of an article gains the same, so the article the question is about rises while
        which of its chunks holds the fact is still for the rest of the score to say."""
        rows = list(scored)
        cos = (np.asarray(self.leads[self.chunk_doc[rows]], np.float32) @ vec).tolist()
        w = self.settings.lead_weight / (RRF_K + 1)
        return {r: scored[r] + w * c for r, c in zip(rows, cos)}

    def _doc_mask(self, docs: list[int]) -> np.ndarray:
        mask = np.zeros(len(self.data.documents), bool)
        mask[docs] = True
        return mask

    def _dense_chunks(self, dense: Dense, j: int, mask: np.ndarray | None) -> list[int]:
        """Chunks in order of their best sentence's score for the question's `j`-th vector."""
        n = self.settings.candidates
        best = dense.top(j, 3 * n, mask)  # sentences cluster in chunks: three per chunk wanted is plenty
        chunks = self.sent_chunk[best]
        chunks = chunks[chunks >= 0]
        _, first = np.unique(chunks, return_index=True)
        return chunks[np.sort(first)][:n].tolist()

    def _fuse(self, dense: Dense, j: int, qterms, mask, boost) -> dict[int, float]:
        """Fused scores of dense and BM25 candidates, within `mask` (a document mask) if given."""
        s = self.settings
        fused: dict[int, float] = {}
        for rank, row in enumerate(self._dense_chunks(dense, j, mask)):
            fused[row] = fused.get(row, 0.0) + s.dense_weight / (RRF_K + rank + 1)
        for rank, row in enumerate(self.lexicon.bm25_top(qterms, s.candidates, mask, self.chunk_doc)):
            fused[row] = fused.get(row, 0.0) + s.bm25_weight / (RRF_K + rank + 1)
        if boost is not None:
            for row in fused:
                fused[row] += float(boost[self.chunk_doc[row]])
        return fused

    def _term_weights(self, qterms: list[str], mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Each term's share of the question's idf mass, with idf counted within the articles in
        `mask` (a document mask) if given (Lexicon.term_weights)."""
        return self.lexicon.term_weights(qterms, None if mask is None else self._inside(mask))

    def _inside(self, mask: np.ndarray) -> ChunkSubset:
        """The chunks of the articles in `mask`, kept for the next few calls with the same articles."""
        return self._subsets(np.packbits(mask).tobytes())

    def _subset(self, packed: bytes) -> ChunkSubset:
        mask = np.unpackbits(np.frombuffer(packed, np.uint8), count=len(self.data.documents)).astype(bool)
        return ChunkSubset(mask[self.chunk_doc])

    def sentences(self, q: Query, hits: list[ChunkHit], k: int) -> list[SentenceHit]:
        """The best `k` citable sentences inside the best chunks, near-duplicates collapsed."""
        s = self.settings
        rows: dict[int, int] = {}
        for rank, hit in enumerate(hits[: s.chunks_for_sentences]):
            for r in self.sent_rows[self.chunk_lo[hit.row]:self.chunk_hi[hit.row]].tolist():
                rows.setdefault(r, rank)
        if not rows:
            return []
        order = list(rows)
        # A sentence scores by the part of the question it answers best: the whole question, or one
        # of its clauses (each fact of a multi-hop question answers one clause, not all of them).
        spans = [(0, len(q.content))] + q.clauses
        at = np.searchsorted(self.sent_rows, order)
        cos = self.dense.fetch(at) @ np.vstack([q.vec, *q.clause_vecs]).T
        typical = (s.typical_weight * self.dense.typicality[at]).tolist()
        parts = [list(dict.fromkeys(terms(q.content[a:b]))) for a, b in spans]
        named = self._doc_mask([d for _, _, docs in q.outlets for d in docs]) if q.outlets else None
        weights = [self.lexicon.columns(self._term_weights(t, named)) for t in parts]  # idf within the outlets named
        # A short clause is covered in full by any short sentence that names its two or three terms
        # (a league table's "7. Green Bay Packers (6-6)"): its coverage counts in proportion.
        scale = [1.0] + [min(1.0, len(t) / s.clause_terms_full) for t in parts[1:]]
        sign = asked_stance(q.text) if s.stance_word or s.stance_penalty else 0
        scored = []
        held = {r: self.lexicon.term_set(p) for r, p in zip(order, at.tolist())}
        for r, views, typ in zip(order, cos.tolist(), typical):
            lex = [self.lexicon.covered(w, held[r]) for w in weights]
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
            words = held[h.row]
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

        title = self.data.sentence(row).document.title
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


TYPICALITY_FILE = "sentences.typicality.npy"
LEAD_FILE = "documents.lead.npy"  # each article's lead vector (dense.lead_text), one row per document


def corpus_terms(data: IndexData) -> tuple[list[list[str]], list[list[str]]]:
    """The terms of every citable sentence (in position order) and of every chunk (its title's,
    then its sentences')."""
    docs, sents, chunks = data.documents, data.sentence_view, data.chunk_view
    text = SentenceTexts(docs, sents)
    rows = np.flatnonzero(sents.citable)
    sentence_terms = [terms(text[r]) for r in rows]
    title_terms = [terms(d.title) for d in docs]
    lo, hi = np.searchsorted(rows, chunks.first), np.searchsorted(rows, chunks.last, side="right")
    chunk_terms = [title_terms[d] + [t for p in range(a, b) for t in sentence_terms[p]]
                   for d, a, b in zip(chunks.doc.tolist(), lo.tolist(), hi.tolist())]
    return sentence_terms, chunk_terms


class _SavedArray:
    """One array saved with an index under `name`."""

    def __init__(self, name: str, array: np.ndarray):
        self.name, self.array = name, array

    def save(self, directory) -> list[str]:
        np.save(directory / self.name, self.array, allow_pickle=False)
        return [self.name]


class _SavedLexicon:
    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon

    def save(self, directory) -> list[str]:
        self.lexicon.save(directory)
        return list(LEXICON_FILES)


def derive(data: IndexData, settings: Settings | None = None, lexicon: Lexicon | None = None,
           typicality: np.ndarray | None = None, leads: np.ndarray | None = None) -> list:
    """What a search of `data` reads that the build saves with the index (IndexData.derived): the
    lexicon (terms, BM25) and each citable sentence's typicality, each made here unless given, and
    the articles' lead vectors when given (they need the model)."""
    s = settings or Settings()
    if typicality is None:
        sents = data.sentence_view
        typicality = sentence_typicality(data.citable_vectors()[0], sents.doc[np.flatnonzero(sents.citable)],
                                         len(data.documents))
    lexicon = lexicon or Lexicon.build(*corpus_terms(data), s.bm25_k1, s.bm25_b)
    out = [_SavedLexicon(lexicon), _SavedArray(TYPICALITY_FILE, typicality)]
    if leads is not None and leads.shape == (len(data.documents), data.dim):
        out.append(_SavedArray(LEAD_FILE, np.ascontiguousarray(leads, np.float32)))
    return out


def _load_typicality(directory, n: int) -> np.ndarray | None:
    try:
        t = np.load(directory / TYPICALITY_FILE, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    return np.asarray(t) if t.shape == (n,) and t.dtype == np.float32 else None


def load_leads(directory, n: int, dim: int) -> np.ndarray | None:
    """The lead vectors saved with the index in `directory` (memory-mapped), or None when it has none."""
    try:
        a = np.load(directory / LEAD_FILE, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    return a if a.shape == (n, dim) and a.dtype == np.float32 else None


def lacks_leads(data: IndexData) -> bool:
    """True for a saved index with articles but no lead vectors (saved before they existed): its
    next update embeds them, and `rag serve` makes that update on start."""
    return bool(data.documents and data.path) and load_leads(data.path, len(data.documents), data.dim) is None


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
