"""The short record every pipeline step leaves on gibsey.audit (and a JSON log line)."""

from __future__ import annotations

import logging
import time
from uuid import UUID

from shared.bus.publisher import Publisher
from shared.events import Envelope, Payload, StepAudited

log = logging.getLogger("gibsey.pipeline")


def audit_record(step: str, handled_event_id: str, handled_type: str, session_id: str, outcome: str,
                 duration_ms: float, detail: str = "", event_id: UUID | None = None) -> Envelope[StepAudited]:
    """The StepAudited envelope itself, for callers that publish it their own way (the Kafka entrypoint's
    retry and dead-letter records), with a derived `event_id` where a repeat must carry the same one."""
    record = StepAudited(step=step, handled_event_id=handled_event_id, handled_type=handled_type, outcome=outcome,
                         duration_ms=round(max(duration_ms, 0.0), 1), detail=detail[:1000])
    return Envelope.wrap(record, session_id=session_id, **({"event_id": event_id} if event_id else {}))


def audit(publisher: Publisher, step: str, handled: Envelope[Payload], outcome: str, started: float,
          detail: str = "") -> None:
    duration_ms = round((time.monotonic() - started) * 1000, 1)
    publisher.publish(audit_record(step, str(handled.event_id), handled.type, handled.session_id, outcome,
                                   duration_ms, detail))
    log.info(f"{step}: {outcome}", extra={"event_id": str(handled.event_id), "session_id": handled.session_id,
                                           "step": step, "outcome": outcome, "duration_ms": duration_ms,
                                           "detail": detail})
