"""Word-level helpers shared by BM25, sentence scoring and refusal: one tokenizer for all three."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
# Question words and fillers on top of a standard English stop list: they carry no topic.
_EXTRA_STOP = {"said", "says", "say", "according", "report", "reported", "article", "articles", "news",
               "tell", "told", "did", "does", "do", "who", "whom", "whose", "what", "which", "when", "where",
               "why", "how", "mr", "mrs", "ms", "dr", "also", "would", "could", "s"}


@lru_cache(maxsize=1)
def _stop() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN) | _EXTRA_STOP


@lru_cache(maxsize=1)
def _stemmer():
    try:
        import Stemmer

        return Stemmer.Stemmer("english").stemWords
    except ImportError:  # PyStemmer is optional: without it terms are matched unstemmed
        return lambda words: words


def _plain(token: str) -> str:
    """A lower-cased token with its apostrophes folded and a possessive cut (ukraine’s -> ukraine):
    the one form `terms` and `key_terms` both compare, so a name matches the words that hold it."""
    token = token.replace("’", "'")
    return token[:-2] if token.endswith("'s") else token


def words(text: str) -> list[str]:
    """Lower-cased word tokens with apostrophes folded (Ukraine’s -> ukraine)."""
    return [_plain(w) for w in _WORD.findall(text.lower())]


def terms(text: str) -> list[str]:
    """Stemmed content terms: what BM25 indexes and what lexical overlap compares."""
    stop = _stop()
    return _stemmer()([w for w in words(text) if w not in stop and len(w) > 1])


def key_terms(question: str) -> list[str]:
    """Names and numbers in a question (capitalised words not at its start, digits): what it is about."""
    keys = []
    tokens = _WORD.findall(question)
    for i, tok in enumerate(tokens):
        low = _plain(tok.lower())
        if low in _stop() or len(low) < 2:  # as `terms` drops them: a key it never gives is never found
            continue
        if tok[:1].isupper() and i > 0 or tok.isdigit() or (tok.isupper() and len(tok) > 1):
            keys.append(low)
    return _stemmer()(keys)


def missing(keys: list[str], present: set[str]) -> list[str]:
    """The `keys` (stemmed names) that no term of `present` matches. A name also matches a word
    that extends it, or that it extends, by a short suffix: a country and its people or language
    (Lithuania / Lithuanian, Ukraine / Ukrainian, Japan / Japanese), which stemming keeps apart."""
    out = []
    for k in keys:
        if k in present:
            continue
        if len(k) >= 4 and any(_extends(k, p) for p in present):
            continue
        out.append(k)
    return out


_ACRONYM = re.compile(r"\b(?:[A-Z]\.){2,}|\b[A-Z]{2,6}\b")
_NAME_RUN = re.compile(r"\b[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*)+")


def spelled_as_acronym(question: str, text: str) -> set[str]:
    """The names (stemmed, as key_terms gives them) of the question's multi-word names that `text`
    writes as their initials: "United States" as "US" or "U.S.", "European Union" as "EU"."""
    written = {a.replace(".", "").lower() for a in _ACRONYM.findall(text)}
    out: set[str] = set()
    for m in _NAME_RUN.finditer(question):
        words = m.group().split()
        if m.start() == 0:
            words = words[1:]  # the question's first word is capitalised whatever it is
        if len(words) >= 2 and "".join(w[0] for w in words).lower() in written:
            out.update(key_terms("x " + " ".join(words)))  # key_terms skips a first word
    return out


def _extends(a: str, b: str) -> bool:
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= 4 and 0 < len(long) - len(short) <= 3 and long.startswith(short)


def encodes(text: str) -> bool:
    """True when `text` is valid Unicode that UTF-8 can hold: no lone surrogates, which is what
    undecodable bytes from argv, stdin or a file name, or a "\\ud800" from a JSON client, become."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def fold(text: str) -> str:
    """Lower case, accents and punctuation removed, spaces collapsed: how answers are matched."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())
