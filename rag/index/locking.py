"""The index's writer lock: one writer at a time per index directory, across processes.

A lock file (`LOCK`) in the index directory is held with `flock` for the whole read-modify-write
of one update: reading the current version, embedding, writing the new one and retiring old ones.
The kernel drops the lock when its holder exits, however it exits, so a crashed writer never
leaves the index locked. The file's content names the holder (pid, command, since when) for the
message a waiting writer shows.

Readers take no writer lock. While a reader loads a version it holds a shared `flock` on that
version's manifest; a writer deletes a superseded version only when it can take that lock
exclusively, so no version disappears under a reader that is opening it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import IndexBusy, IndexWriteError, InputError

LOCK_NAME = "LOCK"
HOLDER_GRACE = 2.0  # seconds a waiter waits for the holder to name itself before saying "another process"
# Never follow a symlink planted in the index directory; never leak the fd into child processes.
_SAFE = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _holder(path: Path) -> str | None:
    """Who holds the lock, in words, from what the holder wrote into the lock file; None while
    the holder has not written it yet (it writes right after taking the lock)."""
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
        since = time.strftime("%H:%M:%S", time.localtime(float(info["since"])))
        return f"pid {int(info['pid'])} ({str(info.get('command', ''))[:80]}, since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_directory(directory: Path) -> None:
    """InputError when the index path exists but is not a directory."""
    if directory.exists() and not directory.is_dir():
        raise InputError(f"the index path {directory} is a file, not an index directory")


@contextlib.contextmanager
def writer_lock(directory: str | os.PathLike, timeout: float | None = None,
                on_wait: Callable[[str], None] | None = None, poll: float = 0.2) -> Iterator[None]:
    """Hold the index's writer lock for the body of the `with`.

    If another writer holds it, `on_wait` is called once with a message naming the holder and the
    call waits, up to `timeout` seconds (None: as long as it takes), then raises IndexBusy.
    """
    directory = Path(directory)
    check_directory(directory)
    path = directory / LOCK_NAME
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _SAFE, 0o644)
    except OSError as e:
        raise IndexWriteError(f"cannot write the index in {directory}/: {e.strerror or e}") from None
    try:
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(path)
                if deadline is not None and time.monotonic() >= deadline:
                    raise IndexBusy(f"the index in {directory}/ is being updated by "
                                    f"{holder or 'another process'}; try again when it finishes") from None
                # The holder names itself just after taking the lock: give it a moment to, so the
                # message says who it is.
                if not told and on_wait is not None and (holder or time.monotonic() - start >= HOLDER_GRACE):
                    on_wait(f"waiting for the index in {directory}/: it is being updated by "
                            f"{holder or 'another process'}")
                    told = True
                time.sleep(poll)
        program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
        program = "rag" if program in ("__main__.py", "rag") else program
        info = {"pid": os.getpid(), "command": " ".join([program, *sys.argv[1:]])[:200], "since": time.time()}
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode("utf-8", "backslashreplace"), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def reading(manifest: Path) -> Iterator[bool]:
    """Hold a shared lock on a version's manifest while it is read; yields False when the
    version is gone (deleted by a writer before the lock was taken)."""
    try:
        fd = os.open(manifest, os.O_RDONLY | _SAFE)
    except FileNotFoundError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            alive = os.path.samestat(os.fstat(fd), os.stat(manifest))
        except FileNotFoundError:
            alive = False
        yield alive
    finally:
        os.close(fd)  # closing drops the lock


@contextlib.contextmanager
def retiring(manifest: Path) -> Iterator[bool]:
    """Yields True while this holds a version exclusively (no reader is loading it), or when the
    version has no readable manifest (nobody can be loading it); False when a reader holds it."""
    try:
        fd = os.open(manifest, os.O_RDONLY | _SAFE)
    except OSError:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
