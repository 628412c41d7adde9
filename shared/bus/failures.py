"""What a consumer says when it retries a message or gives up on it.

Giving up (dead-lettering) is told three times, to three audiences:
- gibsey.dlq, for operators: `DeliveryFailed` with the original bytes, so the message can be replayed;
- gibsey.pipeline.error, for the reader: `PipelineFailed`, which step and topic failed and why, no bytes;
- gibsey.audit, for the archive: `StepAudited` "dead-lettered" (and "retry" for every attempt retried).

The session is the envelope's; a message that could not be parsed has none, so on a session-keyed topic the
record's key (the reader's session id) stands in. Event ids derive from the record's coordinates (group,
topic, partition, offset), so a dead-letter repeated after a crash carries the same ids, and readers, who
deduplicate by event id, hear of it once.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from shared.bus.audit import audit_record
from shared.events import DeliveryFailed, Envelope, PipelineFailed, StepAudited
from shared.events.envelope import SessionId
from shared.topics import PartitionKey, Topic

UNKNOWN_SESSION = "unknown"
_NAMESPACE = uuid.UUID("b3713ffc-d92d-4f4e-954f-3bd2a45cd9fb")
_SESSION_ID = TypeAdapter(SessionId)


@dataclass(frozen=True)
class Failure:
    """One message a consumer could not handle: where it came from, what it became, and why it failed."""

    step: str  # the function, as its own audit records name it
    topic: Topic  # the topic the consumer owns (logical name)
    group_id: str
    record: Any  # the kafka ConsumerRecord
    message: Any  # the decoded message, or None when it could not be decoded
    error: str
    attempts: int
    duration_ms: float = 0.0

    @property
    def unparseable(self) -> bool:
        return self.message is None

    @property
    def original_event_id(self) -> str | None:
        event_id = getattr(self.message, "event_id", None)
        return str(event_id) if event_id is not None else None

    @property
    def original_type(self) -> str | None:
        return getattr(self.message, "type", None)

    @property
    def session_id(self) -> str:
        """The envelope's session; for a message without one, the key of a session-keyed record."""
        session = getattr(self.message, "session_id", None)
        if session:
            return session
        if self.topic.key is PartitionKey.SESSION_ID and self.record.key:
            try:
                return _SESSION_ID.validate_python(self.record.key.decode(errors="strict"))
            except (UnicodeDecodeError, ValidationError):
                pass
        return UNKNOWN_SESSION

    @property
    def concerns_a_reader(self) -> bool:
        """Whether the message was on a reader's timeline (a session-keyed topic, with a known session)."""
        return self.topic.key is PartitionKey.SESSION_ID and self.session_id != UNKNOWN_SESSION

    def derived_id(self, kind: str) -> uuid.UUID:
        r = self.record
        return uuid.uuid5(_NAMESPACE, f"{self.group_id}|{r.topic}|{r.partition}|{r.offset}|{kind}")


@dataclass(frozen=True)
class DeadLetterNotices:
    dlq: Envelope[DeliveryFailed]
    reader: Envelope[PipelineFailed]
    audit: Envelope[StepAudited]

    def all(self) -> tuple[Envelope, ...]:
        return (self.dlq, self.reader, self.audit)


def dead_letter_notices(failure: Failure) -> DeadLetterNotices:
    record, session = failure.record, failure.session_id
    dlq = DeliveryFailed(
        source_topic=record.topic, partition=record.partition, offset=record.offset,
        consumer_group=failure.group_id, key=record.key.decode(errors="replace") if record.key else None,
        original_value_b64=base64.b64encode(record.value or b"").decode(),
        original_headers={k: v.decode(errors="replace") for k, v in (record.headers or [])},
        original_event_id=failure.original_event_id, original_type=failure.original_type,
        error=failure.error[:4000], attempts=failure.attempts,
    )
    reader = PipelineFailed(
        stage=failure.step, source_topic=failure.topic.name,
        reason="unparseable" if failure.unparseable else "retries-exhausted",
        error=failure.error[:1000], attempts=failure.attempts,
        original_event_id=failure.original_event_id, original_type=failure.original_type,
    )
    return DeadLetterNotices(
        dlq=Envelope.wrap(dlq, session_id=session, event_id=failure.derived_id("dlq")),
        reader=Envelope.wrap(reader, session_id=session, event_id=failure.derived_id("pipeline-error")),
        audit=_audit(failure, "dead-lettered", failure.error, "audit-dead-lettered"),
    )


def retry_notice(failure: Failure, max_attempts: int) -> Envelope[StepAudited]:
    """The audit record of one failed attempt that will be tried again."""
    return _audit(failure, "retry", f"attempt {failure.attempts} of {max_attempts}: {failure.error}",
                  f"audit-retry-{failure.attempts}")


def _audit(failure: Failure, outcome: str, detail: str, kind: str) -> Envelope[StepAudited]:
    r = failure.record
    handled_id = failure.original_event_id or f"{r.topic}/{r.partition}@{r.offset}"
    handled_type = failure.original_type or ("unparseable" if failure.unparseable else type(failure.message).__name__)
    return audit_record(failure.step, handled_id, handled_type, failure.session_id, outcome, failure.duration_ms,
                        detail, event_id=failure.derived_id(kind))
