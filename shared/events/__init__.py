"""Event contracts: every producer and consumer imports these, nobody builds event dicts by hand."""

from shared.events.envelope import Envelope, EventValidationError, decode_event
from shared.events.payloads import (
    MAX_PAGE_TEXT_CHARS,
    DeliveryFailed,
    PageIndexChanged,
    StepAudited,
    MAX_USER_INTENT_CHARS,
    PAYLOAD_TYPES,
    PageEdges,
    PageGenerated,
    PageRequested,
    PageValidation,
    Payload,
    PipelineFailed,
    SymbolSelected,
)
from shared.events.record import KafkaRecord, headers_for, partition_key, to_record

__all__ = [
    "DeliveryFailed",
    "PageIndexChanged",
    "StepAudited",
    "Envelope",
    "EventValidationError",
    "KafkaRecord",
    "MAX_PAGE_TEXT_CHARS",
    "MAX_USER_INTENT_CHARS",
    "PAYLOAD_TYPES",
    "PageEdges",
    "PageGenerated",
    "PageRequested",
    "PageValidation",
    "Payload",
    "PipelineFailed",
    "SymbolSelected",
    "decode_event",
    "headers_for",
    "partition_key",
    "to_record",
]
