"""Read articles from .txt, .md, .html, .json and .jsonl files into `Document`s."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from ..errors import InputError
from ..records import Document
from .words import encodes

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl")
MAX_FILE_BYTES = 200 * 1024 * 1024  # a .jsonl of many articles may be large; each one is capped below
# One document's text: a long news feature is 50,000 characters; a million takes minutes to embed
# on two cores, and a 50 MB log pasted as an "article" would take hours. RAG_MAX_DOC_CHARS overrides.
MAX_DOCUMENT_CHARS = int(os.environ.get("RAG_MAX_DOC_CHARS") or 1_000_000)

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n", re.S)
_FRONT_KEYS = {"title", "source", "author", "published", "published_at", "date", "url"}


def content_hash(doc: Document) -> str:
    """Hash of everything that is embedded or shown, so any edit re-embeds the document."""
    h = hashlib.sha256()
    for part in (doc.title, doc.source, doc.author, doc.published, doc.url, doc.text):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def _finish(doc: Document, label: str, max_chars: int) -> Document:
    if len(doc.text) > max_chars:
        raise InputError(f"{label}: {len(doc.text):,} characters, over the {max_chars:,}-character limit "
                         "for one document (--max-doc-chars or RAG_MAX_DOC_CHARS to raise it)")
    return Document(**{**doc.to_json(), "sha256": content_hash(doc)})


def printable(path: str | os.PathLike) -> str:
    """A path as text that can always be printed: undecodable bytes of a file name as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _is_index(directory: Path) -> bool:
    """A rag index (or one of its version directories): never read as articles."""
    if (directory / "CURRENT").is_file():
        return any(directory.glob("v-*")) or (directory / "LOCK").is_file()
    return (directory / "manifest.json").is_file() and (directory / "sentences.npy").is_file()


def discover(paths: list[str | os.PathLike], exclude: list[str | os.PathLike] = ()) -> list[Path]:
    """Expand directories into the supported files below them; a named file is taken as is.

    Index directories below `paths` (and the `exclude` ones) are passed over: their
    documents.jsonl holds articles already indexed, not new ones.
    """
    files: list[Path] = []
    skip = {Path(e).resolve() for e in exclude}
    passed_over: dict[Path, bool] = {}  # per directory, checked once however many files it holds

    def passed(d: Path) -> bool:
        if d not in passed_over:
            passed_over[d] = _is_index(d) or d.resolve() in skip
        return passed_over[d]

    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if any(passed(p / Path(*rel.parts[:i])) for i in range(len(rel.parts))):
                    continue
                if f.is_file() and f.suffix.lower() in SUPPORTED and f.name.lower() != "readme.md":
                    files.append(f)
        elif p.exists():
            files.append(p)
        else:
            raise InputError(f"{printable(p)}: no such file or directory")
    return files


def _read_text(path: Path, label: str, max_bytes: int) -> str:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(f"{label}: file is {size:,} bytes, over the {max_bytes:,}-byte limit")
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)  # the file may grow after the stat
        if len(data) > max_bytes:
            raise InputError(f"{label}: file is over the {max_bytes:,}-byte limit")
    except OSError as e:
        raise InputError(f"{label}: cannot read ({e.strerror or e})") from None
    if b"\0" in data[:8192]:
        raise InputError(f"{label}: binary file, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{label}: not UTF-8 text (bad byte at offset {e.start})") from None
    if not text.strip():
        raise InputError(f"{label}: empty file")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def load_file(path: Path, doc_id: str, label: str | None = None, max_chars: int = MAX_DOCUMENT_CHARS,
              max_bytes: int = MAX_FILE_BYTES) -> list[Document]:
    """Read one file into documents; raise `InputError` naming the file (as `label`, default its
    path) when it is unusable."""
    label = printable(label if label is not None else path)
    if not encodes(os.fsdecode(path)) or not encodes(doc_id):
        raise InputError(f"{label}: the file name is not valid UTF-8; rename the file")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(f"{label}: unsupported file type {suffix or '(none)'}; use one of {', '.join(SUPPORTED)}")
    text = _read_text(path, label, max_bytes)
    if suffix in (".html", ".htm"):
        docs = [_from_html(text, path, doc_id, label)]
    elif suffix == ".json":
        docs = _from_records(_parse_json(text, label), path, doc_id, label)
    elif suffix == ".jsonl":
        docs = _from_records(_parse_jsonl(text, label), path, doc_id, label)
    else:
        docs = [_from_plain(text, path, doc_id, label)]
    return [_finish(d, label if len(docs) == 1 else f"{label} record {i}", max_chars) for i, d in enumerate(docs)]


def from_text(text: str, doc_id: str, title: str = "", max_chars: int = MAX_DOCUMENT_CHARS, **meta: str) -> Document:
    """A document from pasted text (the UI's paste box); the first line is the title if none is given."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise InputError("the pasted text is empty")
    if not encodes(text):
        raise InputError("the pasted text is not valid UTF-8 (it holds a lone surrogate)")
    doc = _from_plain(text, Path(doc_id), doc_id, "the pasted text")
    if title:
        doc = Document(**{**doc.to_json(), "title": title})
    if meta:
        doc = Document(**{**doc.to_json(), **meta})
    return _finish(doc, "the pasted text", max_chars)


def _from_plain(text: str, path: Path, doc_id: str, label: str) -> Document:
    meta: dict[str, str] = {}
    m = _FRONT_MATTER.match(text)
    if m:
        for line in m.group(1).splitlines():
            key, sep, value = line.partition(":")
            key = key.strip().lower()
            if sep and key in _FRONT_KEYS:
                meta[key] = value.strip().strip("\"'")
        # Blank out the front matter rather than cut it, so spans still index the file as written.
        text = " " * m.end() + text[m.end():]
    title = meta.get("title", "")
    if not title:
        first = next((line for line in text.splitlines() if line.strip()), "")
        title = first.strip().lstrip("#").strip()
    if not text.strip():
        raise InputError(f"{label}: no text after the front matter")
    return Document(
        doc_id=doc_id,
        title=title[:300],
        text=text,
        source=meta.get("source", ""),
        author=meta.get("author", ""),
        published=meta.get("published") or meta.get("published_at") or meta.get("date", ""),
        url=meta.get("url", ""),
        path=str(path),
    )


def _from_html(html: str, path: Path, doc_id: str, label: str) -> Document:
    try:
        import trafilatura
        # No extensive date search: it reads a footer's "© 2025" as 2025-01-01; no date is better
        # than a wrong one. Dates in the page's metadata, <time> elements and URL are still read.
        result = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False, favor_precision=True,
                                             date_extraction_params={"extensive_search": False,
                                                                     "original_date": True})
    except ImportError as e:
        # lxml 6 moved lxml.html.clean, which trafilatura imports, into the lxml_html_clean package.
        package = "lxml_html_clean" if "lxml_html_clean" in str(e) else (e.name or "trafilatura").split(".")[0]
        raise InputError(f"{label}: reading .html needs the Python package {package} "
                         f"(pip install {package})") from None
    except RecursionError:
        raise InputError(f"{label}: the HTML is nested too deeply to read") from None
    body = getattr(result, "text", None) if result is not None else None
    if not body or not body.strip():
        raise InputError(f"{label}: no article text found in the HTML")
    title = getattr(result, "title", None) or ""
    text = body if not title else f"{title}\n{body}"
    return Document(
        doc_id=doc_id,
        title=title or body.strip().splitlines()[0][:300],
        text=text,
        source=getattr(result, "sitename", None) or "",
        author=getattr(result, "author", None) or "",
        published=getattr(result, "date", None) or "",
        url=getattr(result, "url", None) or "",
        path=str(path),
    )


def _loads(text: str):
    """json.loads, with nesting past Python's recursion limit reported as bad JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None


def _parse_json(text: str, label: str) -> list:
    try:
        data = _loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{label}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    if isinstance(data, dict):
        data = data.get("documents", data.get("articles", [data]))
    if not isinstance(data, list):
        raise InputError(f"{label}: expected a JSON list of article records")
    return data


def _parse_jsonl(text: str, label: str) -> list:
    records = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(_loads(line))
        except json.JSONDecodeError as e:
            raise InputError(f"{label}: invalid JSON on line {lineno}: {e.msg}") from None
    return records


def _field(value) -> str:
    """A metadata value as text: strings as they are, numbers as written, anything else refused."""
    if value is None:
        return ""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError


def _from_records(records: list, path: Path, doc_id: str, label: str) -> list[Document]:
    docs = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise InputError(f"{label}: record {i} is not a JSON object")
        body = rec.get("body", rec.get("text"))
        if not isinstance(body, str) or not body.strip():
            raise InputError(f"{label}: record {i} has no 'body' or 'text'")
        try:
            meta = {k: _field(rec.get(k)) for k in ("title", "source", "author", "published_at", "published", "url")}
        except TypeError:
            raise InputError(f"{label}: record {i} has a metadata field that is not text") from None
        if not encodes(body + "".join(meta.values())):
            raise InputError(f"{label}: record {i} is not valid UTF-8 text (a lone surrogate)")
        title = meta["title"].strip()
        # Title on its own line before the body: titles are searchable and spans stay exact.
        text = body.replace("\r\n", "\n")
        text = f"{title}\n\n{text}" if title else text
        docs.append(
            Document(
                doc_id=f"{doc_id}#{i}",
                title=title or body.strip().splitlines()[0][:300],
                text=text,
                source=meta["source"],
                author=meta["author"],
                published=meta["published_at"] or meta["published"],
                url=meta["url"],
                path=str(path),
            )
        )
    if not docs:
        raise InputError(f"{label}: no article records")
    return docs
