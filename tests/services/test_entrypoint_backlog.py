"""Our Kafka entrypoint under backlog: it pauses a partition when too many records wait for it and resumes
later. kafka-python 2.0.x drops what it had fetched for a paused partition but keeps its position after it
(dpkp/kafka-python#2011); without the seek on resume those records were never handled (seen in
bench/canon_cdc.py: 13 canon pages never got vectors). Every record must be handled."""

import uuid

import eventlet
import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from shared.bus import entrypoint
from shared.bus.entrypoint import consume
from shared.topics import PartitionKey, Topic

pytestmark = pytest.mark.integration

TOPIC = Topic(f"gibsey.test.backlog.{uuid.uuid4().hex[:8]}", PartitionKey.PAGE_ID, "backlog test")
RECORDS = 400
handled: set[int] = set()


class SlowListener:
    name = f"backlog_{uuid.uuid4().hex[:6]}"

    @consume(TOPIC, group_id=f"backlog-{uuid.uuid4().hex[:6]}", decode=lambda value: int(value))
    def on_record(self, number: int) -> None:
        eventlet.sleep(0.002)  # slower than the fetches, so the queue passes the backlog limit again and again
        handled.add(number)


@pytest.fixture
def backlog_topic(stack_settings, monkeypatch):
    monkeypatch.setattr(entrypoint, "MAX_BACKLOG_PER_PARTITION", 20)
    admin = KafkaAdminClient(bootstrap_servers=stack_settings.kafka_bootstrap)
    admin.create_topics([NewTopic(TOPIC.name, 1, 1)])
    producer = KafkaProducer(bootstrap_servers=stack_settings.kafka_bootstrap, acks="all")
    for number in range(RECORDS):
        producer.send(TOPIC.name, value=str(number).encode(), key=b"one-partition")
    producer.flush()
    producer.close()
    try:
        yield
    finally:
        admin.delete_topics([TOPIC.name])
        admin.close()


def test_every_record_is_handled_through_pauses_and_resumes(stack_settings, run_services, backlog_topic):
    config = {**stack_settings.nameko_config, "GIBSEY_TOPIC_PREFIX": "", "GIBSEY_CONSUMER_OFFSET_RESET": "earliest"}
    with run_services(config, SlowListener):
        with eventlet.Timeout(120, False):
            while len(handled) < RECORDS:
                eventlet.sleep(0.1)
    assert sorted(set(range(RECORDS)) - handled)[:10] == [] and len(handled) == RECORDS
