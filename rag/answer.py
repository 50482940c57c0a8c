"""Extractive answers: the best supporting sentences with [n] markers, or an honest refusal."""

from __future__ import annotations

from dataclasses import dataclass

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
    answer_ratio: float = 0.85  # sentences scoring within this share of the best join the answer
    citation_ratio: float = 0.5  # citations scoring below this share of the best are dropped as noise
    answer_sentences: int = 2


def is_answerable(retriever: Retriever, question: str, top: list[SentenceHit], hits_text: str,
                  policy: RefusalPolicy) -> bool:
    """True when the retrieved text covers the question's names and is on topic."""
    if not top:
        return False
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


def compose(top: list[SentenceHit], sentence_text: list[str], policy: RefusalPolicy) -> str:
    """The best sentences, strongest first, each followed by its citation marker."""
    joined = strong(top[: policy.answer_sentences], policy.answer_ratio)  # a prefix: `top` is best first
    return " ".join(f"{sentence_text[h.row].strip()} [{n}]" for n, h in enumerate(joined, 1))
