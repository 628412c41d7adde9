"""Which reader a session belongs to (blocking; used from the `ledger` workers).

A session is bound to the first user_id that pays in it (the chat's debit carries both) and stays bound to
that user; the vault asks here whose session it is when a save names no user. Bindings never change, so a
process remembers the ones it has seen and skips the lightweight transaction for them.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timezone

from cassandra import ConsistencyLevel
from cassandra.cluster import Session

REMEMBERED = 10_000  # bindings a process keeps in memory (least recently used dropped first)


class SessionReaders:
    def __init__(self, session: Session, keyspace: str) -> None:
        self._s = session
        self._bind = session.prepare(f"INSERT INTO {keyspace}.session_readers (session_id, user_id, bound_at) "
                                     f"VALUES (?, ?, ?) IF NOT EXISTS")
        self._read = session.prepare(f"SELECT user_id FROM {keyspace}.session_readers WHERE session_id = ?")
        self._read.consistency_level = ConsistencyLevel.LOCAL_SERIAL  # sees every applied binding
        self._known: OrderedDict[str, str] = OrderedDict()

    def bind(self, session_id: str, user_id: str) -> str:
        """Bind the session to `user_id` unless it is bound already; returns the session's reader."""
        known = self._remembered(session_id)
        if known is not None:
            return known
        result = self._s.execute(self._bind, (session_id, user_id, datetime.now(timezone.utc)))
        reader = user_id if result.was_applied else result.one().user_id
        return self._remember(session_id, reader)

    def reader_of(self, session_id: str) -> str | None:
        known = self._remembered(session_id)
        if known is not None:
            return known
        row = self._s.execute(self._read, (session_id,)).one()
        return self._remember(session_id, row.user_id) if row is not None else None

    def _remembered(self, session_id: str) -> str | None:
        reader = self._known.get(session_id)
        if reader is not None:
            self._known.move_to_end(session_id)
        return reader

    def _remember(self, session_id: str, reader: str) -> str:
        self._known[session_id] = reader
        if len(self._known) > REMEMBERED:
            self._known.popitem(last=False)
        return reader
