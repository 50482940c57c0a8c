"""Cited-answer engine for news: sentences with exact spans, hybrid retrieval, checked citations."""

__version__ = "0.1.0"
