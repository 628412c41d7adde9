"""What the pipeline functions read and write in Cassandra (blocking; used from Nameko workers).

Writes are idempotent by event: a generated page's id and its edges' TIMEUUIDs derive from the request's
event_id, so a redelivered request rewrites the same rows. Counter updates are not idempotent in
Cassandra, so they run once per event behind a lightweight-transaction claim in `processed_events`; the
branch decisions (placements, fork slots, closing a branch) are conditional rows there too (`branches`).
Order for a new page: edges first, page last, so a reader never sees a page whose edges are missing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from cassandra.cluster import Session
from cassandra.util import uuid_from_time

from shared.canon.model import CANON_BOOK
from shared.events import Envelope, Payload, headers_for
from shared.qdpi.policy import SectionCounters
from shared.rpc import rpc_service
from shared.storage.branches import BranchLedger

GIBSEY_NAMESPACE = uuid.UUID("6a1b5c2e-9d47-4f0e-8a3c-1f2e3d4c5b6a")
GENERATOR = "page_generator"
PAGE_COLUMNS = ("page_id, page_num, title, text, section, char_hex, symbol_code, trajectory, return_to, "
                "branch_root, branch_depth, session_id, source_event_id, created_at, author, validation_json")


def generator_consumer() -> str:
    """The name the page generator claims requests under (its RPC service name, GIBSEY_RPC_PREFIX included);
    `gibsey repair` claims under the same name, so the two never both apply one request's counters."""
    return rpc_service(GENERATOR)


def generated_page_id(request_event_id: str) -> str:
    """The page a request writes: the same id however often the request is delivered."""
    return str(uuid.uuid5(GIBSEY_NAMESPACE, f"page:{request_event_id}"))


def event_timeuuid(ts: datetime, event_id: str, salt: int = 0) -> uuid.UUID:
    """A TIMEUUID at `ts` whose node and clock bits come from the event id: deterministic per event."""
    digest = uuid.uuid5(GIBSEY_NAMESPACE, f"{event_id}:{salt}").int
    return uuid_from_time(ts, node=digest & 0xFFFFFFFFFFFF, clock_seq=(digest >> 48) & 0x3FFF)


@dataclass(frozen=True)
class StoredPage:
    page_id: str
    page_num: int | None
    title: str
    text: str
    section: int
    char_hex: int
    symbol_code: int
    trajectory: str
    return_to: str | None
    branch_root: str | None
    branch_depth: int
    created_at: datetime | None = None
    author: str | None = None
    validation: dict | None = None
    source_event_id: str | None = None  # the request that wrote it (None on canon pages)

    @property
    def is_canon(self) -> bool:
        return self.page_num is not None


@dataclass(frozen=True)
class NewPage:
    page_id: str
    section: int
    char_hex: int
    behaviour: int
    symbol_code: int
    orientation: str
    provenance: str
    trajectory: str
    title: str
    text: str
    return_to: str | None  # the locus it was written from
    branch_root: str | None
    branch_depth: int
    session_id: str
    source_event_id: str
    author: str  # the generator: "llm:<model>" or "canon-composer"
    validation: dict


class PipelineStore:
    def __init__(self, session: Session, keyspace: str):
        self._s = session
        self.branches = BranchLedger(session, keyspace)
        p = session.prepare
        ks = keyspace
        self._page = p(f"SELECT {PAGE_COLUMNS} FROM {ks}.pages WHERE page_id = ?")
        self._number = p(f"SELECT page_id FROM {ks}.page_numbers WHERE book = ? AND page_num = ?")
        self._first_of = p(f"SELECT page_id FROM {ks}.pages_index WHERE character_id = ? AND section = ? LIMIT 1")
        self._edges = p(f"SELECT edge_type, target_id FROM {ks}.page_edges WHERE page_id = ?")
        self._prompt = p(f"SELECT system_prompt FROM {ks}.characters WHERE character_id = ?")
        self._counters = p(f"SELECT open_branches, return_debt FROM {ks}.section_counters WHERE section = ?")
        self._session_log = p(f"SELECT type, payload_json FROM {ks}.events_log WHERE session_id = ? "
                              f"ORDER BY ts DESC LIMIT 500")
        self._log = p(f"INSERT INTO {ks}.events_log (session_id, ts, event_id, type, payload_json, headers_json) "
                      f"VALUES (?, ?, ?, ?, ?, ?)")
        self._claim = p(f"INSERT INTO {ks}.processed_events (event_id, consumer, processed_at, result) "
                        f"VALUES (?, ?, ?, ?) IF NOT EXISTS")
        self._edge = p(f"INSERT INTO {ks}.page_edges (page_id, edge_type, created_at, target_id) VALUES (?, ?, ?, ?)")
        self._write_page = p(
            f"INSERT INTO {ks}.pages (page_id, char_hex, behavior, symbol_code, section, title, orientation, "
            f"provenance, trajectory, return_to, text, created_at, author, version, branch_root, branch_depth, "
            f"session_id, source_event_id, validation_json) VALUES ({', '.join('?' * 19)})")
        self._bump = {
            name: p(f"UPDATE {ks}.section_counters SET {name} = {name} + ? WHERE section = ?")
            for name in ("open_branches", "return_debt", "pages_generated")
        }

    # -- reads ------------------------------------------------------------------------------------------------

    def page(self, page_id: str) -> StoredPage | None:
        row = self._s.execute(self._page, (page_id,)).one()
        if row is None:
            return None
        return StoredPage(row.page_id, row.page_num, row.title or "", row.text or "", row.section, row.char_hex,
                          row.symbol_code, row.trajectory or "T0", row.return_to, row.branch_root,
                          row.branch_depth or 0, row.created_at, row.author,
                          json.loads(row.validation_json) if row.validation_json else None,
                          row.source_event_id)

    def canon_page_id(self, number: int) -> str | None:
        row = self._s.execute(self._number, (CANON_BOOK, number)).one()
        return row.page_id if row else None

    def first_page_of(self, character_id: str, section: int) -> str | None:
        row = self._s.execute(self._first_of, (character_id, section)).one()
        return row.page_id if row else None

    def edges(self, page_id: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for row in self._s.execute(self._edges, (page_id,)):
            found.setdefault(row.edge_type, []).append(row.target_id)
        return found

    def system_prompt(self, character_id: str) -> str | None:
        row = self._s.execute(self._prompt, (character_id,)).one()
        return row.system_prompt if row else None

    def counters(self, section: int) -> SectionCounters:
        """The section's counters as the policy reads them: never below 0 (a COUNTER cannot be conditional;
        a -1 applied before a lost +1 must not open the way to extra forks)."""
        row = self._s.execute(self._counters, (section,)).one()
        if row is None:
            return SectionCounters()
        return SectionCounters(max(0, row.open_branches or 0), max(0, row.return_debt or 0))

    def latest_session_page(self, session_id: str, character_id: str) -> str | None:
        """The most recent page this reader's symbols wrote for this character (from the events log)."""
        for row in self._s.execute(self._session_log, (session_id,)):
            if row.type == "PageGenerated":
                payload = json.loads(row.payload_json)
                if payload.get("character") == character_id:
                    return payload["page_id"]
        return None

    def previous_pages(self, page: StoredPage, count: int = 3) -> list[StoredPage]:
        """Walk back along the book: a generated page's locus, a canon page's predecessor in the ring."""
        found: list[StoredPage] = []
        here = page
        while len(found) < count:
            if here.is_canon:
                prev_id = self.canon_page_id(here.page_num - 1) if here.page_num and here.page_num > 1 else None
            else:
                prev_id = here.return_to
            previous = self.page(prev_id) if prev_id else None
            if previous is None or previous.page_id in {p.page_id for p in found} | {page.page_id}:
                break
            found.append(previous)
            here = previous
        return found

    # -- writes -----------------------------------------------------------------------------------------------

    def log_event(self, envelope: Envelope[Payload]) -> None:
        """Append to events_log; the same event logged twice is one row (deterministic TIMEUUID)."""
        event_id = str(envelope.event_id)
        headers = {name: value.decode() for name, value in headers_for(envelope)}
        self._s.execute(self._log, (envelope.session_id, event_timeuuid(envelope.ts, event_id), event_id,
                                    envelope.type, json.dumps(envelope.to_json_dict()["payload"]),
                                    json.dumps(headers)))

    def claim(self, event_id: str, consumer: str, result: str) -> bool:
        """True the first time `consumer` claims `event_id`; False on every redelivery."""
        return bool(self._s.execute(self._claim, (event_id, consumer, datetime.now(timezone.utc), result))
                    .was_applied)

    def write_page(self, page: NewPage, edges: list[tuple[str, str, str]], created: datetime) -> None:
        """`edges` as (from_page_id, edge_type, to_page_id); written before the page row, each idempotent."""
        for i, (source, edge_type, target) in enumerate(edges):
            self._s.execute(self._edge, (source, edge_type, event_timeuuid(created, page.source_event_id, i + 1),
                                         target))
        self._insert_page(page, created)

    def _insert_page(self, page: NewPage, created: datetime) -> None:
        self._s.execute(self._write_page, (
            page.page_id, page.char_hex, page.behaviour, page.symbol_code, page.section, page.title,
            page.orientation, page.provenance, page.trajectory, page.return_to, page.text, created, page.author,
            "generated-1", page.branch_root, page.branch_depth, page.session_id, page.source_event_id,
            json.dumps(page.validation)))

    def bump(self, section: int, **deltas: int) -> None:
        for name, delta in deltas.items():
            if delta:
                self._s.execute(self._bump[name], (delta, section))
