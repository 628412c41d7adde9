"""Appending the entrypoint's own events (a reader's `PipelineFailed`) to events_log, so that a stream
resumed with Last-Event-ID replays them like the pages.

The consumer entrypoint has no storage dependency of its own, so this opens a Cassandra session on first
use (most consumers never dead-letter anything) and writes the same row `PipelineStore.log_event` writes:
a deterministic TIMEUUID per event, so the same event logged twice is one row. Best effort by design:
the DLQ must not stall because Cassandra is down, so a failed append is logged and the caller moves on
(the reader's live stream still hears of it from Kafka).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Callable

from cassandra.cluster import Session

from shared.config import Settings
from shared.events import Envelope, Payload, headers_for
from shared.storage.cassandra import close_session, open_session
from shared.storage.pipeline import event_timeuuid

log = logging.getLogger("gibsey.bus.session_log")

REOPEN_AFTER_S = 30.0  # after a failed connect, don't try again (and block the consumer's loop) for this long


class SessionLog:
    def __init__(self, settings: Settings, *, opener: Callable[[Settings], Session] = open_session):
        self._settings = settings
        self._opener = opener
        self._session: Session | None = None
        self._insert = None
        self._failed_at = float("-inf")

    def append(self, envelope: Envelope[Payload]) -> bool:
        """Write the event to its session's log; False (and a log line) when Cassandra could not take it."""
        try:
            session = self._ready()
            if session is None:
                raise ConnectionError("Cassandra was unreachable moments ago")
            event_id = str(envelope.event_id)
            headers = {name: value.decode() for name, value in headers_for(envelope)}
            session.execute(self._insert, (envelope.session_id, event_timeuuid(envelope.ts, event_id), event_id,
                                           envelope.type, json.dumps(envelope.to_json_dict()["payload"]),
                                           json.dumps(headers)))
            return True
        except Exception as exc:  # noqa: BLE001 - any driver failure: the caller must carry on regardless
            log.error("events_log append failed", extra={"event_id": str(envelope.event_id),
                                                         "session_id": envelope.session_id, "error": repr(exc)})
            return False

    def _ready(self) -> Session | None:
        if self._session is None:
            if time.monotonic() - self._failed_at < REOPEN_AFTER_S:
                return None
            try:
                session = self._opener(self._settings)
            except Exception:
                self._failed_at = time.monotonic()
                raise
            try:
                self._insert = session.prepare(
                    f"INSERT INTO {self._settings.cassandra_keyspace}.events_log "
                    "(session_id, ts, event_id, type, payload_json, headers_json) VALUES (?, ?, ?, ?, ?, ?)")
            except Exception:
                close_session(session)
                self._failed_at = time.monotonic()
                raise
            self._session = session
        return self._session

    def close(self) -> None:
        if self._session is not None:
            close_session(self._session)
            self._session = None
