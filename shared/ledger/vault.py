"""The reader's vault: pages a session saved, newest first (blocking; used from the `ledger` workers).

`vault` (0002) is keyed (session_id, saved_ts, page_id) so it lists newest first; `vault_pages` (0009)
claims (session_id, page_id) once (IF NOT EXISTS) and remembers the saved_ts, so saving a page again
updates its entry in place instead of listing it twice. Each step is idempotent: a save cut off between
the claim and the entry is completed by saving again.
"""

from __future__ import annotations

import time
import uuid
from datetime import timezone
from typing import TypedDict

from cassandra import ConsistencyLevel
from cassandra.cluster import Session
from cassandra.util import datetime_from_uuid1, uuid_from_time

VAULT_NAMESPACE = uuid.UUID("0b9a7f3e-51c4-4d8e-9f2a-6c1d7e3b5a90")


class VaultEntry(TypedDict):
    session_id: str
    page_id: str
    label: str | None
    notes: str | None
    saved_at: str


def reward_request_id(user_id: str, page_id: str) -> str:
    """The ledger request that pays for saving `page_id`: one per user and page, whichever session saves it,
    so a page saved twice (or in a second session) earns once."""
    return "vault-" + str(uuid.uuid5(VAULT_NAMESPACE, user_id + "\n" + page_id))


class VaultStore:
    def __init__(self, session: Session, keyspace: str):
        self._s = session
        ks = keyspace

        def prepare(cql: str):
            statement = session.prepare(cql)
            statement.consistency_level = ConsistencyLevel.LOCAL_QUORUM
            return statement

        self._page = prepare(f"SELECT page_id FROM {ks}.pages WHERE page_id = ?")
        self._claim = prepare(f"INSERT INTO {ks}.vault_pages (session_id, page_id, saved_ts) VALUES (?, ?, ?) "
                              f"IF NOT EXISTS")
        self._entry = prepare(f"SELECT label, notes FROM {ks}.vault WHERE session_id = ? AND saved_ts = ? "
                              f"AND page_id = ?")
        self._write = prepare(f"INSERT INTO {ks}.vault (session_id, saved_ts, page_id, label, notes) "
                              f"VALUES (?, ?, ?, ?, ?)")
        self._list = prepare(f"SELECT saved_ts, page_id, label, notes FROM {ks}.vault WHERE session_id = ? LIMIT ?")

    def page_exists(self, page_id: str) -> bool:
        return self._s.execute(self._page, (page_id,)).one() is not None

    def save(self, session_id: str, page_id: str, label: str | None, notes: str | None) -> tuple[VaultEntry, bool]:
        """Save (or re-save) a page; True when it was not in this session's vault before. A re-save keeps the
        entry's place and replaces only the label/notes it is given."""
        saved_ts = uuid_from_time(time.time())
        claimed = self._s.execute(self._claim, (session_id, page_id, saved_ts))
        new = claimed.was_applied
        if not new:  # saved before: keep its place, fill in what this save does not change
            saved_ts = claimed.one().saved_ts
            existing = self._s.execute(self._entry, (session_id, saved_ts, page_id)).one()
            if existing is not None:
                label = existing.label if label is None else label
                notes = existing.notes if notes is None else notes
        self._s.execute(self._write, (session_id, saved_ts, page_id, label, notes))
        return _entry(session_id, saved_ts, page_id, label, notes), new

    def list(self, session_id: str, limit: int) -> list[VaultEntry]:
        return [_entry(session_id, row.saved_ts, row.page_id, row.label, row.notes)
                for row in self._s.execute(self._list, (session_id, limit))]


def _entry(session_id: str, saved_ts: uuid.UUID, page_id: str, label: str | None, notes: str | None) -> VaultEntry:
    saved_at = datetime_from_uuid1(saved_ts).replace(tzinfo=timezone.utc).isoformat(timespec="milliseconds")
    return {"session_id": session_id, "page_id": page_id, "label": label, "notes": notes, "saved_at": saved_at}
