"""Stance: a question about criticism wants critical sentences, one about praise approving ones.

all-MiniLM-L6-v2 matches topics, not stances: for "who criticised Hegseth?" it ranks Mr Trump's
"I'm backing Ukraine" about Mr Hegseth's remarks above the critic's "Sounds like abandoning
Ukraine". The question's own words carry the stance it asks about ("criticised" is negative,
"praised" positive), and so do a sentence's. Both are read with VADER's sentiment lexicon
(Hutto and Gilbert 2014: 7,500 English words rated by people, MIT; the `vaderSentiment`
package) and its list of negations, nothing written for any article:

- asked "who did ...?" with words leaning negative (or positive), a sentence gains `per_word` for
  each of its words leaning the same way (negations count as negative), at most three;
- a sentence holding no such word is not the answer, and loses `penalty`.

Only questions asking who did something are read this way (statement.Asked.actor): in "how many
people died in the flood?" or "who is the man accused of fraud?" the negative word is the topic,
not a stance asked about.

A question with no stance word ("who defended ...?": "defended" is not in the lexicon) gets no
change: the lexicon's silence is not read as a stance.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[a-z]+(?:['’][a-z]+)?")
LEAN = 0.5  # a word leans negative or positive from this valence (the lexicon runs -4 to 4)


@lru_cache(maxsize=1)
def _lexicon() -> tuple[dict[str, float], frozenset[str]]:
    try:
        from vaderSentiment.vaderSentiment import NEGATE, SentimentIntensityAnalyzer
    except ImportError:
        return {}, frozenset()
    return SentimentIntensityAnalyzer().lexicon, frozenset(NEGATE) | {"no"}


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


@lru_cache(maxsize=4096)
def question_stance(question: str) -> int:
    """-1 when the question asks about something negative ("who criticised ...?"), 1 positive
    ("who praised ...?"), 0 otherwise. The question's names are left out ("Trump" is no stance)."""
    lex, _ = _lexicon()
    lowered = re.sub(r"\b[A-Z][\w'’-]*", " ", question)  # capitalised words: names, and the wh-word
    total = sum(lex.get(w, 0.0) for w in _words(lowered))
    return -1 if total <= -LEAN else 1 if total >= LEAN else 0


def leaning(sentence: str, sign: int) -> int:
    """How many words of `sentence` lean the way of `sign` (negations count as negative)."""
    lex, negate = _lexicon()
    words = _words(sentence)
    if sign < 0:
        return sum(1 for w in words if lex.get(w, 0.0) <= -LEAN or w in negate or w.endswith("n't"))
    return sum(1 for w in words if lex.get(w, 0.0) >= LEAN)


def asked_stance(question: str) -> int:
    """The stance a question asks about (`question_stance`), read only from a question asking who
    did something (statement.Asked.actor): in "how many people died in the flood?" and "who is the
    man accused of fraud?" the negative words are the topic, not a stance asked about."""
    from ..answer.statement import asked

    return question_stance(question) if asked(question).actor else 0


def stance_bonus(sign: int, sentence: str, per_word: float, penalty: float) -> float:
    """Extra score for a sentence that leans the way `sign` (`asked_stance`) says the question asks."""
    if not sign:
        return 0.0
    n = leaning(sentence, sign)
    return per_word * min(3, n) if n else -penalty
