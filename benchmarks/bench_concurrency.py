"""Stress the index's writer lock and version retirement: writer processes and a reader loop at once.

Two writer processes each add articles one update at a time (the deterministic fake embedder from
the tests, so a save takes milliseconds and swaps are frequent) while this process loads the index
in a loop. Prints loads, failed loads, swaps seen, documents lost, and what is left on disk.

Usage: python benchmarks/bench_concurrency.py [--seconds 60] [--per-writer 200]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

WRITER = textwrap.dedent("""
    import sys
    sys.path[:0] = [{tests!r}, {root!r}]
    from conftest import FakeEmbedder
    from rag.engine import Engine
    from rag.text.ingest import from_text
    index, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    eng = Engine(index, embedder=FakeEmbedder())
    for i in range(n):
        eng.add_documents([from_text(f"Report {{tag}} {{i}}\\nThe {{tag}} board met on day {{i}}.", f"{{tag}}/{{i}}")])
""").format(tests=str(ROOT / "tests"), root=str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--per-writer", type=int, default=200)
    args = ap.parse_args()
    import numpy as np
    from conftest import FakeEmbedder

    from rag.engine import Engine
    from rag.index import files as index_io
    from rag.text.ingest import from_text

    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "idx"
        Engine(index, embedder=FakeEmbedder()).add_documents([from_text("Seed\nThe harbour reopened.", "seed/0")])
        writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(index), tag, str(args.per_writer)])
                   for tag in ("a", "b")]
        loads, failures, versions, times = 0, [], set(), []
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline and any(w.poll() is None for w in writers):
            t0 = time.perf_counter()
            try:
                versions.add(index_io.load(index).version)
            except Exception as e:  # noqa: BLE001 - counted, not raised
                failures.append(f"{type(e).__name__}: {e}")
            times.append((time.perf_counter() - t0) * 1000)
            loads += 1
        for w in writers:
            w.wait()
        data = index_io.load(index)
        expected = {"seed/0"} | {f"{t}/{i}" for t in ("a", "b") for i in range(args.per_writer)}
        lost = expected - {d.doc_id for d in data.documents}
        print(f"writers: 2 x {args.per_writer} updates; reader: {loads} loads, {len(failures)} failed, "
              f"{len(versions)} versions seen; load p50 {np.percentile(times, 50):.1f} ms, "
              f"p95 {np.percentile(times, 95):.1f} ms")
        print(f"documents lost: {len(lost)} of {len(expected)}; version directories left: "
              f"{len(list(index.glob('v-*')))}; CURRENT names an existing version: "
              f"{(index / data.version / 'manifest.json').is_file()}")
        for f in failures[:5]:
            print("  failure:", f)
    return 1 if failures or lost else 0


if __name__ == "__main__":
    sys.exit(main())
