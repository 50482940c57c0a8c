"""The on-disk index: plain versioned files, checksummed, swapped in atomically.

Layout of an index directory:
    CURRENT                  "<version dir> <sha256 of its manifest.json>"
    v-<stamp>/manifest.json  format, library version, model, dimension, counts, sha256 of every file
    v-<stamp>/documents.jsonl  one document per line, with its full text
    v-<stamp>/sentences.npy  int64 rows: id, doc row, position in doc, start, end, citable
    v-<stamp>/chunks.npy     int64 rows: id, doc row, first sentence row, last sentence row, tokens
    v-<stamp>/chunks.faiss, sentences.faiss   vectors keyed by the ids above
    v-<stamp>/sentences.ann.faiss  from ANN_MIN citable sentences: an approximate index over the
                             same vectors (manifest "vector_index" names it); its ids are positions
    v-<stamp>/lexicon.*, sentences.typicality.npy   what a search reads, derived at build time
                             (retrieval.search.derive) so a load maps it instead of recomputing it
    v-<stamp>/documents.lead.npy  each article's lead vector (retrieval.dense.lead_text)

A write builds a new version directory next to the old one and then replaces CURRENT with
os.replace, which is atomic: a crash at any point leaves the previous version serving. Writers
hold the index's writer lock (`locking.py`); a superseded version is deleted only once no reader
holds its shared lock, and a load that races a swap starts again on the new version.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import IndexCorrupt, IndexMissing, IndexWriteError
from ..records import Document, Sentence
from .locking import check_directory, reading, retiring
from .vectors import ANN_MIN, FaissStore

FORMAT_VERSION = 1
SENT_COLS = ("id", "doc", "n", "start", "end", "citable")
CHUNK_COLS = ("id", "doc", "first", "last", "tokens")
_TABLES = ("documents.jsonl", "sentences.npy", "chunks.npy", "chunks.faiss", "sentences.faiss")
ANN_FILE = "sentences.ann.faiss"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# A file this large or larger is checked at load by its size and a hash of SAMPLE_BLOCKS blocks spread
# over it (the whole-file sha256 stays in the manifest for `rag check`): at a million chunks the
# vector files are 15 GB, and hashing them whole took 42 of the 61 s before the first answer.
# Smaller files, the manifest and every file of an older manifest are hashed whole at every load.
SAMPLE_FROM = 64 << 20
SAMPLE_BLOCKS = 256
SAMPLE_BYTES = 1 << 16


def _sampled_sha256(path: Path) -> str:
    """sha256 of the file's size, SAMPLE_BLOCKS blocks of SAMPLE_BYTES spread evenly over it and its last block."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        h = hashlib.sha256(str(size).encode())
        step = max(1, size // SAMPLE_BLOCKS)
        for offset in [min(i * step, size) for i in range(SAMPLE_BLOCKS)] + [max(0, size - SAMPLE_BYTES)]:
            h.update(os.pread(f.fileno(), SAMPLE_BYTES, offset))
    return h.hexdigest()


try:  # orjson (which Gradio already brings) parses a large index's documents several times faster
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover
    _fast_loads = json.loads


def _json_loads(line: bytes):
    try:
        return _fast_loads(line)
    except ValueError:  # what orjson is stricter about than json (a lone surrogate's escape): json decides
        return json.loads(line)


class _DocumentTexts:
    """The texts of a version's documents, each read from documents.jsonl when first asked for and
    kept among the last CACHE read. A large index's texts are most of its memory otherwise (2.1 GB
    as Python strings at a million chunks, against some 60 MB for the rest of the documents)."""

    CACHE = 4096

    def __init__(self, path: Path, offsets: np.ndarray):
        import functools

        self._fd = os.open(path, os.O_RDONLY)
        self._offsets = offsets  # line i spans offsets[i]:offsets[i + 1]
        self._text = functools.lru_cache(maxsize=self.CACHE)(self._read)

    def __call__(self, row: int) -> str:
        return self._text(row)

    def _read(self, row: int) -> str:
        a, b = int(self._offsets[row]), int(self._offsets[row + 1])
        return _json_loads(os.pread(self._fd, b - a, a))["text"]

    def __del__(self):
        try:
            os.close(self._fd)
        except (OSError, AttributeError):
            pass


class StoredDocument(Document):
    """A document of a large index whose text stays on disk until read (`text`, through the
    version's `_DocumentTexts`); everything else about it is a `Document`. Copied or pickled, it
    becomes a plain Document with its text."""

    @property
    def text(self) -> str:  # type: ignore[override]
        return self.__dict__["_texts"](self.__dict__["_row"])

    def __new__(cls, *args, **kwargs):  # dataclasses.replace(doc, ...) makes a plain Document
        return Document(*args, **kwargs) if args or kwargs else object.__new__(cls)

    @classmethod
    def make(cls, meta: dict, texts: _DocumentTexts, row: int) -> "StoredDocument":
        doc = object.__new__(cls)
        doc.__dict__.update(meta, _texts=texts, _row=row)
        return doc

    def __reduce__(self):
        return Document, tuple(getattr(self, f) for f in Document.__dataclass_fields__)


def _stored_documents(path: Path) -> list[Document]:
    """The documents in `path` with their texts left there (`StoredDocument`)."""
    metas, offsets = [], [0]
    with open(path, "rb") as f:
        for line in f:
            meta = _json_loads(line)
            meta.pop("text", None)
            metas.append(meta)
            offsets.append(offsets[-1] + len(line))
    texts = _DocumentTexts(path, np.array(offsets, np.int64))
    return [StoredDocument.make(meta, texts, row) for row, meta in enumerate(metas)]


def _column(columns: tuple[str, ...], name: str, doc: str) -> property:
    i = columns.index(name)
    return property(lambda self: self.table[:, i], doc=doc)


@dataclass(frozen=True)
class _Table:
    """An int64 table read by column name; each column is a writable view of `table`."""

    table: np.ndarray

    def __len__(self) -> int:
        return len(self.table)


class Sentences(_Table):
    """The sentence table (columns SENT_COLS): `Sentences(t).doc` is the view `t[:, 1]`."""

    id = _column(SENT_COLS, "id", "each sentence's id in the sentence store")
    doc = _column(SENT_COLS, "doc", "its document's row")
    n = _column(SENT_COLS, "n", "its position in the document")
    start = _column(SENT_COLS, "start", "its first character in the document's text")
    end = _column(SENT_COLS, "end", "the character after its last")
    citable = _column(SENT_COLS, "citable", "1 when it may be cited (page chrome is kept for spans but never cited)")


class Chunks(_Table):
    """The chunk table (columns CHUNK_COLS): `Chunks(t).first` is the view `t[:, 2]`."""

    id = _column(CHUNK_COLS, "id", "each chunk's id in the chunk store")
    doc = _column(CHUNK_COLS, "doc", "its document's row")
    first = _column(CHUNK_COLS, "first", "its first sentence's row")
    last = _column(CHUNK_COLS, "last", "its last sentence's row")
    tokens = _column(CHUNK_COLS, "tokens", "its length in tokens")


@dataclass
class IndexData:
    """Everything an index holds, in memory."""

    model: str
    dim: int
    documents: list[Document]
    sentences: np.ndarray  # (n, 6) int64, columns SENT_COLS
    chunks: np.ndarray  # (n, 5) int64, columns CHUNK_COLS
    chunk_store: FaissStore
    sentence_store: FaissStore
    settings: dict = field(default_factory=dict)
    next_id: int = 0
    version: str = ""
    path: Path | None = None  # the version's directory, once saved or loaded
    # Structures derived from the tables, saved beside them: objects with save(directory) -> file names.
    derived: list = field(default_factory=list, repr=False)

    @property
    def sentence_view(self) -> Sentences:
        return Sentences(self.sentences)

    @property
    def chunk_view(self) -> Chunks:
        return Chunks(self.chunks)

    def sentence(self, row: int) -> Sentence:
        """The sentence at `row` of the sentence table, with its document and span."""
        s = self.sentence_view
        row = int(row)
        return Sentence(row, self.documents[int(s.doc[row])], int(s.n[row]), int(s.start[row]), int(s.end[row]))

    def citable_vectors(self) -> tuple[np.ndarray, bool]:
        """The citable sentences' vectors in sentence-row order, and whether the store holds them
        in that order (the build adds them so): then they are the store's own, read in place."""
        s = self.sentence_view
        ids = s.id[np.flatnonzero(s.citable)]
        store = self.sentence_store
        if np.array_equal(store.ids(), ids):
            return store.vectors(), True
        return store.get(ids), False

    @classmethod
    def empty(cls, model: str, dim: int, settings: dict) -> "IndexData":
        return cls(model, dim, [], np.zeros((0, 6), np.int64), np.zeros((0, 5), np.int64),
                   FaissStore(dim), FaissStore(dim), settings)


_VERSION_NAME = re.compile(r"v-[0-9A-Za-z_.-]{1,100}")
_VERSION_FILE = re.compile(r"[a-z][a-z0-9_]{0,40}(\.[a-z0-9_]{1,20}){1,3}")  # a plain file name, never a path
LOAD_RETRIES = 20


def exists(directory: Path) -> bool:
    return (Path(directory) / "CURRENT").is_file()


def current(directory: Path) -> str | None:
    """The raw content of CURRENT ("<version> <sha256>"), or None when there is none."""
    try:
        return (Path(directory) / "CURRENT").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


class _Vanished(Exception):
    """The version being read was retired by a writer mid-read."""


def load(directory: Path, model: str | None = None, whole: bool = False) -> IndexData:
    """Load and verify an index; raise IndexMissing or IndexCorrupt with the fix in the message.
    Files of SAMPLE_FROM bytes or more are checked by sampling unless `whole` (`rag check`).

    A writer may swap in a new version while this reads the old one; the old one is then retired
    once no reader holds it, and a read that lost the race starts again on the new version.
    """
    directory = Path(directory)
    check_directory(directory)
    for _ in range(LOAD_RETRIES):
        pointer = current(directory)
        try:
            return _load(directory, model, whole)
        except _Vanished:
            continue
        except (IndexCorrupt, OSError, RuntimeError):
            if pointer is not None and current(directory) != pointer:
                continue  # CURRENT moved on while we read: read the new version
            raise
    raise IndexCorrupt(f"{directory}/ kept changing while it was read ({LOAD_RETRIES} tries); try again")


def _load(directory: Path, model: str | None, whole: bool) -> IndexData:
    current_file = directory / "CURRENT"
    if not current_file.is_file():
        raise IndexMissing(f"no index in {directory}/; build one with: rag index PATH --index {directory}")
    rebuild = f"rebuild it with: rag index PATH --index {directory} --rebuild"
    try:
        name, manifest_sha = current_file.read_text(encoding="utf-8").split()
    except (ValueError, UnicodeDecodeError):
        raise IndexCorrupt(f"{current_file} is damaged; {rebuild}") from None
    except OSError as e:
        raise IndexCorrupt(f"{current_file} cannot be read ({e.strerror}); check its permissions") from None
    # Only a real directory directly inside this one: never a path, a parent or a symlink elsewhere.
    vdir = directory / name
    if not _VERSION_NAME.fullmatch(name) or vdir.is_symlink():
        raise IndexCorrupt(f"{current_file} names {name!r}, which is not a version directory of this index; {rebuild}")
    mpath = vdir / "manifest.json"
    with reading(mpath) as alive:
        if not alive:
            if current(directory) != f"{name} {manifest_sha}":
                raise _Vanished
            raise IndexCorrupt(f"{current_file} names a missing version {name!r}; {rebuild}")
        return _read_version(directory, vdir, mpath, name, manifest_sha, model, rebuild, whole)


def _read_version(directory: Path, vdir: Path, mpath: Path, name: str, manifest_sha: str, model: str | None,
                  rebuild: str, whole: bool) -> IndexData:
    for path in [mpath] + [vdir / f for f in _TABLES + (ANN_FILE,)]:
        if path.is_symlink():
            raise IndexCorrupt(f"{path} is a symbolic link, not a file of this index; {rebuild}")
    try:
        if _sha256(mpath) != manifest_sha:
            raise IndexCorrupt(f"{mpath} fails its checksum; {rebuild}")
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except PermissionError as e:
        raise IndexCorrupt(f"{mpath} cannot be read ({e.strerror}); check its permissions") from None
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexCorrupt(f"{mpath}: index format {manifest.get('format')} is not {FORMAT_VERSION}; {rebuild}")
    ann = manifest.get("vector_index", {}).get("sentences", "flat") != "flat"
    listed = manifest.get("files", {})
    sampled = {} if whole else manifest.get("sampled", {})
    for fname in dict.fromkeys(_TABLES + ((ANN_FILE,) if ann else ()) + tuple(listed)):
        if not _VERSION_FILE.fullmatch(fname):
            raise IndexCorrupt(f"{mpath} lists {fname!r}, which is not a file of this index; {rebuild}")
        path = vdir / fname
        if path.is_symlink():
            raise IndexCorrupt(f"{path} is a symbolic link, not a file of this index; {rebuild}")
        try:
            if fname in sampled:
                ok = path.is_file() and _sampled_sha256(path) == sampled[fname]
            else:
                ok = path.is_file() and _sha256(path) == manifest["files"].get(fname)
        except PermissionError as e:
            raise IndexCorrupt(f"{path} cannot be read ({e.strerror}); check its permissions") from None
        if not ok:
            raise IndexCorrupt(f"{path} is missing or fails its checksum; {rebuild}")
    if model is not None and manifest["model"] != model:
        raise IndexCorrupt(
            f"{directory}/ was built with model {manifest['model']!r}, not {model!r}; "
            f"use --model {manifest['model']} or {rebuild}"
        )
    if ann:  # a large index: the texts stay on disk until a sentence of theirs is read
        documents = _stored_documents(vdir / "documents.jsonl")
    else:
        with open(vdir / "documents.jsonl", "rb") as f:
            documents = [Document(**_json_loads(line)) for line in f]
    sentences = np.load(vdir / "sentences.npy", allow_pickle=False)
    chunks = np.load(vdir / "chunks.npy", allow_pickle=False)
    chunk_store = FaissStore.load(vdir / "chunks.faiss", mmap=ann)
    # A large index leaves its sentence vectors on disk: a search reads its candidates' rows.
    sentence_store = FaissStore.load(vdir / "sentences.faiss", mmap=ann, ann=vdir / ANN_FILE if ann else None,
                                     kind=manifest.get("vector_index", {}).get("sentences", ""))
    dim = manifest["dim"]
    if chunk_store.dim != dim or sentence_store.dim != dim:
        raise IndexCorrupt(f"{vdir}: vectors have dimension {chunk_store.dim}, manifest says {dim}; {rebuild}")
    if len(chunk_store) != len(chunks) or len(sentence_store) != int(Sentences(sentences).citable.sum()):
        raise IndexCorrupt(f"{vdir}: vector counts do not match the tables; {rebuild}")
    return IndexData(manifest["model"], dim, documents, sentences, chunks, chunk_store, sentence_store,
                     manifest.get("settings", {}), manifest.get("next_id", 0), name, vdir)


def save(directory: Path, data: IndexData) -> str:
    """Write `data` as a new version and swap it in atomically; return the version name.

    The caller holds the index's writer lock (`locking.writer_lock`). OS errors (permissions, a
    full disk) become IndexWriteError, and the previous version keeps serving.
    """
    directory = Path(directory)
    try:
        return _save(directory, data)
    except OSError as e:
        raise IndexWriteError(f"cannot write the index in {directory}/: {e.strerror or e}; "
                              "the previous version is unchanged") from None


def _save(directory: Path, data: IndexData) -> str:
    check_directory(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _clean_stale(directory)
    name = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    tmp = directory / f".tmp-{name}"
    tmp.mkdir()
    try:
        with open(tmp / "documents.jsonl", "w", encoding="utf-8") as f:
            for d in data.documents:
                f.write(json.dumps(d.to_json(), ensure_ascii=False) + "\n")
        np.save(tmp / "sentences.npy", data.sentences.astype(np.int64), allow_pickle=False)
        np.save(tmp / "chunks.npy", data.chunks.astype(np.int64), allow_pickle=False)
        data.chunk_store.save(tmp / "chunks.faiss")
        data.sentence_store.save(tmp / "sentences.faiss")
        files = list(_TABLES)
        if len(data.sentence_store) >= ANN_MIN:
            if data.sentence_store.ann is None:
                data.sentence_store.build_ann()
            data.sentence_store.save_ann(tmp / ANN_FILE)
            files.append(ANN_FILE)
        for part in data.derived:
            files += part.save(tmp)
        manifest = {
            "format": FORMAT_VERSION,
            "library": f"rag-news {__version__}",
            "model": data.model,
            "dim": data.dim,
            "settings": data.settings,
            "next_id": data.next_id,
            "counts": {
                "documents": len(data.documents),
                "sentences": int(len(data.sentences)),
                "citable_sentences": int(data.sentence_view.citable.sum()),
                "chunks": int(len(data.chunks)),
            },
            "vector_index": {"chunks": "flat", "sentences": data.sentence_store.kind},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": {f: _sha256(tmp / f) for f in files},
            "sampled": {f: _sampled_sha256(tmp / f) for f in files if (tmp / f).stat().st_size >= SAMPLE_FROM},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        for f in tmp.iterdir():
            _fsync(f)
        os.replace(tmp, directory / name)
        pointer = directory / "CURRENT.tmp"
        pointer.write_text(f"{name} {_sha256(directory / name / 'manifest.json')}\n", encoding="utf-8")
        _fsync(pointer)
        os.replace(pointer, directory / "CURRENT")  # the commit point
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if (directory / name).is_dir() and (current(directory) or "").split()[:1] != [name]:
            shutil.rmtree(directory / name, ignore_errors=True)  # written but never committed
        with contextlib.suppress(OSError):
            (directory / "CURRENT.tmp").unlink()
        raise
    _fsync(directory)
    data.version, data.path = name, directory / name
    retire_old(directory, keep=name)
    return name


@contextlib.contextmanager
def staging(directory: Path):
    """A scratch directory inside the index for a build's files (the new version links them, so
    they must be on its file system), removed afterwards; one a crashed build left is removed
    first. The caller holds the writer lock."""
    check_directory(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob(".build-*"):
        shutil.rmtree(stale, ignore_errors=True)
    path = directory / f".build-{os.getpid()}-{time.monotonic_ns()}"
    try:
        path.mkdir()
        yield path
    except OSError as e:  # a full disk, a file size limit, permissions: the old version keeps serving
        raise IndexWriteError(f"cannot write the index in {directory}/: {e.strerror or e}; "
                              "the previous version is unchanged") from None
    finally:
        shutil.rmtree(path, ignore_errors=True)


def retire_old(directory: Path, keep: str) -> list[str]:
    """Delete superseded versions that no reader is loading; the others wait for a later write."""
    removed = []
    for old in sorted(directory.glob("v-*")):
        if old.name == keep or not old.is_dir() or old.is_symlink():
            continue
        with retiring(old / "manifest.json") as free:
            if free:  # else a reader is opening it: retired at the next write
                shutil.rmtree(old, ignore_errors=True)
                removed.append(old.name)
    return removed


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _clean_stale(directory: Path) -> None:
    """Remove half-written versions left by a crashed run (never the one CURRENT names)."""
    for tmp in directory.glob(".tmp-v-*"):
        shutil.rmtree(tmp, ignore_errors=True)
