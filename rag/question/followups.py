"""Follow-up questions: carry the names of the conversation into a question that leans on it."""

from __future__ import annotations

import re

from ..text.words import _WORD

_PRONOUN = re.compile(r"\b(he|she|him|her|his|hers|they|them|their|it|its|this|that|these|those)\b", re.I)
_FOLLOW_UP = re.compile(r"^\s*(and|but|also|what about|how about|then)\b", re.I)
ERROR_MARK = "⚠️"  # how the chat's error replies begin (ui.py)
_SKIP = {"who", "what", "when", "where", "why", "how", "which", "and", "but", "the", "mr", "mrs", "ms", "dr",
         "did", "does", "is", "was", "i", "a", "an", "in", "on", "of"}


def _names(text: str) -> list[str]:
    """Capitalised words not at the start of the text: the names a conversation is about."""
    out = []
    for i, w in enumerate(_WORD.findall(text)):
        if w[:1].isupper() and w.lower() not in _SKIP and (i > 0 or len(w) > 3):
            out.append(w.replace("’s", "").replace("'s", ""))
    return list(dict.fromkeys(out))


def _text(value) -> str:
    """Turn content as plain text: a string, or the text blocks of a list; anything else is nothing.
    Undecodable characters (lone surrogates from a JSON client) are dropped."""
    if isinstance(value, list):
        value = " ".join(b["text"] for b in value if isinstance(b, dict) and isinstance(b.get("text"), str))
    if not isinstance(value, str):
        return ""
    return value.encode("utf-8", "ignore").decode("utf-8")


def normalise_history(history) -> list[dict]:
    """[{"role", "content": str}] from Gradio's shapes (content as a string or a list of text blocks).

    History comes from clients: turns of any other shape are dropped, never trusted."""
    out = []
    for turn in history if isinstance(history, list) else []:
        if isinstance(turn, (list, tuple)) and len(turn) == 2:  # old [user, bot] pairs
            out += [{"role": "user", "content": _text(turn[0])}, {"role": "assistant", "content": _text(turn[1])}]
            continue
        if not isinstance(turn, dict):
            continue
        role = turn.get("role", "user")
        if role in ("user", "assistant"):
            out.append({"role": role, "content": _text(turn.get("content"))})
    return _without_errors(out)


def _without_errors(turns: list[dict]) -> list[dict]:
    """The conversation without its failed exchanges: an empty question, and a question whose
    reply was an error message ("⚠️ ...") together with that reply. Neither is what the
    conversation is about, and a follow-up ("who is he?") must reach past them."""
    out: list[dict] = []
    for t in turns:
        if t["role"] == "user" and not t["content"].strip():
            continue
        if t["role"] == "assistant" and t["content"].lstrip().startswith(ERROR_MARK):
            if out and out[-1]["role"] == "user":
                out.pop()
            continue
        out.append(t)
    return out


def rewrite(question: str, history) -> str:
    """The question made self-contained for retrieval; unchanged when it already is."""
    turns = normalise_history(history)
    previous = [t["content"] for t in turns if t["role"] == "user"]
    if not previous:
        return question
    leans = _PRONOUN.search(question) or _FOLLOW_UP.search(question) or len(_WORD.findall(question)) <= 3
    if not leans:
        return question
    have = {w.lower() for w in _WORD.findall(question)}
    carried = [n for n in _names(previous[-1]) if n.lower() not in have]
    if not carried:
        return question
    return f"{question.rstrip()} ({' '.join(carried)})"
