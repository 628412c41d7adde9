"""`EventPublisher`: a Nameko dependency that hands each worker a `Publisher` for envelopes.

The provider owns one KafkaProducer per container (created in start, closed in stop); workers get a
small wrapper whose one method publishes an envelope and waits for the broker's acknowledgement, so a
handler that returns has really emitted its event (acks=all).
"""

from __future__ import annotations

from kafka import KafkaProducer
from kafka.errors import KafkaError
from nameko.extensions import DependencyProvider

from shared.events import Envelope, Payload, to_record

PUBLISH_TIMEOUT_S = 30


class PublishFailed(RuntimeError):
    """The broker did not acknowledge an event; the handler fails and its message is retried."""


class Publisher:
    def __init__(self, producer: KafkaProducer, topic_prefix: str = ""):
        self._producer = producer
        self._topic_prefix = topic_prefix

    def publish(self, envelope: Envelope[Payload]) -> None:
        record = to_record(envelope, self._topic_prefix)
        try:
            self._producer.send(record.topic, value=record.value, key=record.key,
                                headers=list(record.headers)).get(timeout=PUBLISH_TIMEOUT_S)
        except KafkaError as exc:
            raise PublishFailed(f"{envelope.type} {envelope.event_id} to {record.topic}: {exc!r}") from exc


class EventPublisher(DependencyProvider):
    def setup(self) -> None:
        self._bootstrap = self.container.config.get("KAFKA_BROKERS", "127.0.0.1:9092")
        self._topic_prefix = self.container.config.get("GIBSEY_TOPIC_PREFIX") or ""
        self._producer: KafkaProducer | None = None

    def start(self) -> None:
        self._producer = KafkaProducer(bootstrap_servers=self._bootstrap, acks="all", linger_ms=5,
                                       client_id=f"{self.container.service_name}-publisher")

    def stop(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)

    def get_dependency(self, worker_ctx) -> Publisher:
        return Publisher(self._producer, self._topic_prefix)
