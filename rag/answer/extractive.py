"""Extractive answers: what was asked, stated, then the sentences that say it, each with its
[n] marker; or an honest refusal."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..retrieval.search import Retriever, SentenceHit
from ..text.words import key_terms, missing, spelled_as_acronym, terms

NOT_FOUND = "I could not find this in these articles."


@dataclass
class RefusalPolicy:
    """When to say "not in these articles" instead of citing loosely related sentences.

    The answer comes from a logistic model of "the retrieved sentences answer this question"
    (`answerability`, fitted on the dev halves of every dataset: benchmarks/fit_answerability.py)
    whose inputs include the older word-and-cosine rule (`covers`), which stands alone when the
    model file is missing:

    min_dense: the best sentence's cosine to the question below this means nothing is on topic,
    unless every name in the question is found (min_dense_all_names then applies): a short question
    about a named person ("What did James Cleverly say?") scores low cosines against long sentences.
    max_missing_keys: share of the question's names and numbers absent from the best chunks
    above which the question is about something the articles do not cover.
    """

    # The answerability model's probability from which to answer; None: the threshold fitted with it.
    min_answerable: float | None = None
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
    # (stance.py reads only words a lexicon rates; Trump's "I'm backing Ukraine" is neutral to it),
    # so in practice a name comes from the best sentence unless another is as strong.
    state_ratio: float = 0.95
    # With the reader (reader.py): sentences after the best join the answer from this logit up,
    # at most `max_supporting` in all (a "who" answer naming several people cites each).
    reader_support: float = -1.0
    max_supporting: int = 3
    # Questions asking for one of these kinds (statement.asked) are refused when no sentence the
    # answer would cite names a thing of that kind the question does not (answer_types.py): "when
    # was the show founded?" answered by sentences about the show that give no date. Measured on
    # every dev half (BENCHMARKS.md): "place" and "entity" cost answerable questions, these did not.
    typed_kinds: tuple[str, ...] = ("date", "number", "person")


def answerable(retriever: Retriever, question: str, top: list[SentenceHit], hits_text: str,
               policy: RefusalPolicy) -> tuple[bool, float]:
    """Whether the retrieved sentences answer the question, and the answerability model's
    probability that they do: answered from `policy.min_answerable` (default: the threshold
    fitted with the model). Without a model (its file missing), the word-and-cosine rule
    (`covers`) decides and the probability is NaN."""
    if not top:
        return False, 0.0
    model = _model()
    if model is None:
        return covers(question, top, hits_text, policy), float("nan")
    threshold = model["threshold"] if policy.min_answerable is None else policy.min_answerable
    f = answerability_features(retriever, question, top, hits_text, policy)
    p = answerability(model, f)
    # One sentence holding every word and name of the question, on topic, is about what was asked
    # ("What did James Cleverly say?", "What did the head judge say?": short questions, which the
    # training sets lack). On the dev and test halves of every dataset no unanswerable question
    # does this (and 10 of 2,905 answerable ones do).
    full_match = f[1] >= 0.999 and (not f[4] or f[5] == 1.0) and f[0] >= policy.min_dense_all_names
    return (p >= threshold or full_match) and _names_the_asked_kind(retriever, question, top, policy), p


def _names_the_asked_kind(retriever: Retriever, question: str, top: list[SentenceHit], policy: RefusalPolicy) -> bool:
    """False when the question asks for a kind in `policy.typed_kinds` and none of the sentences
    the answer would cite names such a thing (the entity reader's cache makes this nearly free: the
    same sentences were read while they were ranked). All the retrieved sentences were tried
    instead: on a small index they always hold some date or person, and nothing was refused."""
    from .statement import PERSONAL_PRONOUN, asked, pipeline

    a = asked(question)
    if a.kind not in policy.typed_kinds or pipeline() is None:  # no spaCy: no entities to read
        return True
    cited = strong(top, policy.citation_ratio)
    rows, texts = [h.row for h in cited], [retriever.sentence_text[h.row] for h in cited]
    if a.kind == "person" and any(PERSONAL_PRONOUN.match(t) for t in texts):
        return True  # "She trained as a pastry chef in Copenhagen": the person is named before it
    reader = retriever.entity_reader
    if any(reader.answers(question, rows, texts)):
        return True
    # "How many minutes ...?": the recogniser calls "609 minutes" a time, not a figure; any entity
    # holding a digit and the asked unit answers it.
    unit = set(terms(a.unit))
    return a.kind == "number" and bool(unit) and any(
        unit <= set(terms(" ".join(words))) and any(w[:1].isdigit() for w in words)
        for ents in reader.entities(rows, texts) for _, words, _ in ents)


FEATURES = (
    "best sentence cosine",
    "best sentence term coverage",
    "share of the question's names and numbers missing from the best chunks",
    "the same share, each name weighed by its idf",
    "the question has names or numbers",
    "every name and number found",
    "the word-and-cosine rule (covers) answers",
)
MODEL_FILE = Path(__file__).with_name("answerability.json")


def answerability_features(retriever: Retriever, question: str, top: list[SentenceHit], hits_text: str,
                           policy: RefusalPolicy | None = None) -> list[float]:
    """The FEATURES of one question, from what retrieval found (no model call). Whether the top
    sentences name a thing of the asked kind (answer_types.py) was tried as a feature too: its
    weights fitted opposite signs on the two halves of it and no dataset gained (BENCHMARKS.md)."""
    keys = names(question)
    absent = _absent(question, keys, hits_text)
    unseen = math.log(1 + 2 * max(1, len(retriever.chunk_text)))  # a name no chunk holds: rarer than any
    weight = {k: retriever.idf.get(k, unseen) for k in keys}
    best = max((h.dense for h in top), default=0.0)
    rule = bool(top) and _covered(len(keys), len(absent), best, policy or RefusalPolicy())
    return [best, max((h.lexical for h in top), default=0.0),
            len(absent) / len(keys) if keys else 0.0,
            sum(weight[k] for k in absent) / sum(weight.values()) if keys else 0.0,
            float(bool(keys)), float(bool(keys) and not absent), float(rule)]


@lru_cache(maxsize=1)
def _model() -> dict | None:
    try:
        model = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return model if model.get("features") == list(FEATURES) else None


def answerability(model: dict, features: list[float]) -> float:
    """The model's probability that the retrieved sentences answer the question."""
    z = model["bias"] + sum(c * (x - m) / s for c, x, m, s in zip(model["coef"], features, model["mean"], model["scale"]))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def covers(question: str, top: list[SentenceHit], hits_text: str, policy: RefusalPolicy) -> bool:
    """The word-and-cosine rule: the retrieved text holds the question's names and numbers and
    the best sentence is on topic."""
    keys = names(question)
    return _covered(len(keys), len(_absent(question, keys, hits_text)), max(h.dense for h in top), policy)


def _absent(question: str, keys: list[str], hits_text: str) -> list[str]:
    """The question's names (`keys`) the retrieved text lacks, a multi-word name written there as
    its initials ("U.S." for "United States") counting as found."""
    absent = missing(keys, set(terms(hits_text))) if keys else []
    if absent:
        initials = spelled_as_acronym(question, hits_text)
        absent = [k for k in absent if k not in initials]
    return absent


# Months and weekdays are capitalised but say when, not what a question is about: an article that
# answers "which app faces a ban on January 19?" may give the date another way, or not at all.
_CALENDAR = frozenset(terms("January February March April May June July August September October November "
                            "December Monday Tuesday Wednesday Thursday Friday Saturday Sunday"))


def names(question: str) -> list[str]:
    """The question's names and numbers (key_terms) that must be found for it to be answered."""
    return [k for k in dict.fromkeys(key_terms(question)) if k not in _CALENDAR]


def _covered(n_keys: int, missing: int, best: float, policy: RefusalPolicy) -> bool:
    """`covers` from its counts: the question's names and numbers, how many the best chunks lack,
    and the best sentence's cosine."""
    if n_keys and missing / n_keys > policy.max_missing_keys:
        return False
    return best >= policy.min_dense or (n_keys > 0 and missing == 0 and best >= policy.min_dense_all_names)


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
    lead: str = ""  # the stated answer that opens `text` ("" when the question has no stated form)


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
    return Composed(f"{lead} {body}", [at[i] for i in used], answers, lead)
