"""Event payloads: one frozen, past-tense class per event type, with a stable type name and a version.

Each payload names the topic it travels on. The field names follow the QDPI Kafka plan
(../shared/design/qdpi-kafka-plan.md, section 4.3).
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from shared import symbols, topics
from shared.symbols import Trajectory

MAX_PAGE_TEXT_CHARS = 20_000
MAX_USER_INTENT_CHARS = 2_000
MAX_CONTEXT_IDS = 32
PAGE_ID_PATTERN = re.compile(r"^(S(0[1-9]|1[0-6])-P\d{4}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
PAGE_ID_HELP = "a canon id like S01-P0007 or a branch UUID"


def check_page_id(value: str) -> str:
    if not PAGE_ID_PATTERN.match(value):
        raise ValueError(f"{value!r} is not {PAGE_ID_HELP}")
    return value


PageId = Annotated[str, AfterValidator(check_page_id)]
PageIds = Annotated[tuple[PageId, ...], Field(max_length=MAX_CONTEXT_IDS)]
SymbolCode = Annotated[int, Field(ge=0, le=255, strict=True)]
UserIntent = Annotated[str, Field(max_length=MAX_USER_INTENT_CHARS)]


class Payload(BaseModel):
    """Base for payloads: immutable, unknown fields rejected (a typo should fail loudly, not vanish)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    TYPE: ClassVar[str]
    VERSION: ClassVar[int]
    TOPIC: ClassVar[topics.Topic]

    def headers(self) -> dict[str, str]:
        """The x-* Kafka headers this payload can fill (character, section, symbol, ...)."""
        return {}


def _symbol_headers(code: int) -> dict[str, str]:
    sym = symbols.symbol(code)
    return {
        "x-character": sym.character.id,
        "x-section": str(sym.section),
        "x-symbol": str(sym.code),
        "x-orientation": sym.orientation.value,
        "x-provenance": sym.provenance.value,
    }


class SymbolSelected(Payload):
    """A reader picked a symbol, optionally standing on a page and saying what they want."""

    TYPE: ClassVar[str] = "SymbolSelected"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[topics.Topic] = topics.UI_SYMBOL

    symbol_code: SymbolCode
    page_id: PageId | None = None
    user_intent: UserIntent = ""


    def headers(self) -> dict[str, str]:
        return _symbol_headers(self.symbol_code)


class PageRequested(Payload):
    """The enricher decoded a symbol and placed it: a page should now be written."""

    TYPE: ClassVar[str] = "PageRequested"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[topics.Topic] = topics.GENERATE_PAGE_REQUEST

    char_hex: int = Field(ge=0, le=15, strict=True)
    behavior: int = Field(ge=0, le=15, strict=True)
    symbol_code: SymbolCode
    section: int = Field(ge=1, le=symbols.SECTION_COUNT, strict=True)
    page_id: PageId | None = None
    trajectory_hint: Trajectory = Trajectory.CONTINUE
    user_intent: UserIntent = ""
    context_ids: PageIds = ()



    @model_validator(mode="after")
    def _nibbles_match_code(self) -> "PageRequested":
        if symbols.encode(self.char_hex, self.behavior) != self.symbol_code:
            raise ValueError(
                f"symbol_code {self.symbol_code} does not match char_hex {self.char_hex} and behavior "
                f"{self.behavior} (expected {symbols.encode(self.char_hex, self.behavior)})"
            )
        return self

    def headers(self) -> dict[str, str]:
        return {**_symbol_headers(self.symbol_code), "x-section": str(self.section),
                "x-trajectory": self.trajectory_hint.value}


class PageEdges(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    next_within: PageId | None = None
    loop_back_to: PageId | None = None
    forks: PageIds = ()




class PageValidation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    style_ok: bool
    continuity_score: float = Field(ge=0.0, le=1.0)
    generator: str | None = Field(default=None, max_length=128)  # "llm:<model>" or "canon-composer"


class PageGenerated(Payload):
    """A page was written to Cassandra and placed in the graph; readers can now see it."""

    TYPE: ClassVar[str] = "PageGenerated"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[topics.Topic] = topics.GENERATE_PAGE_DONE

    page_id: PageId
    character: str = Field(min_length=1, max_length=64)
    symbol_code: SymbolCode
    trajectory: Trajectory
    title: str | None = Field(default=None, max_length=300)
    text: str = Field(min_length=1, max_length=MAX_PAGE_TEXT_CHARS)
    edges: PageEdges = PageEdges()
    validation: PageValidation


    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text is blank")
        return text

    def headers(self) -> dict[str, str]:
        return {**_symbol_headers(self.symbol_code), "x-trajectory": self.trajectory.value}


class DeliveryFailed(Payload):
    """A consumed message could not be handled (unparseable, or failed every attempt) and was set aside.

    Carries the original bytes, so nothing is lost: an operator can fix the cause and replay it.
    """

    TYPE: ClassVar[str] = "DeliveryFailed"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[topics.Topic] = topics.DLQ

    source_topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    consumer_group: str
    key: str | None = None
    original_value_b64: str
    original_headers: dict[str, str] = {}
    original_event_id: str | None = None
    original_type: str | None = None
    error: str = Field(max_length=4_000)
    attempts: int = Field(ge=1)


class PipelineFailed(Payload):
    """A pipeline step gave up on a reader's event (it could not be parsed, or failed every attempt).

    The reader-facing twin of `DeliveryFailed`, on gibsey.pipeline.error and keyed by the reader's session:
    it says which step and topic failed and why, never the original bytes (those stay on gibsey.dlq for
    operators).
    """

    TYPE: ClassVar[str] = "PipelineFailed"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[topics.Topic] = topics.PIPELINE_ERROR

    stage: str = Field(min_length=1, max_length=128)  # the function that gave up, e.g. "page_generator"
    source_topic: str = Field(min_length=1, max_length=249)  # the topic's logical name (no environment prefix)
    reason: str = Field(pattern=r"^(unparseable|retries-exhausted)$")
    error: str = Field(min_length=1, max_length=1_000)
    attempts: int = Field(ge=1)
    original_event_id: str | None = Field(default=None, max_length=64)
    original_type: str | None = Field(default=None, max_length=64)


class StepAudited(Payload):
    """One pipeline step finished (or failed) on one event: the short record on gibsey.audit."""

    TYPE: ClassVar[str] = "StepAudited"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[topics.Topic] = topics.AUDIT

    step: str = Field(min_length=1, max_length=64)
    handled_event_id: str
    handled_type: str
    outcome: str = Field(pattern=r"^(ok|retry|dead-lettered|duplicate|failed)$")
    duration_ms: float = Field(ge=0)
    detail: str = Field(default="", max_length=1_000)


class PageIndexChanged(Payload):
    """A page's quote vectors were written or removed: its section's shard is out of date."""

    TYPE: ClassVar[str] = "PageIndexChanged"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[topics.Topic] = topics.INDEX_UPDATE

    section: int = Field(ge=1, le=symbols.SECTION_COUNT, strict=True)
    page_id: PageId
    op: str = Field(pattern=r"^(upsert|delete)$")


PAYLOAD_TYPES: dict[str, type[Payload]] = {
    cls.TYPE: cls
    for cls in (SymbolSelected, PageRequested, PageGenerated, DeliveryFailed, PipelineFailed, StepAudited,
                PageIndexChanged)
}
