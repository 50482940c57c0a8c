"""Split a long question into the clauses that each ask for one fact.

A multi-hop question strings its facts together: "Which company, reported by TechCrunch, has been
compared to OpenAI in AI performance, has recently showcased new hardware at an annual event, and is
accused of harming news publishers?" Searched whole, it finds the articles closest to all of it and
misses the fact behind each clause. Searched clause by clause, each fact gets its own ranking.
"""

from __future__ import annotations

import re

from ..text.words import terms

# Commas (not the one before a year: "September 26, 2023"), semicolons, dashes, the words that open a
# contrasting clause, and "and", "which", "who", "that": "the individual who ... and who ..." strings
# one fact per relative clause.
_BOUNDARY = re.compile(r"[,;](?!\s*\d{4}\b)|\s[—–]\s|\s(?=(?:while|whereas|but|and|which|who|that)\s)",
                       re.IGNORECASE)
MIN_TERMS = 4  # a clause needs this many content terms to be searched on its own


def clauses(question: str, ignore: list[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """(start, end) of each clause with enough content to search for; [] when there is one clause.

    Spans in `ignore` (outlet names, say) do not count towards a clause's content terms. Pieces too
    short to stand alone join the piece after them (the last joins the one before).
    """
    cuts = [0] + [m.start() for m in _BOUNDARY.finditer(question)] + [len(question)]
    pieces = [(a, b) for a, b in zip(cuts, cuts[1:]) if question[a:b].strip(" ,;—–")]

    def content(a: int, b: int) -> int:
        text = "".join(" " if any(s <= i < e for s, e in ignore) else ch
                       for i, ch in enumerate(question[a:b], a))
        return len(set(terms(text)))

    out: list[tuple[int, int]] = []
    start = None
    for a, b in pieces:
        start = a if start is None else start
        if content(start, b) >= MIN_TERMS:
            out.append((start, b))
            start = None
    if start is not None:
        if out:
            out[-1] = (out[-1][0], len(question))
        else:
            return []
    return out if len(out) > 1 else []
