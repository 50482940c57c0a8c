"""Writers and readers of one index at the same time: real processes, real files, real FAISS.

Writers use the deterministic fake embedder (a save is then a fraction of a second, so a few
hundred swaps happen during a test); the CLI test uses the real `rag index` with the bundled model.
"""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT, FakeEmbedder

from rag.engine import Engine
from rag.errors import IndexBusy
from rag.index import files as index_io
from rag.index.locking import writer_lock

# A writer process: adds `n` articles of its own, one update (one read-modify-write) each.
WRITER = textwrap.dedent("""
    import sys
    sys.path[:0] = [{tests!r}, {root!r}]
    from conftest import FakeEmbedder
    from rag.engine import Engine
    from rag.text.ingest import from_text
    index, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    eng = Engine(index, embedder=FakeEmbedder())
    for i in range(n):
        text = f"Report {{tag}} {{i}}\\nThe {{tag}} council met on day {{i}} and voted on item {{i}}. It adjourned at noon."
        eng.add_documents([from_text(text, f"{{tag}}/{{i}}")])
    print("done", tag)
""").format(tests=str(ROOT / "tests"), root=str(ROOT))


def _start_writer(index: Path, tag: str, n: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(index), tag, str(n)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _seed_index(path: Path, fake_embedder) -> Engine:
    eng = Engine(path, embedder=fake_embedder)
    from rag.text.ingest import from_text

    eng.add_documents([from_text("Seed report\nThe harbour reopened after the storm on Monday.", "seed/0")])
    return eng


def test_two_writer_processes_lose_nothing(tmp_path, fake_embedder):
    index = tmp_path / "idx"
    _seed_index(index, fake_embedder)
    writers = [_start_writer(index, tag, 12) for tag in ("alpha", "beta")]
    for w in writers:
        out, err = w.communicate(timeout=240)
        assert w.returncode == 0, err
    data = index_io.load(index)
    ids = {d.doc_id for d in data.documents}
    assert ids == {"seed/0"} | {f"{t}/{i}" for t in ("alpha", "beta") for i in range(12)}
    # CURRENT names a version that exists, and the superseded ones were retired.
    assert (index / data.version / "manifest.json").is_file()
    assert [p.name for p in index.glob("v-*")] == [data.version]
    assert not list(index.glob(".tmp-*")) and not (index / "CURRENT.tmp").exists()


def test_readers_never_fail_while_a_writer_swaps_versions(tmp_path, fake_embedder):
    index = tmp_path / "idx"
    _seed_index(index, fake_embedder)
    writer = _start_writer(index, "gamma", 60)
    loads, failures, versions = 0, [], set()
    try:
        while writer.poll() is None or loads < 300:
            try:
                data = index_io.load(index)
                versions.add(data.version)
                assert len(data.documents) >= 1 and len(data.chunk_store) == len(data.chunks)
            except Exception as e:  # noqa: BLE001 - any failed load is the bug this test is for
                failures.append(f"{type(e).__name__}: {e}")
            loads += 1
            if writer.poll() is not None and loads >= 300:
                break
    finally:
        writer.wait(timeout=240)
    assert writer.returncode == 0, writer.stderr.read()
    assert failures == [], failures[:3]
    assert loads >= 300 and len(versions) > 10  # the reads really did overlap many swaps


def test_second_writer_waits_with_a_message_or_gives_up_naming_the_holder(tmp_path):
    index = tmp_path / "idx"
    messages = []
    with writer_lock(index):
        with pytest.raises(IndexBusy, match=r"being updated by pid \d+ .*since"):
            with writer_lock(index, timeout=0.5, on_wait=messages.append):
                pass
    assert len(messages) == 1 and "waiting for the index" in messages[0] and f"pid {os.getpid()}" in messages[0]
    with writer_lock(index, timeout=0.5):  # released: the next writer gets it at once
        pass


def test_a_crashed_writer_leaves_no_lock(tmp_path):
    index = tmp_path / "idx"
    code = f"import os, sys; sys.path.insert(0, {str(ROOT)!r}); from rag.index.locking import writer_lock\n" \
           f"with writer_lock({str(index)!r}):\n    os._exit(9)\n"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    t0 = time.monotonic()
    with writer_lock(index, timeout=2):
        pass
    assert time.monotonic() - t0 < 1


@pytest.mark.slow
def test_two_cli_index_runs_on_one_index_keep_both(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "harbour.txt").write_text("Harbour reopens\nThe Leith harbour reopened on Monday after the storm.\n")
    (b / "bakery.txt").write_text("Bakery opens\nThe Quiet Harbour bakery opened in 2019. Its owner is Mirela Sandu.\n")
    index = tmp_path / "idx"
    procs = [subprocess.Popen([sys.executable, "-m", "rag", "index", str(d), "--index", str(index), "--json"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for d in (a, b)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert any("waiting for the index" in err and "being updated by pid" in err for _, err in outs), outs
    docs = {Path(d.doc_id).name for d in index_io.load(index).documents}
    assert docs == {"harbour.txt", "bakery.txt"}
    reports = sorted(json.loads(o)["documents"] for o, _ in outs)
    assert reports == [1, 2]  # the second run built on the first one's version


def test_refresh_swaps_in_a_new_version_and_does_not_retry_a_broken_one(tmp_path, fake_embedder):
    from rag.errors import IndexCorrupt
    from rag.text.ingest import from_text

    index = tmp_path / "idx"
    served = _seed_index(index, fake_embedder)
    first = served.retriever
    writer = Engine(index, embedder=FakeEmbedder())
    writer.add_documents([from_text("Ferry resumes\nThe ferry resumed on Friday.", "ferry/0")])
    assert served.refresh() and served.retriever is not first and len(served.retriever.data.documents) == 2
    (index / "CURRENT").write_text("v-gone " + "0" * 64 + "\n")  # names a version that does not exist
    with pytest.raises(IndexCorrupt):
        served.refresh()
    assert served.refresh() is False  # the same broken pointer is not loaded again every interval
    assert len(served.retriever.data.documents) == 2  # still serving the good version


def test_a_waiter_names_a_holder_that_has_not_written_its_name_yet(tmp_path):
    # The window between a writer taking the lock and writing who it is into the lock file: a
    # second writer arriving then waits for the name instead of saying "another process".
    import fcntl
    import threading

    index = tmp_path / "idx"
    index.mkdir()
    fd = os.open(index / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    info = json.dumps({"pid": 4242, "command": "rag index news/", "since": time.time()}).encode()
    threading.Timer(0.6, lambda: os.pwrite(fd, info, 0)).start()
    threading.Timer(1.2, lambda: fcntl.flock(fd, fcntl.LOCK_UN)).start()
    messages = []
    with writer_lock(index, timeout=10, on_wait=messages.append):
        pass
    os.close(fd)
    assert len(messages) == 1 and "being updated by pid 4242 (rag index news/" in messages[0], messages
