"""Which retrieved sentences hold the kind of thing a question asks for.

A question's wh-form says what its answer is ("who" a person or body, "when" a date, "how many" a
figure, "where" a place, "which NOUN" a named thing: statement.asked). A sentence that matches the
question's words but names no such thing, or only the ones the question itself names, restates
the question instead of answering it ("Meta CEO Mark Zuckerberg announced layoffs" for "how many
employees were affected?"). spaCy's English entity recogniser reads the best few candidates, and
those holding an entity of the asked kind that the question does not name score higher
(`Retriever.sentences`, `Settings.answer_type_weight`).

This is the answer-type check of classic question answering; it reads English grammar and
entity labels only, nothing of any article or dataset.
"""

from __future__ import annotations

from collections import OrderedDict

from ..answer.statement import KINDS, _is_subject, _words, asked, pipeline

_CACHE_SIZE = 50_000


class EntityReader:
    """Entities of sentences, read once each (a sentence is a candidate for many questions)."""

    def __init__(self):
        # (row, parsed) -> ((label, folded words, is a subject), ...)
        self._seen: OrderedDict[tuple[int, bool], tuple[tuple[str, frozenset[str], bool], ...]] = OrderedDict()

    def entities(self, rows: list[int], texts: list[str], parse: bool = False) -> list[tuple]:
        """(label, folded words, whether it is a clause's subject) of each sentence's entities.
        Without `parse` only the recogniser runs (faster) and no entity counts as a subject."""
        nlp = pipeline()
        todo = [(r, t) for r, t in zip(rows, texts) if (r, parse) not in self._seen]
        if todo and nlp is not None:
            off = [] if parse else [p for p in ("parser", "tagger", "attribute_ruler") if p in nlp.pipe_names]
            for (r, _), doc in zip(todo, nlp.pipe([t for _, t in todo], disable=off)):
                self._seen[(r, parse)] = tuple(
                    (e.label_, frozenset(_words(e.text) - {"the", "a", "an"}), parse and _is_subject(e))
                    for e in doc.ents)
                if len(self._seen) > _CACHE_SIZE:
                    self._seen.popitem(last=False)
        return [self._seen.get((r, parse), ()) for r in rows]

    def answers(self, question: str, rows: list[int], texts: list[str]) -> list[bool]:
        """For each sentence: it names a thing of the asked kind that the question does not. For
        "who did X?" (a subject question) the person must be the subject of what the sentence
        reports: "remarks by Mr Hegseth and Mr Trump jolted allies" says nothing Trump did."""
        a = asked(question)
        want = KINDS.get(a.kind, ())
        if not want or pipeline() is None:
            return [False] * len(rows)
        qwords = _words(question)
        subject = a.actor
        return [any(label in want and words and not words <= qwords and (is_subject or not subject)
                    for label, words, is_subject in ents)
                for ents in self.entities(rows, texts, parse=subject)]
