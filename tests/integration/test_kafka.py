"""A real envelope through the real broker: key, headers and value survive the trip."""

import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from shared.bus.admin import ensure_topics
from shared.events import Envelope, SymbolSelected, decode_event, to_record
from shared.topics import CORE_TOPICS, UI_SYMBOL

pytestmark = pytest.mark.integration


def test_topics_create_is_idempotent(stack_settings, topics_ready):
    assert {o.name for o in topics_ready} == {t.qualified("test.") for t in CORE_TOPICS}
    again = ensure_topics(stack_settings)
    assert {o.action for o in again} == {"exists"}
    by_name = {o.name: o for o in again}
    assert by_name["test.gibsey.ui.symbol"].partitions >= stack_settings.topics.session_partitions
    assert by_name["test.cdc.pages"].partitions >= stack_settings.topics.page_partitions


def test_ui_symbol_envelope_round_trips_with_key_and_headers(stack_settings, topics_ready):
    session_id = f"it-{uuid.uuid4()}"
    event = Envelope.wrap(SymbolSelected(symbol_code=0x4C, page_id="S05-P0123", user_intent="go on"),
                          session_id=session_id)
    record = to_record(event, stack_settings.topic_prefix)
    producer = KafkaProducer(bootstrap_servers=stack_settings.kafka_bootstrap, acks="all")
    try:
        sent = producer.send(record.topic, value=record.value, key=record.key,
                             headers=list(record.headers)).get(timeout=30)
    finally:
        producer.close()
    assert sent.topic == "test.gibsey.ui.symbol" == UI_SYMBOL.qualified(stack_settings.topic_prefix)

    consumer = KafkaConsumer(bootstrap_servers=stack_settings.kafka_bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=20000)
    try:
        partition = TopicPartition(sent.topic, sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        message = next(iter(consumer))
    finally:
        consumer.close()

    assert message.key == session_id.encode()
    assert dict(message.headers) == dict(record.headers)
    assert dict(message.headers)["x-character"] == b"jacklyn-variance"
    assert dict(message.headers)["x-orientation"] == b"Z"
    assert decode_event(message.value) == event


def test_same_session_lands_on_same_partition(stack_settings, topics_ready):
    producer = KafkaProducer(bootstrap_servers=stack_settings.kafka_bootstrap)
    try:
        record = to_record(Envelope.wrap(SymbolSelected(symbol_code=1), session_id="sticky-reader"),
                           stack_settings.topic_prefix)
        partitions = {producer.send(record.topic, value=record.value, key=record.key).get(timeout=30).partition
                      for _ in range(5)}
    finally:
        producer.close()
    assert len(partitions) == 1
