"""One-dimensional arrays in .npy files, read a slice at a time (and written a block at a time).

A large index's lexicon is read this way: a question reads the postings of its own terms and the
term lists of its candidate sentences, a few reads each, and nothing of the files is mapped into
the process (mapping one row of a file maps the whole page-cache folio around it, 2 MB here).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np


class FileArray:
    """A 1-D .npy file, indexed by slices (`a[i:j]`) and by runs of slices (`ranges`)."""

    def __init__(self, path: Path):
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(f)
            self._offset = f.tell()
        if len(shape) != 1 or fortran:
            raise ValueError(f"{path}: not a one-dimensional array")
        self.dtype, self.shape, self.path = np.dtype(dtype), shape, Path(path)
        self._fd = os.open(path, os.O_RDONLY)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("a FileArray is read by slices")
        start, stop, _ = key.indices(len(self))
        return self._read(start, max(start, stop))

    def _read(self, start: int, stop: int) -> np.ndarray:
        size = self.dtype.itemsize
        data = os.pread(self._fd, (stop - start) * size, self._offset + start * size)
        return np.frombuffer(data, self.dtype)

    def ranges(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """The slices lo[i]:hi[i] one after another; touching or overlapping slices read once."""
        lo, hi = np.asarray(lo, np.int64), np.asarray(hi, np.int64)
        keep = hi > lo
        lo, hi = lo[keep], hi[keep]
        if not len(lo):
            return np.zeros(0, self.dtype)
        if (np.diff(lo) < 0).any() or (lo[1:] < hi[:-1]).any():  # not in order, or overlapping: one at a time
            return np.concatenate([self._read(int(a), int(b)) for a, b in zip(lo, hi)])
        # In order and apart: runs that touch are read as one.
        starts = np.concatenate([[0], np.flatnonzero(lo[1:] != hi[:-1]) + 1])
        ends = np.concatenate([starts[1:], [len(lo)]]) - 1
        return np.concatenate([self._read(int(lo[a]), int(hi[b])) for a, b in zip(starts, ends)])

    def __array__(self, dtype=None, copy=None):
        out = self._read(0, len(self))
        return out.astype(dtype) if dtype is not None else out

    def __del__(self):
        try:
            os.close(self._fd)
        except (OSError, AttributeError):
            pass


def copy_file(src: Path, dst: Path) -> None:
    """`dst` made a hard link to `src` (a file a build wrote beside the index), or a copy across
    file systems."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


class Spill:
    """An append-only file of one dtype's values, read back a block at a time: a build keeps what
    grows with the corpus here instead of in memory."""

    def __init__(self, path: Path, dtype):
        self.path, self.dtype, self.size = Path(path), np.dtype(dtype), 0
        self._f = open(path, "wb")

    def add(self, values) -> None:
        values = np.ascontiguousarray(values, self.dtype)
        self._f.write(values.tobytes())
        self.size += values.size

    def read(self, start: int, stop: int) -> np.ndarray:
        """Values start..stop-1 (the file is flushed first)."""
        if not self._f.closed:
            self._f.flush()
        with open(self.path, "rb") as f:
            f.seek(start * self.dtype.itemsize)
            return np.fromfile(f, self.dtype, stop - start)

    def close(self) -> None:
        self._f.close()


def write_npy(path: Path, dtype, size: int, blocks) -> None:
    """A 1-D .npy file of `size` values written from `blocks` (arrays, in order) as they come."""
    dtype = np.dtype(dtype)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                 "fortran_order": False, "shape": (size,)})
        written = 0
        for block in blocks:
            block = np.ascontiguousarray(block, dtype)
            f.write(block.tobytes())
            written += block.size
    if written != size:
        raise ValueError(f"{path}: {written} values written, {size} declared")
