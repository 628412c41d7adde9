"""Reading Debezium's Cassandra change events for the `pages` table (topic cdc.pages).

The format differs from ours: op `i`/`u`/`d` (and `r`, a range tombstone), columns under `after` as
`{value, deletion_ts, set}`, only the changed columns on an update, no before image, keyspace and table in
`source`, and every replica emits its own event. So a change is only a hint: "this page changed"; the
embedder then reads the page as it is now, which also makes duplicates and reordering harmless.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from shared.events import EventValidationError

OPS = {"i": "insert", "c": "insert", "u": "update", "d": "delete", "r": "delete"}
# The columns quote vectors are made from: the text, and what each quote row carries (its section partition,
# the page number in its location `p{page}-{k}`, the character). A change to any other column (a title, a
# version) leaves the vectors as they are.
INDEXED_COLUMNS = frozenset({"text", "section", "page_num", "char_hex"})


@dataclass(frozen=True)
class PageChange:
    op: str  # insert | update | delete
    keyspace: str
    table: str
    page_id: str
    columns: frozenset[str]  # the columns this event sets (or deletes)
    event_id: str  # derived from the raw bytes: a replayed event has the same id
    session_id: str = "cdc"
    type: str = "DebeziumCassandraChange"

    @property
    def touches_index(self) -> bool:
        return self.op == "delete" or bool(self.columns & INDEXED_COLUMNS)


def _field(after: dict[str, Any], name: str) -> Any:
    cell = after.get(name)
    return cell.get("value") if isinstance(cell, dict) else cell


def decode_page_change(raw: bytes) -> PageChange:
    """Parse one event or raise EventValidationError (the consumer then dead-letters it)."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
        raise EventValidationError([f"cdc: not valid JSON ({exc})"]) from None
    if isinstance(data, dict) and "payload" in data and "schema" in data:
        data = data["payload"]  # the JSON converter with schemas on
    if not isinstance(data, dict):
        raise EventValidationError(["cdc: expected a JSON object"])
    problems = []
    op = OPS.get(str(data.get("op")))
    if op is None:
        problems.append(f"op: {data.get('op')!r} is not one of i, u, d, r")
    source = data.get("source") if isinstance(data.get("source"), dict) else {}
    keyspace, table = source.get("keyspace"), source.get("table")
    if not keyspace or not table:
        problems.append("source: keyspace and table are required")
    after = data.get("after") if isinstance(data.get("after"), dict) else {}
    page_id = _field(after, "page_id")
    if not isinstance(page_id, str) or not page_id:
        problems.append("after.page_id: missing")
    if problems:
        raise EventValidationError([f"cdc {p}" for p in problems])
    # Debezium lists every column; the ones this mutation did not touch are null, or have "set": false.
    columns = frozenset(name for name, cell in after.items()
                        if name != "page_id" and isinstance(cell, dict) and cell.get("set", True))
    return PageChange(op, str(keyspace), str(table), page_id, columns, hashlib.sha256(raw).hexdigest()[:32])
