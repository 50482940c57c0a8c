"""Cited-answer engine for news: sentences with exact spans, hybrid retrieval, checked citations."""

__version__ = "0.1.0"

from .engine import Engine, IndexReport  # noqa: E402
from .errors import IndexCorrupt, IndexMissing, InputError, RagError  # noqa: E402
from .records import Answer, Citation, Document  # noqa: E402

__all__ = ["Engine", "IndexReport", "Answer", "Citation", "Document",
           "RagError", "InputError", "IndexMissing", "IndexCorrupt", "__version__"]
