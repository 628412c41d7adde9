"""The canon reaches the vector index through CDC alone: ingest 710 pages, wait until page_vectors has every
page and the shards cover every section, without ever running `gibsey reindex`.

    .venv/bin/python bench/canon_cdc.py [--corpus ../shared/gibsey-canon/corpus] [--timeout 900]

Needs the local stack with its CDC agent (`localstack/up`). In a fresh keyspace (`gibsey schema apply`) with
its own topics (`gibsey topics create`; how the embedder finds the keyspace's CDC topic: bench/_stack.py), it
starts the embedder and the indexer (`nameko run`, as in the Procfile; logs in files), runs `gibsey ingest`,
then polls Cassandra and the index directory until every page has a vector and every section's shard holds
all its pages. Exit 1 if that does not happen within --timeout. Keyspace, topics, groups and shards are
removed afterwards (the logs are kept; their directory is printed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import (REPO, BenchRun, CdcWatcher, Child, cleanup, consumer_lag, function, gibsey,  # noqa: E402
                    new_run, pages_with_vectors, shard_page_ids, wait_until_captured)

from shared.canon import load_corpus  # noqa: E402
from shared.storage.cassandra import close_session, open_session  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "gibsey-canon" / "corpus"
POLL_S = 0.25


@dataclass
class Coverage:
    """Seconds after the end of the ingest at which each milestone was first seen (None: not reached)."""

    first_vector: float | None = None
    half_vectors: float | None = None
    all_vectors: float | None = None
    all_shards: float | None = None
    vectors: int = 0
    sections_covered: int = 0
    missing: list[str] = field(default_factory=list)  # pages still without vectors when it gave up


def wait_for_coverage(run: BenchRun, session, expected: dict[str, int], since: float, timeout: float) -> Coverage:
    """Poll until page_vectors holds every expected page and each section's current shard holds all of that
    section's pages. `expected` maps page id -> section; times are relative to `since` (time.monotonic())."""
    by_section: dict[int, set[str]] = defaultdict(set)
    for page_id, section in expected.items():
        by_section[section].add(page_id)
    cov = Coverage()
    covered: set[int] = set()
    while time.monotonic() - since < timeout:
        now = time.monotonic() - since
        if cov.all_vectors is None:
            cov.vectors = len(pages_with_vectors(session, run.keyspace) & expected.keys())
            if cov.vectors and cov.first_vector is None:
                cov.first_vector = now
            if cov.vectors * 2 >= len(expected) and cov.half_vectors is None:
                cov.half_vectors = now
            if cov.vectors == len(expected):
                cov.all_vectors = now
        for section, pages in by_section.items():
            if section not in covered and pages <= (shard_page_ids(run.index_dir, section) or set()):
                covered.add(section)
        cov.sections_covered = len(covered)
        if cov.all_vectors is not None and len(covered) == len(by_section):
            cov.all_shards = time.monotonic() - since
            return cov
        time.sleep(POLL_S)
    cov.missing = sorted(expected.keys() - pages_with_vectors(session, run.keyspace))
    return cov


def ingest_through_cdc(run: BenchRun, corpus: Path, timeout: float, children: list[Child]) -> tuple[float, Coverage]:
    """Schema, topics, functions, `gibsey ingest`; then wait for coverage. Returns ingest seconds, coverage."""
    gibsey(run, "schema", "apply")
    gibsey(run, "topics", "create")
    session = open_session(run.settings)
    watcher = CdcWatcher(run)
    try:
        waited = wait_until_captured(run, session, watcher)
        print(f"CDC agent captures {run.keyspace} -> {run.cdc_topic} (after {waited:.1f} s)")
        children.append(function(run, "embedder"))
        children.append(function(run, "indexer"))
        assert not pages_with_vectors(session, run.keyspace), "page_vectors must start empty"
        assert not any(run.index_dir.glob("*.ann")), "the index directory must start empty"
        expected = {p.page_id: p.section for p in load_corpus(corpus).pages}
        started = time.monotonic()
        summary = gibsey(run, "ingest", str(corpus))
        ended = time.monotonic()
        print(summary.strip().splitlines()[-1])
        return ended - started, wait_for_coverage(run, session, expected, ended, timeout)
    finally:
        watcher.close()
        close_session(session)


def seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds after the ingest to reach coverage")
    args = parser.parse_args()

    run = new_run("canon-cdc")
    children: list[Child] = []
    print(f"keyspace {run.keyspace}, topics {run.settings.topic_prefix}*, logs {run.log_dir}")
    try:
        ingest_s, cov = ingest_through_cdc(run, args.corpus, args.timeout, children)
        rebuilds = children[1].log_records("shard rebuilt")
        if cov.missing:
            lag = {tp: n for tp, n in consumer_lag(run, "embedder").items() if n}
            print(f"{len(cov.missing)} pages without vectors, e.g. {', '.join(cov.missing[:5])}; "
                  f"embedder group's unconsumed records per partition: {lag or 'none'}", file=sys.stderr)
    finally:
        cleanup(run, children)
    expected = len(load_corpus(args.corpus).pages)
    coalesce = os.environ.get("GIBSEY_INDEX_COALESCE_S", "1.0 (default)")
    partitions = os.environ.get("GIBSEY_PAGE_TOPIC_PARTITIONS", "6 (default)")
    print()
    print("| Measure | Result |")
    print("| --- | --- |")
    print(f"| `gibsey ingest` ({expected} pages), wall time | {ingest_s:.1f} s |")
    print(f"| pages with vectors in page_vectors | **{cov.vectors} of {expected}** (`gibsey reindex` never run) |")
    print(f"| ingest end → first page with vectors / half / all | {seconds(cov.first_vector)} / "
          f"{seconds(cov.half_vectors)} / **{seconds(cov.all_vectors)}** |")
    print(f"| ingest end → every section's shard holds all its pages ({cov.sections_covered} of 16) | "
          f"**{seconds(cov.all_shards)}** |")
    print(f"| partitions of the CDC topic (GIBSEY_PAGE_TOPIC_PARTITIONS) | {partitions} |")
    print(f"| shard rebuilds by the indexer (GIBSEY_INDEX_COALESCE_S={coalesce}) | {len(rebuilds)} |")
    return 0 if cov.all_shards is not None and cov.vectors == expected else 1


if __name__ == "__main__":
    sys.exit(main())
