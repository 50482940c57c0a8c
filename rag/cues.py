"""Question-type cues that a small embedding model misses.

all-MiniLM-L6-v2 gives "who criticised Hegseth?" a cosine of 0.06 to the sentence that answers it
(a quoted attack, "Sounds like abandoning Ukraine," X posted in response to Mr Hegseth's
comments): it matches topics, not stances. Two cheap, explainable signals fill the gap:
- a "who" question wants a sentence that attributes words to a named person;
- a question about criticism wants sentences whose wording is critical or negative; asked "who
  criticised ...?", a sentence with no critical word at all (Mr Trump's "I'm backing Ukraine"
  about Mr Hegseth's remarks) is not the answer, however well it matches the names.
"""

from __future__ import annotations

import re

_WHO = re.compile(r"^\s*(who|whom|whose)\b", re.I)
_REPORTING = re.compile(
    r"\b(said|says|told|posted|wrote|asked|added|described|questioned|critici[sz]ed|slammed|called|tweeted|"
    r"warned|argued|accused|responded|in response to|according to)\b",
    re.I,
)
_NAME = re.compile(r"\b(?:Mr|Mrs|Ms|Dr)\.? [A-Z][\w’'-]+|\b[A-Z][a-z]+ [A-Z][a-z]+(?: [A-Z][a-z]+)?\b")
_CRITICAL_QUESTION = re.compile(
    r"\b(critici[sz]\w*|critic\w*|condemn\w*|slam\w*|attack\w*|blast\w*|object\w*|oppos\w*|denounc\w*|"
    r"reject\w*|disagree\w*|complain\w*)\b",
    re.I,
)
_NEGATIVE = re.compile(
    r"\b(no|not|never|abandon\w*|bad|wrong|fail\w*|danger\w*|concern\w*|warn\w*|critic\w*|condemn\w*|"
    r"slam\w*|surrender\w*|weak\w*|mistake\w*|betray\w*|gifts?|unrealistic|dismay\w*|alarm\w*)\b",
    re.I,
)
_TITLE_WORDS = {"secretary", "minister", "president", "ambassador", "senator", "chancellor", "general",
                "house", "office", "department", "administration", "union", "nations", "states", "court"}
ATTRIBUTION_BONUS = 0.2
CRITICAL_BONUS = 0.12  # per negative cue word, at most three
UNCRITICAL_PENALTY = 0.2  # "who criticised ...?", a sentence with no critical word at all


def _third_party(sentence: str, question_words: set[str]) -> bool:
    """A person named in the sentence who is not the one the question is about."""
    for name in _NAME.findall(sentence):
        parts = {w.lower().rstrip("’'s") for w in name.replace(".", "").split()}
        if not parts & (question_words | _TITLE_WORDS):
            return True
    return False


def cue_bonus(question: str, sentence: str) -> float:
    """Extra score for sentences whose form matches what the question asks for."""
    bonus = 0.0
    if _WHO.search(question) and _REPORTING.search(sentence):
        qwords = {w.lower().rstrip("’'s") for w in re.findall(r"[\w’']+", question)}
        if _third_party(sentence, qwords):
            bonus += ATTRIBUTION_BONUS
    if _CRITICAL_QUESTION.search(question):
        cues = len(_NEGATIVE.findall(sentence))
        # "Who criticised X?" wants the critic's words: a sentence with no critical word is not them.
        bonus += CRITICAL_BONUS * min(3, cues) if cues else -UNCRITICAL_PENALTY * bool(_WHO.search(question))
    return bonus
