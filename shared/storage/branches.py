"""Branch bookkeeping that must happen exactly once, made so with lightweight transactions (LWT).

Section counters are Cassandra COUNTERs: they cannot be conditional, and a read-then-bump lets two
concurrent forks both see a free place. So the decisions are conditional rows in `processed_events` (the
project's table of once-only claims; no schema change), and the counters only follow them:

- placement  (event_id = <request id>, consumer "placement"): the request's placement as JSON, stored before
  any edge is written, so a redelivered request draws exactly the edges of its first attempt;
- fork slot  (event_id "fork-slot:<section>:<n>", consumer "policy"): the fork page holding slot n of its
  section. A fork takes one of MAX_OPEN_BRANCHES_PER_SECTION slots: the check and the increment are one
  conditional insert, and the slot is freed when the branch comes home;
- branch     (event_id "branch:<fork page id>", consumer "policy"): "closing <page>" when a page first brings
  the branch home, "closed <page>" once its counters moved. Only the "closing" -> "closed" transition
  (conditional, so it succeeds once) decrements the counters.

All reads of these rows are LOCAL_SERIAL, so they see every conditional write that completed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from cassandra import ConsistencyLevel
from cassandra.cluster import Session

from shared.qdpi.policy import MAX_OPEN_BRANCHES_PER_SECTION

if TYPE_CHECKING:
    from shared.storage.pipeline import PipelineStore

PLACEMENT = "placement"
POLICY = "policy"


def slot_key(section: int, slot: int) -> str:
    return f"fork-slot:{section}:{slot}"


def branch_key(fork_page_id: str) -> str:
    return f"branch:{fork_page_id}"


@dataclass(frozen=True)
class SlotHolder:
    slot: int
    holder: str  # the fork page id
    claimed_at: datetime


class BranchLedger:
    def __init__(self, session: Session, keyspace: str, slots: int = MAX_OPEN_BRANCHES_PER_SECTION):
        self._s = session
        self.slots = slots
        p = session.prepare
        table = f"{keyspace}.processed_events"
        self._read = p(f"SELECT result, processed_at FROM {table} WHERE event_id = ? AND consumer = ?")
        self._read.consistency_level = ConsistencyLevel.LOCAL_SERIAL
        self._insert = p(f"INSERT INTO {table} (event_id, consumer, processed_at, result) VALUES (?, ?, ?, ?) "
                         f"IF NOT EXISTS")
        self._swap = p(f"UPDATE {table} SET result = ?, processed_at = ? WHERE event_id = ? AND consumer = ? "
                       f"IF result = ?")
        self._drop = p(f"DELETE FROM {table} WHERE event_id = ? AND consumer = ? IF result = ?")

    # -- placements ---------------------------------------------------------------------------------------------

    def placement(self, request_id: str) -> dict | None:
        row = self._s.execute(self._read, (request_id, PLACEMENT)).one()
        return json.loads(row.result) if row else None

    def save_placement(self, request_id: str, placement: dict) -> dict:
        """Store `placement` unless an attempt stored one first; return the one that holds."""
        applied, existing = self._put(request_id, PLACEMENT, json.dumps(placement, sort_keys=True))
        return placement if applied else json.loads(existing)

    def forget_placement(self, request_id: str) -> bool:
        """Drop the stored placement (repair, for a request that died before writing its page)."""
        row = self._s.execute(self._read, (request_id, PLACEMENT)).one()
        return bool(row) and self._conditional(self._drop, (request_id, PLACEMENT, row.result))

    # -- fork slots ---------------------------------------------------------------------------------------------

    def slot_holders(self, section: int) -> list[SlotHolder]:
        held = []
        for slot in range(self.slots):
            row = self._s.execute(self._read, (slot_key(section, slot), POLICY)).one()
            if row:
                held.append(SlotHolder(slot, row.result, row.processed_at.replace(tzinfo=timezone.utc)))
        return held

    def claim_fork_slot(self, section: int, fork_page_id: str) -> int | None:
        """The slot `fork_page_id` holds (the one it already had, or a free one taken now), or None: the
        section has MAX open branches. Safe to repeat for the same page."""
        held = self.slot_holders(section)
        for h in held:
            if h.holder == fork_page_id:
                return h.slot
        taken = {h.slot for h in held}
        for slot in (s for s in range(self.slots) if s not in taken):
            applied, holder = self._put(slot_key(section, slot), POLICY, fork_page_id)
            if applied or holder == fork_page_id:
                return slot
        return None

    def release_fork_slot(self, section: int, fork_page_id: str) -> bool:
        """Free whichever slot `fork_page_id` holds (a no-op when it holds none)."""
        return any(self._conditional(self._drop, (slot_key(section, h.slot), POLICY, fork_page_id))
                   for h in self.slot_holders(section) if h.holder == fork_page_id)

    # -- closing branches ---------------------------------------------------------------------------------------

    def close_state(self, fork_page_id: str) -> str | None:
        """None (open), "closing <page>" or "closed <page>"."""
        row = self._s.execute(self._read, (branch_key(fork_page_id), POLICY)).one()
        return row.result if row else None

    def claim_close(self, fork_page_id: str, closer: str) -> bool:
        """True when `closer` is the page that brings this branch home and the counters are still to move."""
        applied, state = self._put(branch_key(fork_page_id), POLICY, f"closing {closer}")
        return applied or state == f"closing {closer}"

    def finish_close(self, fork_page_id: str, closer: str) -> bool:
        """"closing" -> "closed": True exactly once, for the caller that must now move the counters."""
        return self._conditional(self._swap, (f"closed {closer}", _now(), branch_key(fork_page_id), POLICY,
                                              f"closing {closer}"))

    # -- helpers ------------------------------------------------------------------------------------------------

    def _put(self, event_id: str, consumer: str, result: str) -> tuple[bool, str | None]:
        """Insert if absent: (applied, the result already there when not applied)."""
        row = self._s.execute(self._insert, (event_id, consumer, _now(), result)).one()
        applied = bool(row[0])
        return applied, (None if applied else row.result)

    def _conditional(self, statement, values: tuple) -> bool:
        return bool(self._s.execute(statement, values).was_applied)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def close_branch(store: PipelineStore, fork_page_id: str, closer: str, consumer: str) -> bool:
    """Bring the branch opened by `fork_page_id` home for page `closer`: once per branch however often it is
    called (redeliveries, other deep pages of the branch, repair). First makes sure the fork's own +1 was
    applied (claimed under the generator's `consumer` name, as the generator does), so the -1 never runs
    ahead of it; then moves open_branches and return_debt down by one and frees the fork's slot.
    True when this call moved the counters."""
    ledger = store.branches
    if not ledger.claim_close(fork_page_id, closer):
        return False
    fork = store.page(fork_page_id)
    if fork is None:  # not a page (a placement pointing at a page never written): nothing was counted
        return False
    if fork.source_event_id and store.claim(fork.source_event_id, consumer, f"{fork_page_id} (on close)"):
        store.bump(fork.section, **counter_deltas(fork))
    if not ledger.finish_close(fork_page_id, closer):
        return False
    store.bump(fork.section, open_branches=-1, return_debt=-1)
    ledger.release_fork_slot(fork.section, fork_page_id)
    return True


def counter_deltas(page) -> dict[str, int]:
    """What writing this page does to its section's counters (kept with the page for redeliveries and repair).
    A return's own deltas never include the -1s: those move in `close_branch`, once per branch."""
    return dict((page.validation or {}).get("counters", {"pages_generated": 1}))


def closed_by(page) -> tuple[str, ...]:
    """The fork pages whose branches this page brings home."""
    return tuple((page.validation or {}).get("closes", ()))
