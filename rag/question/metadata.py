"""Outlets and dates named in a question, matched against the articles' metadata.

News questions often say where and when ("according to TechCrunch", "the Polygon article of
September 26, 2023"). Matching those names against each article's outlet and publication date
narrows retrieval to the articles meant. On MultiHop-RAG nearly every question names an outlet,
so the evaluation reports every figure with these cues off as well (`rag eval --no-metadata`).
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np

_MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"], 1)}
_MONTH_RE = "|".join(list(_MONTHS) + [m[:3] + r"\.?" for m in _MONTHS if len(m) > 3])
_DATE = re.compile(rf"\b({_MONTH_RE})\s+(\d{{1,2}})(?!\d)(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?|\b({_MONTH_RE})\s+(\d{{4}})\b",
                   re.I)

# The words that introduce an outlet's name: "as reported by", "according to", "the article from".
_FRAME_VERBS = ("reported|according|published|covered|detailed|suggested|mentioned|highlighted|noted|stated"
                "|indicated|featured|discussed|described|portrayed")
_FRAME = re.compile(rf"(?:\b(?:as|was|were|is|has been|have been)\s+)?(?:\b(?:{_FRAME_VERBS})\s+)?"
                    r"(?:\b(?:by|to|in|from|on|of)\s+)?(?:\b(?:an?|the)\s+)?(?:\b(?:articles?|reports?|news)\s+)?"
                    r"(?:\b(?:by|from|in|on|of)\s+)?(?:\bthe\s+)?['\"‘“]?$", re.I)


def without_outlets(question: str, outlets: list[tuple[int, int, list[int]]]) -> str:
    """The question with each outlet it names, and the words introducing it, blanked to spaces
    (offsets stay valid). The outlets act as filters; left in, their names are noise to both the
    model and BM25 ("The Age" would match "age", "Fortune" any fortune)."""
    out = question
    for a, b, _ in outlets:
        frame = _FRAME.search(out[:a])
        a = frame.start() if frame else a
        out = out[:a] + " " * (b - a) + out[b:]
    return out


def _aliases(source: str) -> set[str]:
    """Names a question may use for an outlet: "FOX News - Health" -> itself and "FOX News"."""
    s = source.strip()
    names = {s}
    for sep in (" - ", " | ", ": "):
        if sep in s:
            names.add(s.split(sep)[0].strip())
    for n in list(names):
        if n.lower().endswith(".com"):
            names.add(n[:-4])
        if n.lower().startswith("the "):
            names.add(n[4:])
    return {n for n in names if len(n) >= 3}


def _pattern(alias: str) -> re.Pattern:
    """Several words match in any case; one word ("Fortune", "Wired") only as written or in capitals,
    so the common noun does not count as the outlet."""
    if " " in alias:
        return re.compile(rf"(?<!\w){re.escape(alias)}(?!\w)", re.I)
    return re.compile(rf"(?<!\w)(?:{re.escape(alias)}|{re.escape(alias.upper())})(?!\w)")


def _month(token: str) -> int:
    token = token.lower().rstrip(".")
    return next(v for k, v in _MONTHS.items() if k.startswith(token))


class MetadataCues:
    """Per-document outlet names and dates, and the cues a question gives about them."""

    def __init__(self, sources: list[str], published: list[str]):
        self.alias_docs: dict[str, list[int]] = {}
        for row, src in enumerate(sources):
            for a in _aliases(src) if src else ():
                self.alias_docs.setdefault(a, []).append(row)
        # Longest names first, so "The Independent - Sports" wins over "The Independent".
        self._patterns = [(a, _pattern(a)) for a in sorted(self.alias_docs, key=len, reverse=True)]
        # Arrays, so that a question's dates are matched against every article at once.
        self.dates = np.array([p[:10] for p in published], dtype="U10")
        self._suffixes = np.array([d[4:] for d in self.dates], dtype="U6")
        self._months = np.array([d[:7] for d in self.dates], dtype="U7")

    def outlets(self, question: str) -> list[tuple[int, int, list[int]]]:
        """(start, end, document rows) of each mention of an outlet, in the order the question names
        them; an outlet named twice is there twice (a clause that names it searches its articles)."""
        found, taken = [], []
        for alias, pat in self._patterns:
            for m in pat.finditer(question):
                if any(s < m.end() and m.start() < e for s, e in taken):
                    continue  # inside a longer name already matched
                taken.append(m.span())
                found.append((m.start(), m.end(), self.alias_docs[alias]))
        return sorted(found, key=lambda f: f[0])

    def date_mask(self, question: str) -> np.ndarray | None:
        """Documents published on a day (or in a month) the question names; None when it names none."""
        days, months = set(), set()
        for m in _DATE.finditer(question):
            if m.group(1):
                year = m.group(3)
                day = int(m.group(2))
                if 1 <= day <= 31:
                    mo = _month(m.group(1))
                    if year:
                        try:
                            days.add(date(int(year), mo, day).isoformat())
                        except ValueError:
                            pass
                    else:
                        days.add(f"-{mo:02d}-{day:02d}")
            else:
                months.add(f"{int(m.group(5)):04d}-{_month(m.group(4)):02d}")
        if not days and not months:
            return None
        day_list = sorted(days)
        return (np.isin(self.dates, day_list) | np.isin(self._suffixes, day_list)
                | np.isin(self._months, sorted(months)))
