"""Retrieval quality on ../shared/eval/rag_public.jsonl: miss rate, recall@1 and recall@5 (by page).

    .venv/bin/python bench/rag_eval.py [--index-dir DIR] [--k 5] [--mode hybrid|fused|vector|lexical]

Needs shards built for the canon (`gibsey reindex --all` on a keyspace holding it, or the CDC path) and,
for the hybrid mode's section prior, that keyspace's section_notes (CASSANDRA_KEYSPACE). Runs the same
ranking code as the retrieval service; `fused` is hybrid without the section prior (an ablation). A hit is an expected page among the top-k distinct pages.
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

from shared.config import Settings  # noqa: E402
from shared.rag.embedding import Embedder  # noqa: E402
from shared.rag.notes import SectionPrior, read_notes  # noqa: E402
from shared.rag.ranking import hybrid_search  # noqa: E402
from shared.rag.shards import ALL_SECTIONS, Hit, ShardReader, index_dir  # noqa: E402
from shared.storage.cassandra import close_session, open_session  # noqa: E402

CANDIDATE_QUOTES = 50


def ranked_hits(mode: str, reader: ShardReader, prior: SectionPrior, vector, query: str) -> list[Hit]:
    if mode == "vector":
        return reader.search(vector, CANDIDATE_QUOTES)
    if mode == "lexical":
        return [hit for hit, _ in reader.lexical(query, CANDIDATE_QUOTES, vector)]
    return hybrid_search(reader, query, vector, CANDIDATE_QUOTES, ALL_SECTIONS, prior if mode == "hybrid" else None)


def distinct_pages(hits: list[Hit], k: int) -> list[int]:
    pages: list[int] = []
    for hit in hits:
        if hit.page_num and hit.page_num not in pages:
            pages.append(hit.page_num)
    return pages[:k]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, default=None)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--mode", choices=("hybrid", "fused", "vector", "lexical"), default="hybrid")
    parser.add_argument("--eval", type=Path, default=REPO.parent / "shared" / "eval" / "rag_public.jsonl")
    args = parser.parse_args()
    reader, embedder = ShardReader(args.index_dir or index_dir()), Embedder()
    prior = SectionPrior(embedder)
    if args.mode == "hybrid":
        settings = Settings.from_env()
        session = open_session(settings)
        try:
            prior.update(read_notes(session, settings.cassandra_keyspace))
        finally:
            close_session(session)
    rows = [json.loads(line) for line in args.eval.read_text().splitlines() if line.strip()]
    vectors = embedder.encode([row["query"] for row in rows])
    by_kind: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    started = time.perf_counter()
    for row, vector in zip(rows, vectors):
        pages = distinct_pages(ranked_hits(args.mode, reader, prior, vector, row["query"]), args.k)
        expected = set(row["expected_pages"])
        by_kind[row["kind"]].append((bool(pages[:1]) and pages[0] in expected, bool(expected & set(pages))))
    took = time.perf_counter() - started
    every = [r for results in by_kind.values() for r in results]
    print(f"mode {args.mode}: {len(every)} queries in {took:.1f} s ({len(prior)} section notes)")
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
