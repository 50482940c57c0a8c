"""Explicit filters a user sets beside the question: outlets, and a date range of publication."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

MAX_SOURCES = 20


@dataclass(frozen=True)
class Filters:
    sources: tuple[str, ...] = ()  # outlet names, matched whole and without case
    since: str = ""  # YYYY-MM-DD, inclusive
    until: str = ""

    @property
    def active(self) -> bool:
        return bool(self.sources or self.since or self.until)

    def mask(self, docs) -> np.ndarray | None:
        """Which documents pass (None: no filter set). An article with no date fails a date range."""
        if not self.active:
            return None
        wanted = {s.casefold() for s in self.sources}
        out = np.ones(len(docs), bool)
        for i, d in enumerate(docs):
            day = (d.published or "")[:10]
            if wanted and (d.source or "").strip().casefold() not in wanted:
                out[i] = False
            elif (self.since or self.until) and not _is_day(day):
                out[i] = False
            elif self.since and day < self.since or self.until and day > self.until:
                out[i] = False
        return out

    def describe(self) -> str:
        parts = []
        if self.sources:
            parts.append("from " + ", ".join(self.sources))
        if self.since or self.until:
            parts.append(f"published {self.since or '…'} to {self.until or '…'}")
        return "; ".join(parts)


def _is_day(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
        return True
    except ValueError:
        return False


def parse_filters(source=None, since=None, until=None) -> Filters:
    """Filters from user input (CLI options, JSON fields), or InputError naming the bad one.
    `source` is a string (outlets separated by commas) or a list of strings."""
    if source is None or source == "":
        sources: list[str] = []
    elif isinstance(source, str):
        sources = [s.strip() for s in source.split(",") if s.strip()]
    elif isinstance(source, list) and all(isinstance(s, str) for s in source):
        sources = [s.strip() for s in source if s.strip()]
    else:
        raise InputError("source must be an outlet name, names separated by commas, or a list of names")
    if len(sources) > MAX_SOURCES or any(len(s) > 200 for s in sources):
        raise InputError(f"source: at most {MAX_SOURCES} outlet names of up to 200 characters")
    days = []
    for name, value in (("since", since), ("until", until)):
        if value is None or value == "":
            days.append("")
            continue
        if not isinstance(value, str) or not _is_day(value) or len(value) != 10:
            raise InputError(f"{name} must be a date as YYYY-MM-DD, not {str(value)[:40]!r}")
        days.append(value)
    if days[0] and days[1] and days[0] > days[1]:
        raise InputError(f"since ({days[0]}) is after until ({days[1]})")
    return Filters(tuple(dict.fromkeys(sources)), days[0], days[1])
