"""An envelope as a Kafka record: topic, partition key, JSON value and x-* headers.

The key rule lives on the topic (shared.topics): session_id for reader timelines, page_id for page history.
"""

from __future__ import annotations

from dataclasses import dataclass
from shared.events.envelope import Envelope, EventValidationError
from shared.events.payloads import Payload
from shared.topics import PartitionKey

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    key: bytes
    value: bytes
    headers: Headers


def partition_key(envelope: Envelope[Payload]) -> str:
    topic = envelope.payload.TOPIC
    if topic.key is PartitionKey.SESSION_ID:
        return envelope.session_id
    page_id = getattr(envelope.payload, "page_id", None)
    if not page_id:
        raise EventValidationError([f"payload.page_id: required to key a {envelope.type} on {topic.name}"])
    return page_id


def headers_for(envelope: Envelope[Payload]) -> Headers:
    fields = {"x-event-type": envelope.type, "x-event-version": str(envelope.version), **envelope.payload.headers()}
    return tuple((name, value.encode()) for name, value in fields.items())


def to_record(envelope: Envelope[Payload], topic_prefix: str = "") -> KafkaRecord:
    return KafkaRecord(
        topic=envelope.payload.TOPIC.qualified(topic_prefix),
        key=partition_key(envelope).encode(),
        value=envelope.to_bytes(),
        headers=headers_for(envelope),
    )
