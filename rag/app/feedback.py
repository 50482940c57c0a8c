"""Readers' thumbs up / down on answers: one JSON line each in `feedback.jsonl` beside the index.

A record holds what was asked, what was answered and what it cited, as the server gave it (never
as the client claims it), the rating and the time; never who gave it (no IP, no user agent).
"""

from __future__ import annotations

import datetime
import json
import os
import threading
from pathlib import Path

from ..errors import InputError

FILE = "feedback.jsonl"
RATINGS = ("up", "down", "cleared")
_lock = threading.Lock()  # one append at a time in this process; O_APPEND orders the others


def path(index_dir: str | os.PathLike) -> Path:
    return Path(index_dir) / FILE


def record(index_dir: str | os.PathLike, answer: dict, rating: str) -> dict:
    """Append one rating of `answer` (an Answer's JSON) and return the record written."""
    if rating not in RATINGS:
        raise InputError(f"rating must be one of {', '.join(RATINGS)}, not {rating!r}")
    entry = {
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "rating": rating,
        "question": answer.get("question", ""),
        "answer": answer.get("answer", ""),
        "found": answer.get("found"),
        "citations": [{k: c.get(k) for k in ("n", "doc_id", "sentence_index", "start", "end", "sentence")}
                      for c in answer.get("citations", [])],
    }
    line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
    target = path(index_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)  # one write per record: lines from several processes never interleave
        finally:
            os.close(fd)
    return entry


def read(index_dir: str | os.PathLike) -> list[dict]:
    """Every record, oldest first; a line that is not JSON (a crash mid-write) is skipped."""
    try:
        lines = path(index_dir).read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out
