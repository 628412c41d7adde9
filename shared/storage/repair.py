"""`gibsey repair`: find and fix what a crash between two writes can leave behind.

The page generator stores the request's placement, writes edges, then the page, then claims the request,
updates counters and closes the branches the page brings home. A crash in between leaves:
- edges pointing at a generated page that was never written. The request is normally redelivered and
  completes them; if it went to the DLQ instead, they dangle. Edges are written a few milliseconds before
  their page, so only edges older than a grace period (their write time, and their created_at TIMEUUID) are
  taken as half-written, and the page is looked up again right before each delete;
- a written page whose counters were never applied;
- a return page whose branches were not (all) closed;
- a fork slot held by a page that is not an open fork (its branch came home, or it was placed otherwise), or
  by a fork page never written long after the slot was taken (the request was dead-lettered).
Every fix is claimed exactly as the generator claims it (under its service name, GIBSEY_RPC_PREFIX included),
so running repair twice, or beside the generator, is safe.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from cassandra.cluster import Session
from cassandra.util import datetime_from_uuid1

from shared.storage.branches import PLACEMENT, close_branch
from shared.storage.pipeline import PipelineStore, generator_consumer
from shared.symbols import SECTION_COUNT, Trajectory

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DEFAULT_GRACE_S = 60.0
# A fork request takes its slot before the writer runs (up to GIBSEY_MAX_ATTEMPTS x four LLM calls of
# GIBSEY_LLM_TIMEOUT_S each): only a slot this old whose page never appeared is taken as abandoned.
DEFAULT_ABANDONED_AFTER_S = 900.0


@dataclass
class RepairReport:
    dangling_edges: list[tuple[str, str, str]] = field(default_factory=list)  # (from, type, to)
    counters_applied: list[str] = field(default_factory=list)  # page ids
    branches_closed: list[str] = field(default_factory=list)  # fork page ids
    slots_freed: list[tuple[int, str]] = field(default_factory=list)  # (section, holder page id)
    too_recent: int = 0  # dangling-looking edges left alone: younger than the grace period

    @property
    def clean(self) -> bool:
        return not (self.dangling_edges or self.counters_applied or self.branches_closed or self.slots_freed)


def repair(session: Session, keyspace: str, *, dry_run: bool = False, grace_s: float = DEFAULT_GRACE_S,
           abandoned_after_s: float = DEFAULT_ABANDONED_AFTER_S, consumer: str | None = None,
           now: datetime | None = None) -> RepairReport:
    if grace_s < 0 or abandoned_after_s < 0:
        raise ValueError("grace_s and abandoned_after_s must be zero or more seconds")
    consumer = consumer or generator_consumer()
    now = now or datetime.now(timezone.utc)
    store = PipelineStore(session, keyspace)
    report = RepairReport()
    generated = {row.page_id: row for row in session.execute(
        f"SELECT page_id, section, trajectory, source_event_id, validation_json FROM {keyspace}.pages")
        if _UUID.match(row.page_id)}
    _dangling_edges(session, keyspace, store, generated, now - timedelta(seconds=grace_s), dry_run, report)
    claims = list(session.execute(f"SELECT event_id, consumer, result FROM {keyspace}.processed_events"))
    _missing_counters(store, generated, {r.event_id for r in claims if r.consumer == consumer}, consumer,
                      dry_run, report)
    _open_returns(store, generated, consumer, dry_run, report)
    placements = {json.loads(r.result).get("page_id"): r.event_id for r in claims if r.consumer == PLACEMENT}
    _stale_slots(store, now - timedelta(seconds=abandoned_after_s), placements, dry_run, report)
    return report


def _dangling_edges(session: Session, keyspace: str, store: PipelineStore, generated: dict, written_before: datetime,
                    dry_run: bool, report: RepairReport) -> None:
    for edge in session.execute(f"SELECT page_id, edge_type, created_at, target_id, WRITETIME(target_id) AS written "
                                f"FROM {keyspace}.page_edges"):
        missing = [end for end in (edge.page_id, edge.target_id) if _UUID.match(end or "") and end not in generated]
        if not missing:
            continue
        if _edge_time(edge) > written_before:
            report.too_recent += 1
            continue
        if any(store.page(end) is not None for end in missing):  # written since the scan began
            continue
        report.dangling_edges.append((edge.page_id, edge.edge_type, edge.target_id))
        if not dry_run:
            session.execute(f"DELETE FROM {keyspace}.page_edges WHERE page_id = %s AND edge_type = %s "
                            f"AND created_at = %s", (edge.page_id, edge.edge_type, edge.created_at))


def _edge_time(edge) -> datetime:
    """The later of the edge's TIMEUUID and its last write: a redelivery rewrites an old request's edges now."""
    stamped = datetime_from_uuid1(edge.created_at).replace(tzinfo=timezone.utc)
    written = datetime.fromtimestamp(edge.written / 1e6, timezone.utc) if edge.written else stamped
    return max(stamped, written)


def _missing_counters(store: PipelineStore, generated: dict, claimed: set[str], consumer: str, dry_run: bool,
                      report: RepairReport) -> None:
    for page_id, row in generated.items():
        if not row.source_event_id or row.source_event_id in claimed:
            continue
        report.counters_applied.append(page_id)
        if not dry_run and store.claim(row.source_event_id, consumer, f"{page_id} (repair)"):
            deltas = json.loads(row.validation_json or "{}").get("counters", {"pages_generated": 1})
            store.bump(row.section, **deltas)


def _open_returns(store: PipelineStore, generated: dict, consumer: str, dry_run: bool, report: RepairReport) -> None:
    for page_id, row in generated.items():
        for fork_id in json.loads(row.validation_json or "{}").get("closes", ()):
            if (store.branches.close_state(fork_id) or "").startswith("closed "):
                continue
            if dry_run or close_branch(store, fork_id, page_id, consumer):
                report.branches_closed.append(fork_id)


def _stale_slots(store: PipelineStore, abandoned_before: datetime, placements: dict[str, str], dry_run: bool,
                 report: RepairReport) -> None:
    ledger = store.branches
    for section in range(1, SECTION_COUNT + 1):
        for held in ledger.slot_holders(section):
            page = store.page(held.holder)
            if page is None:
                stale = held.claimed_at < abandoned_before
            else:
                closed = (ledger.close_state(page.page_id) or "").startswith("closed ")
                stale = page.trajectory != Trajectory.FORK.value or closed
            if not stale:
                continue
            report.slots_freed.append((section, held.holder))
            if dry_run:
                continue
            ledger.release_fork_slot(section, held.holder)
            request_id = placements.get(held.holder)
            if page is None and request_id:  # a replay of the dead request must decide its placement afresh
                ledger.forget_placement(request_id)

