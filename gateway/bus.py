"""The gateway's side of Kafka: an async producer, and one tail per process feeding the SSE hub.

kafka-python is thread-based; its futures are bridged onto the event loop here, at this one boundary,
and its errors become `BusUnavailable` (HTTP 503).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Callable

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError, NoBrokersAvailable
from kafka.structs import TopicPartition

from shared.bus.admin import BusUnavailable
from shared.events import Envelope, EventValidationError, Payload, decode_event, to_record
from shared.topics import Topic

log = logging.getLogger("gibsey.gateway.bus")


class EventProducer:
    """Publishes envelopes; connects on first use so the gateway starts while Kafka is down."""

    def __init__(self, bootstrap: str, timeout_s: float = 10.0, topic_prefix: str = ""):
        self._bootstrap = bootstrap
        self._topic_prefix = topic_prefix
        self._timeout_s = timeout_s
        self._producer: KafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _ready(self) -> KafkaProducer:
        if self._producer is None:
            async with self._lock:
                if self._producer is None:
                    try:
                        self._producer = await asyncio.to_thread(
                            KafkaProducer, bootstrap_servers=self._bootstrap, acks="all", linger_ms=2,
                            client_id="gibsey-gateway", max_block_ms=int(self._timeout_s * 1000))
                    except (NoBrokersAvailable, KafkaError) as exc:
                        raise BusUnavailable(f"Kafka at {self._bootstrap} is not reachable") from exc
        return self._producer

    async def publish(self, envelope: Envelope[Payload]) -> None:
        producer = await self._ready()
        record = to_record(envelope, self._topic_prefix)
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()

        def settle(result=None, error=None):
            if not done.done():
                done.set_exception(error) if error else done.set_result(result)

        try:
            future = producer.send(record.topic, value=record.value, key=record.key, headers=list(record.headers))
        except KafkaError as exc:
            raise BusUnavailable(f"Kafka refused {envelope.type}: {exc!r}") from exc
        future.add_callback(lambda md: loop.call_soon_threadsafe(settle, md))
        future.add_errback(lambda exc: loop.call_soon_threadsafe(settle, None, exc))
        try:
            await asyncio.wait_for(done, self._timeout_s)
        except (KafkaError, asyncio.TimeoutError) as exc:
            raise BusUnavailable(f"Kafka did not acknowledge {envelope.type}: {exc!r}") from exc

    async def close(self) -> None:
        if self._producer is not None:
            await asyncio.to_thread(self._producer.close, 5)
            self._producer = None


class KafkaTail:
    """Reads every partition of some topics from their end, in a thread, and hands each envelope on.

    No consumer group: every gateway process must see every event, because a reader's stream may be
    held by any of them. `ready` is set once the first positioning is done, so a caller that waits on it
    sees everything produced afterwards. After losing the broker the tail resumes from the offsets it had
    reached (not the end again), so records produced while it was away are still delivered.
    """

    def __init__(self, bootstrap: str, topics: tuple[Topic, ...], on_event: Callable[[Envelope[Payload]], None],
                 topic_prefix: str = "", *, consumer_factory: Callable[..., Any] = KafkaConsumer,
                 reconnect_s: float = 2.0):
        self._bootstrap = bootstrap
        self._names = tuple(t.qualified(topic_prefix) for t in topics)
        self._on_event = on_event
        self._consumer_factory = consumer_factory
        self._reconnect_s = reconnect_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._positions: dict[TopicPartition, int] = {}  # the next offset to read, per partition
        self.ready = threading.Event()  # set once positioned at the end of every partition

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kafka-tail", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._tail()
            except KafkaError as exc:
                log.warning("kafka tail lost the broker; reconnecting", extra={"error": repr(exc)})
                self._stop.wait(self._reconnect_s)

    def _tail(self) -> None:
        consumer = self._consumer_factory(bootstrap_servers=self._bootstrap, group_id=None, enable_auto_commit=False,
                                          client_id="gibsey-gateway-tail")
        try:
            partitions = [TopicPartition(name, p) for name in self._names
                          for p in sorted(consumer.partitions_for_topic(name) or ())]
            consumer.assign(partitions)
            self._position(consumer, partitions)
            self.ready.set()
            while not self._stop.is_set():
                for tp, records in consumer.poll(timeout_ms=250).items():
                    for record in records:
                        self._positions[tp] = record.offset + 1
                        try:
                            self._on_event(decode_event(record.value))
                        except EventValidationError:
                            continue  # not ours to judge here; the owning consumer dead-letters it
        finally:
            consumer.close(autocommit=False)

    def _position(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        """The first time: the end of every partition. After a reconnect: where this tail left off; a
        partition it never had (the topic was created or grown since) from its beginning, since all of it
        is newer than the tail."""
        # Explicit offsets, never seek_to_end/beginning: those are resolved lazily, racing the fetcher (which
        # warns "still fetchable -- skipping offset update" per partition) and leaving `ready` unproven.
        first_time = not self.ready.is_set()
        ends = consumer.end_offsets(partitions) if first_time else {}
        new = [tp for tp in partitions if tp not in self._positions]
        starts = consumer.beginning_offsets(new) if new and not first_time else {}
        for tp in partitions:
            consumer.seek(tp, ends[tp] if first_time else self._positions.get(tp, starts.get(tp, 0)))
        for tp in partitions:
            self._positions[tp] = consumer.position(tp)  # the offset sought: "ready" means really positioned
