"""A build's memory as the corpus grows: the MultiHop-RAG articles copied N times (each copy its own
documents: ids, titles and every sentence suffixed with the copy's number, so no text repeats), each
size indexed from nothing in a fresh process, which prints:

    sentences  citable sentences embedded
    seconds    the whole build (splitting, embedding, writing, checksums, the reload)
    rss        peak resident memory of the process (VmHWM), and its part above the documents read in
    disk       the new version's size on disk

The embedder is a stand-in by default (`--embedder hash`: each word hashed into 384 dimensions, as
fast as reading the text), so the figures are the pipeline's own memory and time, not the model's;
`--embedder model` uses the bundled MiniLM (at about 650 sentences a second on these cores).

Usage:
    python benchmarks/bench_build.py ../shared/eval/multihop_rag --copies 1 4 16
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np


class HashEmbedder:
    """Words hashed into 384 dimensions: deterministic, normalised, and nearly free."""

    name = "hash-384"
    dim = 384
    bf16 = False
    mean_pooled = False

    def embed(self, texts, progress=False):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in t.split():
                out[i, zlib.crc32(w.encode()) % self.dim] += 1.0
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
        return out


def _peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def run(data_dir: Path, copies: int, embedder: str) -> dict:
    """Index `copies` copies of the corpus into a fresh directory in this process."""
    from rag.embedding import load_embedder
    from rag.engine import Engine
    from rag.records import Document
    from rag.text.ingest import content_hash, load_file

    emb = HashEmbedder() if embedder == "hash" else load_embedder()
    emb.embed(["warm up"])
    source = load_file(data_dir / "corpus.json", "corpus.json")
    docs = []
    for k in range(copies):
        for d in source:
            # Each sentence of a copy ends with the copy's number: no text repeats across copies.
            text = d.text.replace(". ", f" ({k}). ") if k else d.text
            copy = Document(**{**d.to_json(), "doc_id": f"{d.doc_id}#{k}", "title": f"{d.title} ({k})", "text": text})
            docs.append(replace(copy, sha256=content_hash(copy)))
    del source
    before = _rss_mb()
    with tempfile.TemporaryDirectory(prefix="bench-build-", dir=".") as tmp:
        engine = Engine(Path(tmp) / "index", embedder=emb)
        t0 = time.perf_counter()
        report = engine.add_documents(docs)
        seconds = time.perf_counter() - t0
        vdir = next((Path(tmp) / "index").glob("v-*"))
        disk = sum(f.stat().st_size for f in vdir.iterdir()) / 1e9
    peak = _peak_rss_mb()
    return {"copies": copies, "documents": report.documents, "sentences": report.embedded,
            "chunks": report.chunks, "seconds": round(seconds, 1), "rss_mb": round(peak),
            "rss_over_documents_mb": round(peak - before), "disk_gb": round(disk, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="the MultiHop-RAG directory (corpus.json)")
    ap.add_argument("--copies", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--embedder", choices=("hash", "model"), default="hash")
    ap.add_argument("--run", type=int, help=argparse.SUPPRESS)  # one size, in this process
    args = ap.parse_args()
    if args.run:
        print(json.dumps(run(args.data, args.run, args.embedder)))
        return
    rows = []
    for n in args.copies:
        out = subprocess.run([sys.executable, __file__, str(args.data), "--run", str(n), "--embedder", args.embedder],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |\n| " + " | ".join("---:" for _ in cols) + " |")
    for r in rows:
        print("| " + " | ".join(f"{r[c]:,}" if isinstance(r[c], int) else str(r[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
