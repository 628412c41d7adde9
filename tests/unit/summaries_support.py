"""A synthetic book of quote vectors (three topics) and an in-memory SummaryStore for the summary tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import numpy as np

from shared.summaries.model import ClusterSummary, QuoteUnit
from shared.summaries.store import EMPTY_POINTER, RunPointer

TOPICS = {
    "sea": "tide harbour salt gulls lighthouse keeper rope boat storm sailors ferry anchor".split(),
    "city": "tower elevator lobby neon subway traffic concrete office windows crowd taxi rooftop".split(),
    "forest": "moss pines owl clearing fern roots lantern path cabin deer bark river".split(),
}


def synthetic_quotes(pages_per_topic: int = 10, quotes_per_page: int = 6, seed: int = 1) -> list[QuoteUnit]:
    rng = np.random.default_rng(seed)
    centres = {t: rng.normal(size=384) for t in TOPICS}
    quotes = []
    number = 0
    for topic, words in TOPICS.items():
        for _ in range(pages_per_topic):
            number += 1
            for k in range(quotes_per_page):
                text = " ".join(rng.choice(words, size=14)) + f" and the {topic} went on quietly."
                v = centres[topic] + rng.normal(scale=0.3, size=384)
                quotes.append(QuoteUnit(f"S01-P{number:04d}", number, 1, "london-fox", f"p{number}-{k + 1}",
                                        text.capitalize(), (v / np.linalg.norm(v)).astype(np.float32)))
    return quotes


class MemoryStore:
    """The SummaryStore methods a run uses, with the same pointer semantics, in memory."""

    def __init__(self, quotes: list[QuoteUnit], fail_quotes: Exception | None = None):
        self._quotes, self.fail_quotes = quotes, fail_quotes
        self.rows: dict[str, dict[int, ClusterSummary]] = {}
        self._pointer: RunPointer = EMPTY_POINTER
        self.writes = 0

    def quotes(self) -> list[QuoteUnit]:
        if self.fail_quotes:
            raise self.fail_quotes
        return list(self._quotes)

    def pointer(self) -> RunPointer:
        return self._pointer

    def write_rows(self, rows) -> None:
        assert self._pointer.run_id not in {r.run_id for r in rows}
        for r in rows:
            self.rows.setdefault(r.run_id, {})[r.cluster_id] = r
            self.writes += 1

    def publish(self, run_id, *, clusters, pages, generator, duration_ms) -> None:
        self._pointer = replace(self._pointer, run_id=run_id, clusters=clusters, pages=pages, generator=generator,
                                completed_at=datetime.now(timezone.utc), duration_ms=duration_ms)

    def record_failure(self, run_id, error) -> None:
        self._pointer = replace(self._pointer, last_failure_at=datetime.now(timezone.utc), last_failed_run=run_id,
                                last_error=error)

    def latest(self):
        return self._pointer, sorted(self.rows.get(self._pointer.run_id, {}).values(), key=lambda r: r.cluster_id)
