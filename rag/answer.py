"""Extractive answers: what was asked, stated, then the sentences that say it, each with its
[n] marker; or an honest refusal."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .retrieval import Retriever, SentenceHit
from .text import key_terms, terms

NOT_FOUND = "I could not find this in these articles."


@dataclass
class RefusalPolicy:
    """When to say "not in these articles" instead of citing loosely related sentences.

    min_dense: the best sentence's cosine to the question below this means nothing is on topic,
    unless every name in the question is found (min_dense_all_names then applies): a short question
    about a named person ("What did James Cleverly say?") scores low cosines against long sentences.
    max_missing_keys: share of the question's names and numbers absent from the best chunks
    above which the question is about something the articles do not cover.
    """

    min_dense: float = 0.5
    min_dense_all_names: float = 0.25  # when every name in the question is in the best chunks
    max_missing_keys: float = 0.3
    # Sentences scoring within this share of the best join the answer, at most `answer_sentences`
    # (0.85 and 2 before issue 15; citing every sentence the citation filter keeps, up to three,
    # helped every dataset's dev half: BENCHMARKS.md).
    answer_ratio: float = 0.5
    citation_ratio: float = 0.5  # citations scoring below this share of the best are dropped as noise
    answer_sentences: int = 3
    # A stated name comes only from sentences scoring within this share of the best: a cited
    # sentence may support the answer without its subject being one of the people asked for
    # (nothing here reads stance: Trump's "I'm backing Ukraine" scores 0.89 of the critic's
    # sentence for "who criticised Hegseth?"), so in practice a name comes from the best sentence
    # unless another is as strong.
    state_ratio: float = 0.95
    # With the reader (reader.py): sentences after the best join the answer from this logit up,
    # at most `max_supporting` in all (a "who" answer naming several people cites each).
    reader_support: float = -1.0
    max_supporting: int = 3


def is_answerable(retriever: Retriever, question: str, top: list[SentenceHit], hits_text: str,
                  policy: RefusalPolicy) -> bool:
    """True when the retrieved sentences answer the question (`covers`). The reader's logit is
    not used here: no threshold on it held on both datasets (BENCHMARKS.md, issue 15)."""
    return bool(top) and covers(question, top, hits_text, policy)


def covers(question: str, top: list[SentenceHit], hits_text: str, policy: RefusalPolicy) -> bool:
    """The rule used without a reader: the retrieved text holds the question's names and numbers
    and the best sentence is on topic."""
    keys = list(dict.fromkeys(key_terms(question)))
    missing = 0
    if keys:
        present = set(terms(hits_text))
        missing = sum(1 for k in keys if k not in present)
        if missing / len(keys) > policy.max_missing_keys:
            return False
    best = max(h.dense for h in top)
    return best >= policy.min_dense or (bool(keys) and missing == 0 and best >= policy.min_dense_all_names)


def strong(top: list[SentenceHit], ratio: float) -> list[SentenceHit]:
    """The sentences scoring at least `ratio` of the best. A score can fall to zero or below (a
    sentence typical of its article is marked down); a share of it would then drop the best itself,
    so such a list is kept whole."""
    if not top or top[0].score <= 0:
        return top
    return [h for h in top if h.score >= ratio * top[0].score]


@dataclass
class Composed:
    """An extractive answer: its text, which of the retrieved sentences it cites (in the order of
    their [n] numbers), and its stated parts."""

    text: str
    cited: list[int]  # indices into the retrieved sentences
    answers: list[dict] = field(default_factory=list)  # [{"text", "citations": [n, ...]}]


def supporting(top: list[SentenceHit], policy: RefusalPolicy) -> list[int]:
    """Where in `top` the sentences an answer may draw on are: the best, and those the reader also
    says answer the question (without a reader, those scoring close to the best)."""
    if top and not math.isnan(top[0].reader):
        return [0] + [i for i in range(1, min(len(top), policy.max_supporting))
                      if not math.isnan(top[i].reader) and top[i].reader >= policy.reader_support]
    # `top` is best first, so the strong ones are a prefix.
    return list(range(len(strong(top[: policy.answer_sentences], policy.answer_ratio))))


def compose(question: str, top: list[SentenceHit], sentence_text: list[str], previous: list[str],
            policy: RefusalPolicy) -> Composed:
    """What was asked first (statement.py), then the sentences it comes from, each with its
    marker; a plain answer of the best sentences when the question has no stated form."""
    from .statement import state

    at = supporting(top, policy)  # each pool sentence's place in `top`
    pool = [top[i] for i in at]
    texts = [sentence_text[h.row].strip() for h in pool]
    sure = len(strong(pool, policy.state_ratio))  # a prefix of the pool, best first
    st = state(question, texts, [previous[i] for i in at], name_sentences=sure)
    if st is None:
        used = list(range(min(len(pool), policy.answer_sentences)))
        return Composed(" ".join(f"{texts[i]} [{n}]" for n, i in enumerate(used, 1)), [at[i] for i in used])
    # The stated parts' sentences and the answer's best ones, strongest first.
    used = sorted({i for _, idx in st.parts for i in (j - 1 for j in idx)} | set(range(min(len(pool), policy.answer_sentences))))
    number = {i + 1: n for n, i in enumerate(used, 1)}
    lead = re.sub(r"\[(\d+)\]", lambda m: f"[{number[int(m.group(1))]}]", st.lead)
    body = " ".join(f"{texts[i]} [{n}]" for n, i in enumerate(used, 1))
    answers = [{"text": t, "citations": [number[j] for j in idx]} for t, idx in st.parts]
    return Composed(f"{lead} {body}", [at[i] for i in used], answers)
