"""Vector stores behind one small interface, so a remote engine can replace FAISS later.

Vectors are L2-normalized, so inner product equals cosine similarity.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Protocol

import numpy as np

from .arrays import copy_file


class VectorStore(Protocol):
    """add / delete / search / get / save / load over integer ids."""

    dim: int

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def delete(self, ids: np.ndarray) -> int: ...

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n_queries, k), restricted to `allowed` ids if given; missing hits have id -1."""

    def get(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of `ids`, in that order."""

    def save(self, path: Path) -> None: ...


ANN_MIN = 200_000  # from this many vectors a sentence store also keeps an approximate index
ANN_NPROBE = 32  # inverted lists an approximate search visits


class FaissStore:
    """Exact inner-product search (IndexFlatIP) with stable ids (IndexIDMap2), and for a large
    store an approximate index over the same vectors (`ann`: IVF with product-quantised codes,
    48 bytes a vector, whose ids are positions in the store) for candidate generation.

    A store loaded with `mmap` leaves its vectors on disk: pages are read as rows are touched.
    """

    def __init__(self, dim: int):
        import faiss

        self.dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self.ann, self._ann_kind = None, "flat"
        self._ids = None  # (sorted ids, their positions), made on the first `get`
        self._reader = None  # reads rows from the file, for a store loaded with mmap
        self._file = None  # the file it was loaded from, while nothing was added or deleted

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def kind(self) -> str:
        """What searches it: "flat", or the approximate index's factory string."""
        return self._ann_kind if self.ann is not None else "flat"

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"vectors of shape {vectors.shape} do not match dimension {self.dim}")
        if len(vectors):
            self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
            self.ann, self._ids, self._file = None, None, None

    def delete(self, ids: np.ndarray) -> int:
        import faiss

        if len(ids) == 0:
            return 0
        self.ann, self._ids, self._file = None, None, None
        return int(self._index.remove_ids(faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))))

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if not len(self):
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        k = max(1, min(k, len(self)))
        if allowed is None:
            return self._index.search(queries, k)
        # IndexIDMap translates the selector to its external ids: filtering happens inside the scan.
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        return self._index.search(queries, k, params=faiss.SearchParameters(sel=selector))

    def ids(self) -> np.ndarray:
        """The stored ids, in store order."""
        import faiss

        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def vectors(self) -> np.ndarray:
        """All stored vectors in store order, as a read-only view of the store's own memory (or of
        the file, when loaded with `mmap`): no copy."""
        import faiss

        flat = faiss.downcast_index(self._index.index)
        if not len(self):
            return np.zeros((0, self.dim), np.float32)
        view = faiss.rev_swig_ptr(flat.get_xb(), len(self) * self.dim).reshape(len(self), self.dim)
        view.flags.writeable = False
        return view

    def get(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        if len(ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._ids is None:
            stored = self.ids()
            order = np.argsort(stored, kind="stable")
            self._ids = (stored[order], order)
        keys, order = self._ids
        at = np.minimum(np.searchsorted(keys, ids), len(keys) - 1)
        if not (keys[at] == ids).all():
            raise KeyError(f"id {int(ids[keys[at] != ids][0])} is not in the store")
        return self.rows(order[at])

    def build_ann(self) -> None:
        """Train and fill the approximate index over the stored vectors (positions as its ids)."""
        import faiss

        n = len(self)
        nlist = int(min(4096, 2 ** round(np.log2(4 * np.sqrt(n)))))  # about 4 sqrt(n) lists, at most 4096
        kind = f"IVF{nlist},PQ{self.dim // 8}"
        ann = faiss.index_factory(self.dim, kind, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(n, size=min(n, 40 * nlist), replace=False)
        ann.train(self.rows(np.sort(sample)))
        for a in range(0, n, 65536):  # in blocks, read (not mapped) from a store left on disk
            ann.add(self.rows(np.arange(a, min(n, a + 65536))))
        ann.nprobe = ANN_NPROBE
        self.ann, self._ann_kind = ann, kind

    def save(self, path: Path) -> None:
        if self._file is not None:  # unchanged since loaded (a build writes its stores as files): linked
            try:
                return copy_file(self._file, path)
            except OSError:  # its version retired since: written from memory (or the mapping) instead
                pass
        _write(self._index, path)

    def save_ann(self, path: Path) -> None:
        _write(self.ann, path)

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """The vectors at `positions` (store order), read from the file for a store loaded with
        `mmap`: a few reads of whole runs of rows, which leave nothing mapped into this process."""
        positions = np.asarray(positions, np.int64)
        if self._reader is None:
            return np.array(self.vectors()[positions], np.float32)
        return self._reader.read(positions)

    @classmethod
    def load(cls, path: Path, mmap: bool = False, ann: Path | None = None, kind: str = "") -> "FaissStore":
        import faiss

        store = cls.__new__(cls)
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
        store._index = faiss.read_index(str(path), flags)
        store.dim = int(store._index.d)
        store.ann, store._ann_kind, store._ids, store._reader, store._file = None, "flat", None, None, Path(path)
        if mmap and len(store):
            store._reader = _RowReader(path, store.vectors())
        if ann is not None:
            store.ann, store._ann_kind = faiss.read_index(str(ann)), kind
            store.ann.nprobe = ANN_NPROBE
        return store


class FlatWriter:
    """Writes the file `FaissStore.save` would write (IndexIDMap2 over IndexFlatIP) a block of
    vectors at a time, so a build never holds a corpus's vectors in memory; `FaissStore.load`
    reads it. The layout (faiss/impl/index_write.cpp): each index's header, the vectors as one
    float array, then the ids; the counts in the headers are filled in by `close`."""

    def __init__(self, path: Path, dim: int):
        self.path, self.dim, self.n = Path(path), dim, 0
        self._ids: list[np.ndarray] = []
        self._f = open(path, "wb")
        self._f.write(self._header(0))

    def _header(self, n: int) -> bytes:
        def head(fourcc: bytes) -> bytes:  # d, ntotal, two unused fields, is_trained, METRIC_INNER_PRODUCT
            return fourcc + struct.pack("<iqqq?i", self.dim, n, 1 << 20, 1 << 20, True, 0)
        return head(b"IxM2") + head(b"IxFI") + struct.pack("<Q", n * self.dim)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(vectors) != len(ids):
            raise ValueError(f"vectors of shape {vectors.shape} do not match {len(ids)} ids of dimension {self.dim}")
        self._f.write(vectors.tobytes())
        self._ids.append(np.asarray(ids, np.int64))
        self.n += len(vectors)

    def close(self) -> None:
        ids = np.concatenate(self._ids) if self._ids else np.zeros(0, np.int64)
        self._f.write(struct.pack("<Q", len(ids)) + ids.astype("<i8").tobytes())
        self._f.seek(0)
        self._f.write(self._header(self.n))
        self._f.close()


class _RowReader:
    """Rows of a flat index's vectors read straight from its file with preadv.

    Touching a memory-mapped row maps the whole folio of page cache around it (2 MB here), so a
    few thousand candidate rows a question would map most of a large file into the process; reads
    copy only the rows asked for. Rows at most GAP apart are read as one run.
    """

    GAP = 8

    def __init__(self, path: Path, mapped: np.ndarray):
        self._fd = os.open(path, os.O_RDONLY)
        self.n, self.dim = mapped.shape
        self._row = self.dim * 4
        with open(path, "rb") as f:
            head = f.read(1 << 16)
        # The vectors follow the index's header: found by the first row's bytes, checked by the last.
        self._offset = head.find(np.ascontiguousarray(mapped[0]).tobytes())
        last = os.pread(self._fd, self._row, self._offset + (self.n - 1) * self._row) if self._offset >= 0 else b""
        if last != np.ascontiguousarray(mapped[-1]).tobytes():
            raise ValueError(f"{path}: cannot find its vectors in the file")

    def read(self, positions: np.ndarray) -> np.ndarray:
        if not len(positions):
            return np.empty((0, self.dim), np.float32)
        want, back = np.unique(positions, return_inverse=True)
        if want[0] < 0 or want[-1] >= self.n:
            raise IndexError("row out of range")
        first = np.concatenate([[0], np.flatnonzero(np.diff(want) > self.GAP) + 1])
        lo, hi = want[first], want[np.concatenate([first[1:] - 1, [len(want) - 1]])] + 1
        at = np.concatenate([[0], np.cumsum(hi - lo)])  # where each run starts in `buf`
        buf = np.empty((int(at[-1]), self.dim), np.float32)
        view, row, fd, offset = memoryview(buf).cast("B"), self._row, self._fd, self._offset
        for a, b, dst in zip(lo.tolist(), hi.tolist(), at.tolist()):
            os.preadv(fd, [view[dst * row:(dst + b - a) * row]], offset + a * row)
        # Each wanted row's place in `buf`: its run's start there plus its distance into the run.
        run = np.repeat(np.arange(len(first)), np.diff(np.concatenate([first, [len(want)]])))
        return buf[at[run] + want - lo[run]][back]

    def __del__(self):
        try:
            os.close(self._fd)
        except (OSError, AttributeError):
            pass


def _write(index, path: Path) -> None:
    """Write a FAISS index through Python's file, a block at a time: no copy of it in memory, and
    a failed write (a full disk) raises the OSError it is rather than faiss's RuntimeError."""
    import faiss

    with open(path, "wb") as f:
        faiss.write_index(index, faiss.PyCallbackIOWriter(f.write))
