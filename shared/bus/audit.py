"""The short record every pipeline step leaves on gibsey.audit (and a JSON log line)."""

from __future__ import annotations

import logging
import time

from shared.bus.publisher import Publisher
from shared.events import Envelope, Payload, StepAudited

log = logging.getLogger("gibsey.pipeline")


def audit(publisher: Publisher, step: str, handled: Envelope[Payload], outcome: str, started: float,
          detail: str = "") -> None:
    duration_ms = round((time.monotonic() - started) * 1000, 1)
    record = StepAudited(step=step, handled_event_id=str(handled.event_id), handled_type=handled.type,
                         outcome=outcome, duration_ms=duration_ms, detail=detail[:1000])
    publisher.publish(Envelope.wrap(record, session_id=handled.session_id))
    log.info(f"{step}: {outcome}", extra={"event_id": str(handled.event_id), "session_id": handled.session_id,
                                           "step": step, "outcome": outcome, "duration_ms": duration_ms,
                                           "detail": detail})
