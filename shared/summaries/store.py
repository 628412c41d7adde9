"""Summary runs in Cassandra: rows under their run_id, then one pointer write makes the run visible.

Why a pointer: k rows cannot be written atomically as a whole (one partition, but far past the batch size
limit), so readers never read "the newest rows"; they read the pointer's run, which names a complete one.
A run whose rows are half written, or that failed, is invisible.

Why claims (0013): two runs may overlap (the 03:00 schedule and the 03:30 cron backup, or a re-run of one
run_id). Only the process holding a run_id's claim writes or drops its rows (lightweight transactions; a
claim's lease lets another take over from a process that died), the pointer moves only to a run marked
complete whose rows are all there, and never back to a run that started before the one it names.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Sequence

import numpy as np
from cassandra import ConsistencyLevel
from cassandra.cluster import Session

from shared.summaries.errors import RunBusy, RunIncomplete
from shared.summaries.model import ClusterSummary, QuoteUnit
from shared.summaries.settings import SCOPE
from shared.symbols import SECTION_COUNT

log = logging.getLogger("gibsey.summaries")
LEASE_S = 600.0  # a claim older than this is a dead writer's: writing 48 rows takes well under a second
CLAIM_WAIT_S = 30.0  # how long a second writer of the same run waits for the first to complete it
CLAIM_POLL_S = 0.5
PUBLISH_ATTEMPTS = 5  # conditional pointer flips lost to other writers before giving up


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
    started_at: datetime | None = None  # when the visible run began reading the book: the pointer's order

    def as_dict(self, now: datetime | None = None) -> dict[str, object]:
        now = now or datetime.now(timezone.utc)
        age = (now - _aware(self.completed_at)).total_seconds() if self.completed_at else None
        iso = lambda t: _aware(t).isoformat() if t else None  # noqa: E731
        return {"run_id": self.run_id, "clusters": self.clusters, "pages": self.pages, "generator": self.generator,
                "completed_at": iso(self.completed_at), "age_s": round(age, 1) if age is not None else None,
                "started_at": iso(self.started_at), "duration_ms": self.duration_ms,
                "last_failure_at": iso(self.last_failure_at),
                "last_failed_run": self.last_failed_run, "last_error": self.last_error}


EMPTY_POINTER = RunPointer(*([None] * 10))


@dataclass(frozen=True)
class Claim:
    run_id: str
    owner: str
    state: str  # writing | complete | dropping
    claimed_at: datetime
    rows: int | None

    def expired(self, now: datetime, lease_s: float) -> bool:
        return self.state != "complete" and now - self.claimed_at > timedelta(seconds=lease_s)


def new_owner() -> str:
    """Who holds a claim: the host and process (for the operator) and a token (two runs in one process)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


class SummaryStore:
    def __init__(self, session: Session, keyspace: str, scope: str = SCOPE, *, lease_s: float = LEASE_S,
                 claim_wait_s: float = CLAIM_WAIT_S):
        self._s, self._scope = session, scope
        self.lease_s, self.claim_wait_s = lease_s, claim_wait_s
        p = session.prepare
        ks = keyspace
        self._quotes = p(f"SELECT page_id, loc, page_num, character_id, quote, embedding "
                         f"FROM {ks}.quote_vectors WHERE section = ?")
        self._insert = p(f"INSERT INTO {ks}.cluster_summaries (run_id, cluster_id, center_page, member_pages, "
                         f"page_labels, keywords, summary, generator, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        self._drop_run = p(f"DELETE FROM {ks}.cluster_summaries WHERE run_id = ?")
        self._rows = p(f"SELECT * FROM {ks}.cluster_summaries WHERE run_id = ?")
        self._row = p(f"SELECT * FROM {ks}.cluster_summaries WHERE run_id = ? AND cluster_id = ?")
        self._cluster_ids = p(f"SELECT cluster_id FROM {ks}.cluster_summaries WHERE run_id = ?")
        self._pointer = p(f"SELECT * FROM {ks}.summary_runs WHERE scope = ?")
        self._pointer_serial = p(f"SELECT * FROM {ks}.summary_runs WHERE scope = ?")
        self._pointer_serial.consistency_level = ConsistencyLevel.SERIAL  # sees every applied flip
        self._flip = p(f"UPDATE {ks}.summary_runs SET run_id = ?, previous_run_id = ?, clusters = ?, pages = ?, "
                       f"generator = ?, completed_at = ?, duration_ms = ?, started_at = ? WHERE scope = ? "
                       f"IF run_id = ? AND started_at = ?")
        self._fail = p(f"UPDATE {ks}.summary_runs SET last_failure_at = ?, last_failed_run = ?, last_error = ? "
                       f"WHERE scope = ?")
        self._claim_new = p(f"INSERT INTO {ks}.summary_run_claims (run_id, owner, state, claimed_at) "
                            f"VALUES (?, ?, ?, ?) IF NOT EXISTS")
        self._claim_take = p(f"UPDATE {ks}.summary_run_claims SET owner = ?, state = ?, claimed_at = ? "
                             f"WHERE run_id = ? IF owner = ? AND state = ? AND claimed_at = ?")
        self._claim_done = p(f"UPDATE {ks}.summary_run_claims SET state = 'complete', rows = ? WHERE run_id = ? "
                             f"IF owner = ? AND state = 'writing'")
        self._claim_release = p(f"DELETE FROM {ks}.summary_run_claims WHERE run_id = ? IF owner = ?")
        self._claim_read = p(f"SELECT * FROM {ks}.summary_run_claims WHERE run_id = ?")
        self._claim_read.consistency_level = ConsistencyLevel.SERIAL

    # -- reading the book ------------------------------------------------------------------------------
    def quotes(self) -> list[QuoteUnit]:
        """Every quote vector of the book (all sections)."""
        out = []
        for section in range(1, SECTION_COUNT + 1):
            for r in self._s.execute(self._quotes, (section,)):
                out.append(QuoteUnit(r.page_id, r.page_num, section, r.character_id, r.loc, r.quote,
                                     np.asarray(r.embedding, dtype=np.float32)))
        return out

    # -- the pointer -----------------------------------------------------------------------------------
    def pointer(self, *, serial: bool = False) -> RunPointer:
        row = self._s.execute(self._pointer_serial if serial else self._pointer, (self._scope,)).one()
        if row is None:
            return EMPTY_POINTER
        return RunPointer(row.run_id, row.previous_run_id, row.clusters, row.pages, row.generator, row.completed_at,
                          row.duration_ms, row.last_failure_at, row.last_failed_run, row.last_error,
                          row.started_at)

    # -- claims ----------------------------------------------------------------------------------------
    def claim_of(self, run_id: str) -> Claim | None:
        return _claim(self._s.execute(self._claim_read, (run_id,)).one())

    def _try_claim(self, run_id: str, owner: str, state: str) -> Claim | None:
        """None when `owner` now holds the claim (new, or taken over from an expired lease); else the claim
        someone else holds."""
        now = _now()
        result = self._s.execute(self._claim_new, (run_id, owner, state, now))
        if result.was_applied:
            return None
        held = _claim(result.one())
        if held is None or not held.expired(now, self.lease_s):
            return held
        taken = self._s.execute(self._claim_take, (owner, state, now, run_id, held.owner, held.state,
                                                   held.claimed_at))
        if taken.was_applied:
            log.warning("took over an expired summary run claim",
                        extra={"run_id": run_id, "from_owner": held.owner, "state": held.state,
                               "claimed_at": held.claimed_at.isoformat()})
            return None
        return self.claim_of(run_id)

    def _release(self, run_id: str, owner: str) -> None:
        self._s.execute(self._claim_release, (run_id, owner))

    # -- writing a run ---------------------------------------------------------------------------------
    def write_run(self, run_id: str, rows: Sequence[ClusterSummary]) -> bool:
        """Claim `run_id`, write its rows (after dropping any a dead writer left), mark it complete.

        True: this call wrote them. False: another process had completed the same run_id (same book, k,
        seed and writer: the same rows), or did so while this one waited up to claim_wait_s. RunBusy: it
        is still held by another writer. The visible run is never rewritten (readers would see it change).
        """
        if any(r.run_id != run_id for r in rows):
            raise ValueError(f"every row of run {run_id} must carry that run_id")
        if self.pointer().run_id == run_id:
            raise ValueError(f"run {run_id} is the visible run; write a new run_id instead")
        owner = new_owner()
        deadline = time.monotonic() + self.claim_wait_s
        while (held := self._try_claim(run_id, owner, "writing")) is not None:
            if held.state == "complete":
                log.info("summary run already written by another process", extra={"run_id": run_id,
                                                                                  "owner": held.owner})
                return False
            if time.monotonic() >= deadline:
                raise RunBusy(f"run {run_id} is held by {held.owner} ({held.state} since "
                              f"{held.claimed_at.isoformat()}; its lease ends after {self.lease_s:.0f} s); "
                              f"try again later")
            time.sleep(CLAIM_POLL_S)
        try:
            self._s.execute(self._drop_run, (run_id,))  # rows a dead writer or a bigger k left behind
            for r in rows:
                self._s.execute(self._insert, (r.run_id, r.cluster_id, r.center_page, list(r.member_pages),
                                               list(r.page_labels), list(r.keywords), r.summary, r.generator,
                                               r.updated_at))
            if not self._s.execute(self._claim_done, (len(rows), run_id, owner)).was_applied:
                raise RunBusy(f"run {run_id}: the claim was taken over while its rows were written (lease "
                              f"{self.lease_s:.0f} s); its rows are left to the new owner")
        except BaseException:
            try:
                self._release(run_id, owner)
            except Exception as exc:  # noqa: BLE001 - the lease frees it in the end
                log.error("summary run claim not released", extra={"run_id": run_id, "error": repr(exc)})
            raise
        return True

    def write_rows(self, rows: Sequence[ClusterSummary]) -> None:
        """`write_run` for each run_id among `rows` (one run, in practice)."""
        by_run: dict[str, list[ClusterSummary]] = defaultdict(list)
        for r in rows:
            by_run[r.run_id].append(r)
        for run_id, run_rows in by_run.items():
            self.write_run(run_id, run_rows)

    def _require_complete(self, run_id: str, clusters: int) -> None:
        claim = self.claim_of(run_id)
        ids = sorted(r.cluster_id for r in self._s.execute(self._cluster_ids, (run_id,)))
        if claim is None or claim.state != "complete" or claim.rows != clusters or ids != list(range(clusters)):
            state = f"{claim.state} by {claim.owner}" if claim else "never claimed"
            raise RunIncomplete(f"run {run_id} is not complete ({state}; {len(ids)} of {clusters} rows): "
                                f"the pointer stays where it is")

    def publish(self, run_id: str, *, clusters: int, pages: int, generator: str, duration_ms: float,
                started_at: datetime | None = None) -> bool:
        """Make `run_id` the visible run: a conditional flip of the pointer (the moment it becomes visible),
        only if its rows are complete (RunIncomplete otherwise) and no run that started later is visible.
        Keeps the run before as `previous_run_id` and drops the one before that. Re-publishing the visible
        run refreshes its time. True: the pointer names `run_id`; False: a newer run is visible."""
        started_at = _aware(started_at) if started_at else _now()
        for _ in range(PUBLISH_ATTEMPTS):
            old = self.pointer(serial=True)
            if old.run_id != run_id:
                if old.started_at and _aware(old.started_at) > started_at:
                    log.info("summary run superseded: a newer run is visible",
                             extra={"run_id": run_id, "visible": old.run_id})
                    return False
                self._require_complete(run_id, clusters)
            previous = old.run_id if old.run_id != run_id else old.previous_run_id
            newest = max(started_at, _aware(old.started_at)) if old.run_id == run_id and old.started_at else started_at
            flipped = self._s.execute(self._flip, (run_id, previous, clusters, pages, generator, _now(), duration_ms,
                                                   newest, self._scope, old.run_id, old.started_at))
            if flipped.was_applied:
                if old.previous_run_id and old.previous_run_id not in (run_id, previous):
                    self.discard(old.previous_run_id)
                return True
        raise RunBusy(f"run {run_id}: the pointer changed under {PUBLISH_ATTEMPTS} attempts to publish; "
                      f"other runs are publishing, try again later")

    def discard(self, run_id: str) -> bool:
        """Drop a run's rows under its claim ('dropping'), unless it is visible or kept as the previous run,
        or another process holds it. True: dropped."""
        pointer = self.pointer(serial=True)
        if run_id in (pointer.run_id, pointer.previous_run_id):
            return False
        owner = new_owner()
        held = self._try_claim(run_id, owner, "dropping")
        if held is not None:
            if held.state != "complete":
                return False
            taken = self._s.execute(self._claim_take, (owner, "dropping", _now(), run_id, held.owner, held.state,
                                                       held.claimed_at))
            if not taken.was_applied:
                return False
        self._s.execute(self._drop_run, (run_id,))
        self._release(run_id, owner)
        return True

    def record_failure(self, run_id: str, error: str) -> None:
        self._s.execute(self._fail, (_now(), run_id, error[:2000], self._scope))

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

    def notes_by_page(self) -> tuple[str | None, dict[str, dict[str, object]]]:
        """The latest run's id, and the summary (as_dict) of the cluster each of its pages belongs to."""
        pointer, rows = self.latest()
        return pointer.run_id, {page: row.as_dict() for row in rows for page in row.member_pages}

    def cluster_of_page(self, page_id: str) -> dict[str, object] | None:
        """The latest run's summary of the cluster `page_id` belongs to (None: no run, or a newer page)."""
        return self.notes_by_page()[1].get(page_id)


def _claim(r) -> Claim | None:
    if r is None or r.owner is None:
        return None
    return Claim(r.run_id, r.owner, r.state, _aware(r.claimed_at), r.rows)


def _summary(r) -> ClusterSummary:
    return ClusterSummary(r.cluster_id, r.run_id, r.center_page, tuple(r.member_pages or ()),
                          tuple(r.page_labels or ()), tuple(r.keywords or ()), r.summary or "", r.generator or "",
                          _aware(r.updated_at))
