"""Index build time, pipeline overhead over raw encode, query latency and peak RSS on MultiHop-RAG.

Usage: python benchmarks/bench_index.py [../shared/eval/multihop_rag] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir", nargs="?", default="../shared/eval/multihop_rag")
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    data = Path(args.data_dir)
    if not (data / "corpus.json").is_file():
        print(f"MultiHop-RAG not found in {data}", file=sys.stderr)
        return 1
    from rag.embedding import load_embedder
    from rag.engine import Engine

    emb = load_embedder()
    emb.embed(["warm up the model"])
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Path(tmp) / "index", embedder=emb)
        t0 = time.perf_counter()
        report = engine.index([data / "corpus.json"])
        build = time.perf_counter() - t0
        print(f"index build: {build:.1f} s for {report.documents} articles, {report.chunks} chunks, "
              f"{report.embedded} sentences through the model")

        # The same texts through raw model.encode: what the pipeline costs beyond the model itself.
        # The pipeline embeds each citable sentence once, on its own; chunk vectors are their means.
        r = engine.retriever
        texts = [r.sentence_text[i] for i in r.sent_rows]
        import torch

        t0 = time.perf_counter()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=emb.bf16):
            emb.model.encode(texts, batch_size=emb.batch_size, normalize_embeddings=True)
        raw = time.perf_counter() - t0
        print(f"raw model.encode of the same {len(texts)} sentences: {raw:.1f} s ({len(texts) / raw:.1f} items/s); "
              f"whole pipeline {len(texts) / build:.1f} sentences/s; overhead {100 * (build / raw - 1):.1f}%")

        # What bf16 autocast costs in quality: cosine of its vectors to plain fp32 ones.
        if emb.bf16:
            sample = texts[:: max(1, len(texts) // 200)][:200]
            fast = emb.embed(sample)
            from rag.embedding import SentenceTransformerEmbedder

            exact = SentenceTransformerEmbedder(emb.name, precision="fp32").embed(sample)  # a second copy, in fp32
            cos = (fast * exact).sum(1)
            print(f"bf16 vs fp32 vectors on {len(sample)} sentences: mean cosine {cos.mean():.5f}, min {cos.min():.5f}")

        questions = json.loads((data / "MultiHopRAG.json").read_text(encoding="utf-8"))[: args.queries]
        for q in questions[:5]:
            engine.ask(q["query"])
        lat = []
        for q in questions:
            t0 = time.perf_counter()
            engine.ask(q["query"])
            lat.append((time.perf_counter() - t0) * 1000)
        print(f"query latency over {len(lat)} questions (warm): p50 {np.percentile(lat, 50):.1f} ms, "
              f"p95 {np.percentile(lat, 95):.1f} ms")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
