"""Retrieval quality on ../shared/eval/rag_public.jsonl: miss rate, recall@1 and recall@5 (by page).

    .venv/bin/python bench/rag_eval.py [--index-dir DIR] [--k 5]

Needs shards built for the canon (`gibsey reindex --all` on a keyspace holding it, or the CDC path).
A hit is an expected page among the top-5 distinct pages.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.rag.embedding import Embedder  # noqa: E402
from shared.rag.shards import ShardReader, index_dir  # noqa: E402


def ranked_pages(reader: ShardReader, embedder: Embedder, query: str, k: int) -> list[int]:
    hits = reader.search(embedder.encode([query])[0], k * 6)
    pages: list[int] = []
    for hit in hits:
        if hit.page_num and hit.page_num not in pages:
            pages.append(hit.page_num)
    return pages[:k]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, default=None)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--eval", type=Path, default=REPO.parent / "shared" / "eval" / "rag_public.jsonl")
    args = parser.parse_args()
    reader, embedder = ShardReader(args.index_dir or index_dir()), Embedder()
    rows = [json.loads(line) for line in args.eval.read_text().splitlines() if line.strip()]
    by_kind: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    started = time.perf_counter()
    for row in rows:
        pages = ranked_pages(reader, embedder, row["query"], args.k)
        expected = set(row["expected_pages"])
        by_kind[row["kind"]].append((bool(pages[:1]) and pages[0] in expected, bool(expected & set(pages))))
    took = time.perf_counter() - started
    every = [r for results in by_kind.values() for r in results]
    print(f"{len(every)} queries in {took:.1f} s")
    print("| kind | n | recall@1 | recall@5 | miss rate |")
    print("| --- | --- | --- | --- | --- |")
    for kind, results in sorted(by_kind.items()) + [("all", every)]:
        n = len(results)
        r1 = sum(a for a, _ in results) / n
        r5 = sum(b for _, b in results) / n
        print(f"| {kind} | {n} | {r1:.2f} | {r5:.2f} | {1 - r5:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
