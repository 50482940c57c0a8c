"""Split a document into sentences with exact character spans, and mark page chrome.

Segmentation is syntok's (rule-based, fast, handles honorifics like "Mr" and dates like "Feb 12").
News text adds one case it splits wrongly: a quoted question or exclamation that runs on into
its attribution ("No boots on the ground? Sounds like abandoning Ukraine," X posted) is one
sentence, so such splits are merged back.
"""

from __future__ import annotations

import re

import syntok.segmenter as syntok

_OPEN_QUOTES = "“\""
_CLOSE_QUOTE_ATTRIBUTION = re.compile(r"[,;–—-]\s*[”\"]\s+[a-z]|[,]\s*[”\"]\s*$")
# `“Why now?” Mr McFaul asked.` is one sentence: a quote ending in ? or ! and its attribution.
_ATTRIBUTION_START = re.compile(
    r"^(?:(?:Mr|Mrs|Ms|Dr|he|she|they|[A-Z][\w.’'-]*)\s+){1,4}(?:said|asked|posted|wrote|told|added|says|asks|replied|tweeted)\b"
)
_END_PUNCT = re.compile(r"[.!?…][\"”’')\]]*\s*$|[\"”’]\s*$")
# Page furniture of scraped news sites: never an answer, whatever its punctuation.
_CHROME = re.compile(
    r"^\s*(sign up( now)?\b|subscribe\b|follow( topic| us)?\b|read more\b|share this\b|advertisement\b|"
    r"(photo|image|video|graphic|illustration)s?\s*:|(photo|image)s? (by|credit)\b|click here\b|"
    r"download the\b|listen to\b|also read\b|related\b\s*:|copyright\b|©)",
    re.I,
)
_CREDIT_LINE = re.compile(r"^\s*(photo|image|video|graphic)s?\s*:", re.I)
MIN_WORDS_WITHOUT_PUNCT = 8


def _paragraphs(text: str):
    """(start, end) of each non-blank line: news pages put one paragraph on a line."""
    pos = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped:
            lead = len(line) - len(line.lstrip())
            yield pos + lead, pos + lead + len(stripped)
        pos += len(line) + 1


def _segment(para: str) -> list[tuple[int, int]]:
    spans = []
    for p in syntok.analyze(para):
        for sent in p:
            if sent:
                spans.append((sent[0].offset, sent[-1].offset + len(sent[-1].value)))
    return spans or [(0, len(para))]


def _quote_open(text: str) -> bool:
    return text.count("“") > text.count("”") or text.count('"') % 2 == 1


def _merge_quoted_questions(para: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if out:
            prev_start, prev_end = out[-1]
            prev = para[prev_start:prev_end]
            nxt = para[start:end]
            # syntok also ends sentences at semicolons; news style does not.
            continues = nxt[:1].islower() or prev.rstrip()[-1:] in ";:,"

            runs_into_attribution = (
                prev.rstrip()[-1:] in "?!" and _quote_open(para[:prev_end]) and _CLOSE_QUOTE_ATTRIBUTION.search(nxt)
            )
            attributed = prev.rstrip()[-2:] in ("?”", "!”", '?"', '!"') and _ATTRIBUTION_START.match(nxt)
            if continues or runs_into_attribution or attributed:
                out[-1] = (prev_start, end)
                continue
        out.append((start, end))
    return out


def is_chrome(text: str) -> bool:
    """Short lines without sentence punctuation (headings, captions, buttons) and known page furniture."""
    if _CHROME.match(text):
        return True
    return not _END_PUNCT.search(text) and len(text.split()) < MIN_WORDS_WITHOUT_PUNCT


def split_sentences(text: str, title: str = "") -> list[tuple[int, int, bool]]:
    """(start, end, citable) for every sentence of `text`; `text[start:end]` is the sentence."""
    out: list[tuple[int, int, bool]] = []
    paras = list(_paragraphs(text))
    for i, (pstart, pend) in enumerate(paras):
        para = text[pstart:pend]
        # A photo caption is the line right before a credit line; the title is shown, not cited.
        caption = i + 1 < len(paras) and bool(_CREDIT_LINE.match(text[paras[i + 1][0]:paras[i + 1][1]]))
        is_title = bool(title) and para.lstrip("# ").strip() == title.strip()
        heading = para.startswith("#")
        for s, e in _merge_quoted_questions(para, _segment(para)):
            sent = para[s:e]
            citable = not (caption or is_title or heading or is_chrome(sent))
            out.append((pstart + s, pstart + e, citable))
    return out
