"""nameko-kafka (kafka-python 2.0.x underneath) producing and consuming against the real Kafka 4.x broker.

This is the client the functions use, so this test is the check that Kafka 4.x and it speak the same protocol.
"""

import uuid

import eventlet
import pytest
from kafka.admin import KafkaAdminClient, NewTopic
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy
from nameko_kafka import KafkaProducer, consume

from shared.events import Envelope, SymbolSelected, decode_event, to_record

pytestmark = pytest.mark.integration

TOPIC = f"gibsey.test.nameko-kafka.{uuid.uuid4().hex[:8]}"
received: "eventlet.queue.LightQueue" = eventlet.queue.LightQueue()


class PublisherService:
    name = "test_publisher"
    producer = KafkaProducer()

    @rpc
    def publish(self, symbol_code, session_id):
        record = to_record(Envelope.wrap(SymbolSelected(symbol_code=symbol_code), session_id=session_id))
        self.producer.send(TOPIC, value=record.value, key=record.key, headers=list(record.headers)).get(timeout=30)
        return record.value.decode()


class ListenerService:
    name = "test_listener"

    @consume(TOPIC, group_id=f"test-listener-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest")
    def on_message(self, message):
        received.put(message)


@pytest.fixture
def services(stack_settings, run_services):
    admin = KafkaAdminClient(bootstrap_servers=stack_settings.kafka_bootstrap)
    admin.create_topics([NewTopic(TOPIC, 2, 1)])
    config = {
        **stack_settings.nameko_config,
        "KAFKA_PRODUCER": {"bootstrap_servers": stack_settings.kafka_bootstrap},
        "KAFKA_CONSUMER": {"bootstrap_servers": stack_settings.kafka_bootstrap},
    }
    try:
        with run_services(config, PublisherService, ListenerService):
            yield config
    finally:
        admin.delete_topics([TOPIC])
        admin.close()


def test_nameko_kafka_round_trip_keeps_key_headers_and_value(services):
    with ClusterRpcProxy(services, timeout=30) as cluster:
        sent = cluster.test_publisher.publish(0xA5, "nameko-reader")
    message = received.get(timeout=60)
    assert message.key == b"nameko-reader"
    assert dict(message.headers)["x-character"] == b"arieol-owlist"
    assert dict(message.headers)["x-symbol"] == b"165"
    assert message.value.decode() == sent
    assert decode_event(message.value).payload.symbol_code == 0xA5
