"""Retrieval latency: Annoy against an exact brute-force search over the same vectors, in one run, and the
full path at the gateway and inside the RPC.

    .venv/bin/python bench/retrieval_latency.py [--index-dir DIR] [--gateway http://127.0.0.1:8000]

Queries: the 109 of ../shared/eval/rag_public.jsonl, each searched `--repeat` times. Part 1 (in process,
the shards of GIBSEY_INDEX_DIR): Annoy top-10 vs exact top-10 over all 16 shards (time, ratio, recall of
Annoy against exact), then the whole hybrid ranking. Part 2 (with `--gateway`): GET /api/v1/retrieve
for every query, timed at the client (gateway + RPC + search) and by the service itself (`took_ms`), and
the "Shamrock Stillman" check of issue 5.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.stats import p50_p95_ms  # noqa: E402
from shared.rag.embedding import Embedder  # noqa: E402
from shared.rag.ranking import hybrid_search  # noqa: E402
from shared.rag.shards import ALL_SECTIONS, ShardReader, index_dir  # noqa: E402

TOP = 10


def timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], object]:
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - started)
    return samples, result


def in_process(reader: ShardReader, queries: list[str], vectors, repeat: int) -> None:
    reader.search_exact(vectors[0], 1)  # load every shard and its vector matrix before timing
    annoy_t, exact_t, hybrid_t, recalls = [], [], [], []
    for query, vector in zip(queries, vectors):
        t, approx = timed(lambda: reader.search(vector, TOP), repeat)
        annoy_t += t
        t, exact = timed(lambda: reader.search_exact(vector, TOP), repeat)
        exact_t += t
        recalls.append(len({h.loc for h in approx} & {h.loc for h in exact}) / TOP)
        hybrid_t += timed(lambda: hybrid_search(reader, query, vector, TOP, ALL_SECTIONS), repeat)[0]
    (a50, a95), (e50, e95), (h50, h95) = p50_p95_ms(annoy_t), p50_p95_ms(exact_t), p50_p95_ms(hybrid_t)
    print(f"in process, {len(queries)} queries x {repeat}, top-{TOP} over 16 shards:")
    print("| search | p50 ms | p95 ms |")
    print("| --- | --- | --- |")
    print(f"| Annoy | {a50:.2f} | {a95:.2f} |")
    print(f"| exact (numpy brute force) | {e50:.2f} | {e95:.2f} |")
    print(f"| hybrid ranking (Annoy + BM25 + spread) | {h50:.2f} | {h95:.2f} |")
    print(f"exact/Annoy p50 ratio {e50 / a50:.2f}; Annoy recall@{TOP} vs exact "
          f"{statistics.mean(recalls):.3f} (min {min(recalls):.1f})")


def at_gateway(base: str, queries: list[str], repeat: int) -> None:
    client_t, service_t = [], []
    with httpx.Client(base_url=base, timeout=30) as http:
        http.get("/api/v1/retrieve", params={"q": "warm up", "k": 12}).raise_for_status()
        for query in queries:
            for _ in range(repeat):
                started = time.perf_counter()
                resp = http.get("/api/v1/retrieve", params={"q": query, "k": 12})
                client_t.append(time.perf_counter() - started)
                resp.raise_for_status()
                service_t.append(resp.json()["took_ms"] / 1000)
        started = time.perf_counter()
        shamrock = http.get("/api/v1/retrieve", params={"q": "Shamrock Stillman", "k": 12}).json()
        shamrock_ms = (time.perf_counter() - started) * 1000
    (c50, c95), (s50, s95) = p50_p95_ms(client_t), p50_p95_ms(service_t)
    print(f"at the gateway ({base}), {len(client_t)} requests, k=12:")
    print("| measured at | p50 ms | p95 ms |")
    print("| --- | --- | --- |")
    print(f"| client (HTTP + gateway + RPC + search) | {c50:.1f} | {c95:.1f} |")
    print(f"| inside the retrieval RPC (took_ms) | {s50:.1f} | {s95:.1f} |")
    naming = [r for r in shamrock["results"] if "Shamrock" in r["quote"] or "Stillman" in r["quote"]]
    print(f'"Shamrock Stillman": {len(naming)} of {len(shamrock["results"])} quotes name him, '
          f"{shamrock_ms:.1f} ms at the client; first: {naming[0]['loc'] if naming else '-'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, default=None)
    parser.add_argument("--gateway", default=None, help="base URL of a gateway serving the same index")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--eval", type=Path, default=REPO.parent / "shared" / "eval" / "rag_public.jsonl")
    args = parser.parse_args()
    queries = [json.loads(line)["query"] for line in args.eval.read_text().splitlines() if line.strip()]
    reader = ShardReader(args.index_dir or index_dir())
    if not reader.versions():
        print(f"no shards under {args.index_dir or index_dir()}: build them first (gibsey reindex --all)")
        return 2
    in_process(reader, queries, Embedder().encode(queries), args.repeat)
    if args.gateway:
        at_gateway(args.gateway, queries, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
