"""Our Kafka entrypoint on the live stack when handling fails: each retry leaves a StepAudited "retry" on
gibsey.audit; giving up leaves "dead-lettered" there, the raw record on gibsey.dlq, and a PipelineFailed for the
reader on gibsey.pipeline.error (session from the envelope, or from the record's key when it could not be
parsed), also appended to events_log so a resumed SSE stream replays it."""

import time
import uuid

import eventlet
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from shared.bus.entrypoint import consume
from shared.events import Envelope, SymbolSelected, decode_event, to_record
from shared.topics import AUDIT, DLQ, PIPELINE_ERROR, PartitionKey, Topic

pytestmark = pytest.mark.integration

TOPIC = Topic(f"gibsey.test.failing.{uuid.uuid4().hex[:8]}", PartitionKey.SESSION_ID, "failure test")
GROUP = f"failing-{uuid.uuid4().hex[:6]}"


class AlwaysFailing:
    name = f"failing_{uuid.uuid4().hex[:6]}"

    @consume(TOPIC, group_id=GROUP, decode=decode_event)
    def on_event(self, event: Envelope) -> None:
        raise RuntimeError(f"cannot place {event.event_id}")


def _end_offsets(consumer: KafkaConsumer, topic: str) -> dict[TopicPartition, int]:
    return consumer.end_offsets([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)])


def _collect(bootstrap: str, starts: dict[TopicPartition, int], sessions: set[str], done, within_s: float = 60.0):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign(list(starts))
    for tp, offset in starts.items():
        consumer.seek(tp, offset)
    found: list[Envelope] = []
    deadline = time.monotonic() + within_s
    while not done(found) and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=300).values():
            found.extend(e for e in map(lambda r: decode_event(r.value), batch) if e.session_id in sessions)
        eventlet.sleep(0)
    consumer.close()
    return found


@pytest.fixture
def failing_topic(stack_settings, topics_ready, schema_applied):
    admin = KafkaAdminClient(bootstrap_servers=stack_settings.kafka_bootstrap)
    name = TOPIC.qualified(stack_settings.topic_prefix)
    admin.create_topics([NewTopic(name, 1, 1)])
    try:
        yield name
    finally:
        admin.delete_topics([name])
        admin.close()


def test_retries_are_audited_and_a_dead_letter_is_told_to_the_reader(stack_settings, run_services, failing_topic,
                                                                     cassandra_session):
    bootstrap, prefix = stack_settings.kafka_bootstrap, stack_settings.topic_prefix
    failing, poisoned = f"failing-{uuid.uuid4().hex[:8]}", f"poisoned-{uuid.uuid4().hex[:8]}"
    sessions = {failing, poisoned}
    probe = KafkaConsumer(bootstrap_servers=bootstrap)
    starts = {}
    for topic in (PIPELINE_ERROR, AUDIT, DLQ):
        starts.update(_end_offsets(probe, topic.qualified(prefix)))
    probe.close()

    selection = Envelope.wrap(SymbolSelected(symbol_code=0x21), session_id=failing)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(failing_topic, value=selection.to_bytes(), key=failing.encode(),
                  headers=list(to_record(selection).headers)).get(timeout=30)
    producer.send(failing_topic, value=b"\x00not an envelope", key=poisoned.encode()).get(timeout=30)
    producer.close()

    config = {**stack_settings.nameko_config, "GIBSEY_CONSUMER_OFFSET_RESET": "earliest",
              "GIBSEY_RETRY_BACKOFF_S": "0.05", "GIBSEY_MAX_ATTEMPTS": "3"}

    def complete(found: list[Envelope]) -> bool:
        return sum(e.type == "StepAudited" and e.payload.outcome == "dead-lettered" for e in found) >= 2

    with run_services(config, AlwaysFailing):
        found = _collect(bootstrap, starts, sessions, complete)

    audits = {s: [e.payload.outcome for e in found if e.type == "StepAudited" and e.session_id == s] for s in sessions}
    assert audits == {failing: ["retry", "retry", "dead-lettered"], poisoned: ["dead-lettered"]}
    assert {e.payload.step for e in found if e.type == "StepAudited"} == {AlwaysFailing.name}

    told = {e.session_id: e for e in found if e.type == "PipelineFailed"}
    assert set(told) == sessions and sum(e.type == "PipelineFailed" for e in found) == 2
    exhausted, unparseable = told[failing].payload, told[poisoned].payload
    assert (exhausted.stage, exhausted.source_topic, exhausted.reason, exhausted.attempts) == (
        AlwaysFailing.name, TOPIC.name, "retries-exhausted", 3)
    assert exhausted.error == f"RuntimeError: cannot place {selection.event_id}"
    assert exhausted.original_event_id == str(selection.event_id) and exhausted.original_type == "SymbolSelected"
    assert (unparseable.reason, unparseable.attempts, unparseable.original_event_id) == ("unparseable", 1, None)
    assert unparseable.error.startswith("unparseable: event: not valid JSON")
    assert sorted(e.session_id for e in found if e.type == "DeliveryFailed") == sorted(sessions)

    ks = stack_settings.cassandra_keyspace
    for session, event in told.items():
        rows = cassandra_session.execute(f"SELECT event_id, type FROM {ks}.events_log WHERE session_id = %s",
                                         (session,)).all()
        assert [(r.event_id, r.type) for r in rows] == [(str(event.event_id), "PipelineFailed")]
