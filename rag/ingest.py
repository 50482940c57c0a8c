"""Read articles from .txt, .md, .html, .json and .jsonl files into `Document`s."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from .errors import InputError
from .records import Document

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl")
MAX_FILE_BYTES = 200 * 1024 * 1024

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n", re.S)
_FRONT_KEYS = {"title", "source", "author", "published", "published_at", "date", "url"}


def content_hash(doc: Document) -> str:
    """Hash of everything that is embedded or shown, so any edit re-embeds the document."""
    h = hashlib.sha256()
    for part in (doc.title, doc.source, doc.author, doc.published, doc.url, doc.text):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def _finish(doc: Document) -> Document:
    return Document(**{**doc.to_json(), "sha256": content_hash(doc)})


def discover(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand directories into the supported files below them; a named file is taken as is."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if f.is_file() and f.suffix.lower() in SUPPORTED and f.name.lower() != "readme.md":
                    files.append(f)
        elif p.exists():
            files.append(p)
        else:
            raise InputError(f"{p}: no such file or directory")
    return files


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(f"{path}: file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit")
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    if b"\0" in data[:8192]:
        raise InputError(f"{path}: binary file, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (bad byte at offset {e.start})") from None
    if not text.strip():
        raise InputError(f"{path}: empty file")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def load_file(path: Path, doc_id: str) -> list[Document]:
    """Read one file into documents; raise `InputError` naming the file when it is unusable."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(f"{path}: unsupported file type {suffix or '(none)'}; use one of {', '.join(SUPPORTED)}")
    text = _read_text(path)
    if suffix in (".html", ".htm"):
        docs = [_from_html(text, path, doc_id)]
    elif suffix == ".json":
        docs = _from_records(_parse_json(text, path), path, doc_id)
    elif suffix == ".jsonl":
        docs = _from_records(_parse_jsonl(text, path), path, doc_id)
    else:
        docs = [_from_plain(text, path, doc_id)]
    return [_finish(d) for d in docs]


def from_text(text: str, doc_id: str, title: str = "", **meta: str) -> Document:
    """A document from pasted text (the UI's paste box); the first line is the title if none is given."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise InputError("the pasted text is empty")
    doc = _from_plain(text, Path(doc_id), doc_id)
    if title:
        doc = Document(**{**doc.to_json(), "title": title})
    if meta:
        doc = Document(**{**doc.to_json(), **meta})
    return _finish(doc)


def _from_plain(text: str, path: Path, doc_id: str) -> Document:
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
        raise InputError(f"{path}: no text after the front matter")
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


def _from_html(html: str, path: Path, doc_id: str) -> Document:
    try:
        import trafilatura
    except ImportError:  # pragma: no cover - trafilatura is a core dependency
        raise InputError("reading .html needs trafilatura: pip install trafilatura") from None
    result = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False, favor_precision=True)
    body = getattr(result, "text", None) if result is not None else None
    if not body or not body.strip():
        raise InputError(f"{path}: no article text found in the HTML")
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


def _parse_json(text: str, path: Path) -> list:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    if isinstance(data, dict):
        data = data.get("documents", data.get("articles", [data]))
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of article records")
    return data


def _parse_jsonl(text: str, path: Path) -> list:
    records = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise InputError(f"{path}: invalid JSON on line {lineno}: {e.msg}") from None
    return records


def _from_records(records: list, path: Path, doc_id: str) -> list[Document]:
    docs = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise InputError(f"{path}: record {i} is not a JSON object")
        body = rec.get("body", rec.get("text"))
        if not isinstance(body, str) or not body.strip():
            raise InputError(f"{path}: record {i} has no 'body' or 'text'")
        title = str(rec.get("title") or "").strip()
        # Title on its own line before the body: titles are searchable and spans stay exact.
        text = body.replace("\r\n", "\n")
        text = f"{title}\n\n{text}" if title else text
        docs.append(
            Document(
                doc_id=f"{doc_id}#{i}",
                title=title or body.strip().splitlines()[0][:300],
                text=text,
                source=str(rec.get("source") or ""),
                author=str(rec.get("author") or ""),
                published=str(rec.get("published_at") or rec.get("published") or ""),
                url=str(rec.get("url") or ""),
                path=str(path),
            )
        )
    if not docs:
        raise InputError(f"{path}: no article records")
    return docs
