"""Summary runs in Cassandra: rows under their run_id, then one pointer write makes the run visible.

Why a pointer: k rows cannot be written atomically as a whole (one partition, but far past the batch size
limit), so readers never read "the newest rows"; they read the pointer's run, which names a complete one.
A run whose rows are half written, or that failed, is invisible. Re-running a run_id rewrites the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

import numpy as np
from cassandra.cluster import Session

from shared.summaries.model import ClusterSummary, QuoteUnit
from shared.summaries.settings import SCOPE
from shared.symbols import SECTION_COUNT


@dataclass(frozen=True)
class RunPointer:
    run_id: str | None
    previous_run_id: str | None
    clusters: int | None
    pages: int | None
    generator: str | None
    completed_at: datetime | None
    duration_ms: float | None
    last_failure_at: datetime | None
    last_failed_run: str | None
    last_error: str | None

    def as_dict(self, now: datetime | None = None) -> dict[str, object]:
        now = now or datetime.now(timezone.utc)
        age = (now - _aware(self.completed_at)).total_seconds() if self.completed_at else None
        iso = lambda t: _aware(t).isoformat() if t else None  # noqa: E731
        return {"run_id": self.run_id, "clusters": self.clusters, "pages": self.pages, "generator": self.generator,
                "completed_at": iso(self.completed_at), "age_s": round(age, 1) if age is not None else None,
                "duration_ms": self.duration_ms, "last_failure_at": iso(self.last_failure_at),
                "last_failed_run": self.last_failed_run, "last_error": self.last_error}


EMPTY_POINTER = RunPointer(*([None] * 10))


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


class SummaryStore:
    def __init__(self, session: Session, keyspace: str, scope: str = SCOPE):
        self._s, self._scope = session, scope
        p = session.prepare
        ks = keyspace
        self._quotes = p(f"SELECT page_id, loc, page_num, character_id, quote, embedding "
                         f"FROM {ks}.quote_vectors WHERE section = ?")
        self._insert = p(f"INSERT INTO {ks}.cluster_summaries (run_id, cluster_id, center_page, member_pages, "
                         f"page_labels, keywords, summary, generator, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        self._drop_run = p(f"DELETE FROM {ks}.cluster_summaries WHERE run_id = ?")
        self._rows = p(f"SELECT * FROM {ks}.cluster_summaries WHERE run_id = ?")
        self._row = p(f"SELECT * FROM {ks}.cluster_summaries WHERE run_id = ? AND cluster_id = ?")
        self._pointer = p(f"SELECT * FROM {ks}.summary_runs WHERE scope = ?")
        self._flip = p(f"UPDATE {ks}.summary_runs SET run_id = ?, previous_run_id = ?, clusters = ?, pages = ?, "
                       f"generator = ?, completed_at = ?, duration_ms = ? WHERE scope = ?")
        self._fail = p(f"UPDATE {ks}.summary_runs SET last_failure_at = ?, last_failed_run = ?, last_error = ? "
                       f"WHERE scope = ?")

    # -- reading the book ------------------------------------------------------------------------------
    def quotes(self) -> list[QuoteUnit]:
        """Every quote vector of the book (all sections)."""
        out = []
        for section in range(1, SECTION_COUNT + 1):
            for r in self._s.execute(self._quotes, (section,)):
                out.append(QuoteUnit(r.page_id, r.page_num, section, r.character_id, r.loc, r.quote,
                                     np.asarray(r.embedding, dtype=np.float32)))
        return out

    # -- writing a run ---------------------------------------------------------------------------------
    def pointer(self) -> RunPointer:
        row = self._s.execute(self._pointer, (self._scope,)).one()
        if row is None:
            return EMPTY_POINTER
        return RunPointer(row.run_id, row.previous_run_id, row.clusters, row.pages, row.generator, row.completed_at,
                          row.duration_ms, row.last_failure_at, row.last_failed_run, row.last_error)

    def write_rows(self, rows: Sequence[ClusterSummary]) -> None:
        """Write a run's rows; the caller must not pass the run the pointer names (readers would see it change)."""
        run_ids = {r.run_id for r in rows}
        current = self.pointer().run_id
        if current in run_ids:
            raise ValueError(f"run {current} is the visible run; write a new run_id instead")
        for run_id in run_ids:  # a re-run of the same run_id starts clean (no rows left from a bigger k)
            self._s.execute(self._drop_run, (run_id,))
        for r in rows:
            self._s.execute(self._insert, (r.run_id, r.cluster_id, r.center_page, list(r.member_pages),
                                           list(r.page_labels), list(r.keywords), r.summary, r.generator,
                                           r.updated_at))

    def publish(self, run_id: str, *, clusters: int, pages: int, generator: str, duration_ms: float) -> None:
        """Flip the pointer to `run_id` (one single-row write: the moment the run becomes visible), keep the
        run before as `previous_run_id`, and drop the one before that."""
        old = self.pointer()
        previous = old.run_id if old.run_id != run_id else old.previous_run_id
        self._s.execute(self._flip, (run_id, previous, clusters, pages, generator, datetime.now(timezone.utc),
                                     duration_ms, self._scope))
        if old.previous_run_id and old.previous_run_id not in (run_id, previous):
            self._s.execute(self._drop_run, (old.previous_run_id,))

    def record_failure(self, run_id: str, error: str) -> None:
        self._s.execute(self._fail, (datetime.now(timezone.utc), run_id, error[:2000], self._scope))

    # -- reading summaries -----------------------------------------------------------------------------
    def latest(self) -> tuple[RunPointer, list[ClusterSummary]]:
        pointer = self.pointer()
        if pointer.run_id is None:
            return pointer, []
        return pointer, [_summary(r) for r in self._s.execute(self._rows, (pointer.run_id,))]

    def cluster(self, cluster_id: int) -> ClusterSummary | None:
        run_id = self.pointer().run_id
        row = self._s.execute(self._row, (run_id, cluster_id)).one() if run_id else None
        return _summary(row) if row else None

    def cluster_of_page(self, page_id: str) -> dict[str, object] | None:
        """The latest run's summary of the cluster `page_id` belongs to (None: no run, or a newer page)."""
        _, rows = self.latest()
        found = next((r for r in rows if page_id in r.member_pages), None)
        return found.as_dict() if found else None


def _summary(r) -> ClusterSummary:
    return ClusterSummary(r.cluster_id, r.run_id, r.center_page, tuple(r.member_pages or ()),
                          tuple(r.page_labels or ()), tuple(r.keywords or ()), r.summary or "", r.generator or "",
                          _aware(r.updated_at))
