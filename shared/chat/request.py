"""What a chat request is: one model, used by both `POST /api/v1/chat` (SSE) and `POST /api/v1/ask` (JSON)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator

from shared.events import EventValidationError
from shared.events.envelope import SessionId, validation_problems
from shared.events.payloads import PageId
from shared.symbols import character_by_id

MAX_MESSAGE_CHARS = 2000
Message = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MESSAGE_CHARS)]


class ChatRequest(BaseModel):
    """`request_id` makes a turn idempotent: a retried request is not charged again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session_id: SessionId
    user_id: SessionId
    char_id: str
    message: Message
    page_id: PageId | None = None
    request_id: SessionId

    @field_validator("char_id")
    @classmethod
    def _known_character(cls, value: str) -> str:
        character_by_id(value)  # ValueError names the unknown id
        return value


def parse_chat_request(body: Any) -> ChatRequest:
    if not isinstance(body, dict):
        raise EventValidationError(["body: expected a JSON object"])
    try:
        return ChatRequest.model_validate(body)
    except ValidationError as exc:
        raise EventValidationError(validation_problems(exc)) from None
