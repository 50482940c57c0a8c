"""Time from `rag serve` on a fresh directory to the first answer, and /api/ask latency under load.

Usage: python benchmarks/bench_serve.py [--multihop ../shared/eval/multihop_rag] [--requests 200]
The seed run starts from a directory with no index (the first start builds it); the MultiHop-RAG
run reuses .cache/multihop-index (build it with `rag eval multihop ...` or `rag index`).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, question: str) -> float:
    t0 = time.perf_counter()
    req = urllib.request.Request(url, json.dumps({"question": question}).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        json.loads(r.read())
    return (time.perf_counter() - t0) * 1000


def run(index: Path, seeds: Path, questions: list[str], n: int, clients: int) -> dict:
    port = _port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rag", "serve", "--port", str(port), "--index", str(index),
                             "--seeds", str(seeds)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                _post(url + "/api/ask", questions[0])
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("rag serve exited")
                time.sleep(0.2)
        first = time.perf_counter() - t0
        qs = [questions[i % len(questions)] for i in range(n)]
        with cf.ThreadPoolExecutor(clients) as pool:
            lat = list(pool.map(lambda q: _post(url + "/api/ask", q), qs))
        return {"first_answer_s": round(first, 1), "p50_ms": round(float(np.percentile(lat, 50)), 1),
                "p95_ms": round(float(np.percentile(lat, 95)), 1), "requests": n, "clients": clients}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--multihop", default=str(ROOT.parent / "shared" / "eval" / "multihop_rag"))
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args()
    seed_qs = ["who criticised Hegseth?", "Who is Stephen Wertheim?", "How much of Ukraine does Russia occupy?",
               "What did James Cleverly say?", "Who won the 2022 FIFA World Cup?"]
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(ROOT / "seeds", Path(tmp) / "seeds")
        res = run(Path(tmp) / "index", Path(tmp) / "seeds", seed_qs, args.requests, args.clients)
    print(f"seed, fresh directory: first answer {res['first_answer_s']} s after start (index built on start); "
          f"/api/ask with {res['clients']} clients: p50 {res['p50_ms']} ms, p95 {res['p95_ms']} ms "
          f"over {res['requests']} requests")
    mh = Path(args.multihop) / "MultiHopRAG.json"
    cache = ROOT / ".cache" / "multihop-index"
    if mh.is_file() and (cache / "CURRENT").is_file():
        qs = [q["query"] for q in json.loads(mh.read_text(encoding="utf-8"))[: args.requests]]
        res = run(cache, ROOT / "seeds", qs, args.requests, args.clients)
        print(f"MultiHop-RAG index (609 articles): first answer {res['first_answer_s']} s after start; "
              f"/api/ask with {res['clients']} clients: p50 {res['p50_ms']} ms, p95 {res['p95_ms']} ms "
              f"over {res['requests']} requests")
    else:
        print("MultiHop-RAG index not built (.cache/multihop-index); skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
