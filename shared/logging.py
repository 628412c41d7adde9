"""Structured logs: one JSON object per line, carrying event_id and session_id when a record has them.

Use `log.info("page written", extra={"event_id": ..., "session_id": ..., "page_id": ...})`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime, timezone

_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(service: str, level: str | None = None) -> None:
    """Route every logger of this process to stderr as JSON lines (level from GIBSEY_LOG_LEVEL)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("GIBSEY_LOG_LEVEL", "INFO")).upper())
    for noisy in ("kafka", "cassandra", "amqp", "kombu"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
