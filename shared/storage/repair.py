"""`gibsey repair`: find and fix what a crash between two writes can leave behind.

The page generator writes edges first and the page last, then claims the request and updates counters.
A crash in between leaves either edges pointing at a generated page that was never written (the request
is normally redelivered and completes them; if it went to the DLQ instead, they dangle), or a written page
whose counters were never applied. Repair deletes dangling edges and applies missing counter updates,
claiming each request exactly as the generator would, so running it twice (or beside the generator) is safe.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from cassandra.cluster import Session

from shared.storage.pipeline import PipelineStore

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
GENERATOR_CONSUMER = "page_generator"


@dataclass
class RepairReport:
    dangling_edges: list[tuple[str, str, str]] = field(default_factory=list)  # (from, type, to)
    counters_applied: list[str] = field(default_factory=list)  # page ids

    @property
    def clean(self) -> bool:
        return not self.dangling_edges and not self.counters_applied


def repair(session: Session, keyspace: str, *, dry_run: bool = False) -> RepairReport:
    store = PipelineStore(session, keyspace)
    report = RepairReport()
    generated = {row.page_id: row for row in session.execute(
        f"SELECT page_id, section, source_event_id, validation_json FROM {keyspace}.pages") if _UUID.match(row.page_id)}
    for edge in session.execute(f"SELECT page_id, edge_type, created_at, target_id FROM {keyspace}.page_edges"):
        ends = (edge.page_id, edge.target_id)
        missing = [end for end in ends if _UUID.match(end or "") and end not in generated]
        if missing:
            report.dangling_edges.append((edge.page_id, edge.edge_type, edge.target_id))
            if not dry_run:
                session.execute(f"DELETE FROM {keyspace}.page_edges WHERE page_id = %s AND edge_type = %s "
                                f"AND created_at = %s", (edge.page_id, edge.edge_type, edge.created_at))
    claimed = {row.event_id for row in session.execute(
        f"SELECT event_id FROM {keyspace}.processed_events") if row}
    for page_id, row in generated.items():
        if not row.source_event_id or row.source_event_id in claimed:
            continue
        report.counters_applied.append(page_id)
        if not dry_run and store.claim(row.source_event_id, GENERATOR_CONSUMER, f"{page_id} (repair)"):
            deltas = json.loads(row.validation_json or "{}").get("counters", {"pages_generated": 1})
            store.bump(row.section, **deltas)
    return report
