"""One envelope for every topic: `{event_id, type, version, ts, session_id, payload}`.

`Envelope[SymbolSelected]` is the typed form; `decode_event` reads bytes or a dict of any known type and
turns every validation problem into an `EventValidationError` whose message names each field and why.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from shared.events.payloads import PAYLOAD_TYPES, Payload

P = TypeVar("P", bound=Payload)

SessionId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
MAX_EVENT_BYTES = 256 * 1024


class EventValidationError(ValueError):
    """An event that does not meet its contract; `problems` holds one "field: why" line per fault."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Envelope(BaseModel, Generic[P]):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID = Field(default_factory=uuid4)
    type: str
    version: int = Field(ge=1)
    ts: AwareDatetime = Field(default_factory=_utc_now)
    session_id: SessionId
    payload: P

    @model_validator(mode="after")
    def _type_matches_payload(self) -> "Envelope[P]":
        payload_cls = type(self.payload)
        if self.type != payload_cls.TYPE:
            raise ValueError(f"type {self.type!r} does not match a {payload_cls.TYPE} payload")
        if self.version != payload_cls.VERSION:
            raise ValueError(f"{self.type} version {self.version} is not supported (expected {payload_cls.VERSION})")
        return self

    @classmethod
    def wrap(cls, payload: P, *, session_id: str, **fields: Any) -> "Envelope[P]":
        """Build a validated envelope around `payload` (new event_id and ts unless given)."""
        data = {"type": payload.TYPE, "version": payload.VERSION, "session_id": session_id, "payload": payload, **fields}
        try:
            return Envelope[type(payload)].model_validate(data)  # type: ignore[index,return-value]
        except ValidationError as exc:
            raise EventValidationError(validation_problems(exc)) from None

    @property
    def topic(self) -> str:
        return self.payload.TOPIC.name

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json_dict(), separators=(",", ":"), ensure_ascii=False).encode()


def decode_event(raw: bytes | str | dict[str, Any]) -> Envelope[Payload]:
    """Parse and validate an event of any known type; raise `EventValidationError` saying what is wrong."""
    if isinstance(raw, (bytes, str)):
        if len(raw) > MAX_EVENT_BYTES:
            raise EventValidationError([f"event: {len(raw)} bytes is over the {MAX_EVENT_BYTES}-byte limit"])
        try:
            raw = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EventValidationError([f"event: not valid JSON ({exc})"]) from None
    if not isinstance(raw, dict):
        raise EventValidationError([f"event: expected a JSON object, got {type(raw).__name__}"])
    type_name = raw.get("type")
    payload_cls = PAYLOAD_TYPES.get(type_name) if isinstance(type_name, str) else None
    if payload_cls is None:
        known = ", ".join(sorted(PAYLOAD_TYPES))
        raise EventValidationError([f"type: {type_name!r} is not a known event type (known: {known})"])
    try:
        return Envelope[payload_cls].model_validate(raw)  # type: ignore[valid-type,return-value]
    except ValidationError as exc:
        raise EventValidationError(validation_problems(exc)) from None


def validation_problems(exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "event"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] not in ("missing", "extra_forbidden") and "input" in error and not isinstance(error["input"], dict):
            shown = repr(error["input"])
            message += f" (got {shown[:60] + '...' if len(shown) > 60 else shown})"
        lines.append(f"{where}: {message}")
    return lines
