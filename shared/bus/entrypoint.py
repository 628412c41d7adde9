"""`@consume(topic, group_id=...)`: a Nameko entrypoint for one Kafka topic with real at-least-once delivery.

Why not nameko-kafka's consumer: its AT_LEAST_ONCE mode commits the offset when the worker is *spawned*,
so a crash mid-handler loses the message, and its package cannot even be imported without pymongo. Here:

- each record is decoded before any worker runs (into an `Envelope` by default; a topic that carries another
  format, like Debezium's change events on cdc.pages, passes its own `decode`); one that cannot be parsed
  (or is the wrong type for the topic) goes straight to gibsey.dlq with its original bytes;
- records of one partition are handled one at a time, in order (a reader's events stay ordered), and
  partitions in parallel, up to the container's max_workers;
- a failed handler is retried with exponential backoff, up to `max_attempts`; then the record goes to
  gibsey.dlq with the error, and the consumer moves on;
- every retry leaves a StepAudited "retry" on gibsey.audit; giving up leaves "dead-lettered" there, and tells
  the reader on gibsey.pipeline.error (`PipelineFailed`, also appended to events_log for Last-Event-ID
  replay): see shared.bus.failures;
- the offset committed is the highest *contiguous finished* offset per partition (shared.bus.offsets), so a
  crash means redelivery, never loss. Handlers must therefore be idempotent by event_id.

All Kafka client calls happen on the entrypoint's own run loop (kafka-python's consumer is not
thread-safe); workers only report outcomes, which the loop settles.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import eventlet
from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from nameko.extensions import Entrypoint

from shared.bus.failures import DeadLetterNotices, Failure, dead_letter_notices, retry_notice
from shared.bus.offsets import OffsetTracker
from shared.bus.session_log import SessionLog
from shared.config import Settings
from shared.events import Envelope, EventValidationError, Payload, decode_event, to_record
from shared.topics import Topic

log = logging.getLogger("gibsey.bus")

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_S = 0.5
MAX_BACKLOG_PER_PARTITION = 200
DRAIN_TIMEOUT_S = 30.0


@dataclass
class Pending:
    record: Any  # kafka ConsumerRecord
    generation: int
    attempts: int = 0
    not_before: float = 0.0
    envelope: Any = None  # the decoded message: an Envelope unless the topic has its own decoder
    started_at: float = 0.0  # when the current attempt began (monotonic)
    notices: DeadLetterNotices | None = None  # built once, so a repeated dead-letter repeats the same events


@dataclass
class _State:
    queues: dict[TopicPartition, deque[Pending]] = field(default_factory=lambda: defaultdict(deque))
    busy: set[TopicPartition] = field(default_factory=set)
    paused: set[TopicPartition] = field(default_factory=set)
    next_offset: dict[TopicPartition, int] = field(default_factory=dict)  # after the last record enqueued
    outcomes: deque = field(default_factory=deque)
    generations: dict[TopicPartition, int] = field(default_factory=lambda: defaultdict(int))


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, entrypoint: "KafkaEventConsumer"):
        self._entrypoint = entrypoint

    def on_partitions_revoked(self, revoked):
        self._entrypoint._on_revoked(revoked)

    def on_partitions_assigned(self, assigned):
        # Fix each partition's starting offset now: kafka-python would otherwise resolve it (committed offset,
        # or the reset policy) on the next fetch, so a record produced between "assigned" and that fetch would
        # be skipped under auto_offset_reset=latest. Anyone waiting for this line may produce right after it.
        positions = self._entrypoint._fix_positions(assigned)
        log.info("partitions assigned", extra={"group": self._entrypoint.group_id,
                                               "partitions": sorted(f"{tp.topic}:{tp.partition}" for tp in assigned),
                                               "positions": positions})


class KafkaEventConsumer(Entrypoint):
    def __init__(self, topic: Topic, *, group_id: str, max_attempts: int | None = None,
                 decode: Callable[[bytes], Any] | None = None, **kwargs: Any):
        self.topic = topic
        self.base_group_id = group_id
        self._decode = decode or self._decode_envelope
        self._max_attempts_override = max_attempts
        super().__init__(**kwargs)

    def _fix_positions(self, assigned) -> dict[str, int | None]:
        """Each assigned partition's next offset, resolved now (None where the broker did not answer)."""
        positions: dict[str, int | None] = {}
        for tp in assigned:
            try:
                positions[f"{tp.topic}:{tp.partition}"] = self._consumer.position(tp)
            except KafkaError as exc:  # resolved on the next fetch instead, as kafka-python would have
                log.warning("position not resolved at assignment", extra={"group": self.group_id,
                                                                          "partition": tp.partition,
                                                                          "error": repr(exc)})
                positions[f"{tp.topic}:{tp.partition}"] = None
        return positions

    # -- Nameko lifecycle -----------------------------------------------------------------------------------

    def setup(self) -> None:
        config = self.container.config
        self.bootstrap = config.get("KAFKA_BROKERS", "127.0.0.1:9092")
        # A prefix keeps separate deployments (or a test run beside `make run`) out of each other's groups.
        self.group_id = f"{config.get('GIBSEY_CONSUMER_GROUP_PREFIX') or ''}{self.base_group_id}"
        self.topic_prefix = config.get("GIBSEY_TOPIC_PREFIX") or ""
        # Where a brand-new group starts: "earliest" (default: nothing produced before the first start is
        # skipped) or "latest" (tests, which must not chew through other runs' history).
        self.offset_reset = config.get("GIBSEY_CONSUMER_OFFSET_RESET") or "earliest"
        self.max_attempts = int(self._max_attempts_override or config.get("GIBSEY_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))
        self.backoff_s = float(config.get("GIBSEY_RETRY_BACKOFF_S", DEFAULT_BACKOFF_S))
        self.step = self.container.service_name  # how this function's own audit records name it
        self._session_log = SessionLog(Settings.from_nameko_config(config))
        self._stopping = False
        self._state = _State()
        self._tracker = OffsetTracker()

    def start(self) -> None:
        self._consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group_id, enable_auto_commit=False,
            auto_offset_reset=self.offset_reset, max_poll_records=100, client_id=f"{self.group_id}-consumer",
            metadata_max_age_ms=5000,  # see topics (and partitions) created after start within seconds, not 5 min
        )
        self._consumer.subscribe([self.topic.qualified(self.topic_prefix)], listener=_Rebalance(self))
        self._producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", client_id=f"{self.group_id}-dlq")
        self._loop = self.container.spawn_managed_thread(self._run, identifier=f"consume:{self.topic.name}")

    def stop(self) -> None:
        self._stopping = True
        self._loop.wait()

    def kill(self) -> None:
        self._stopping = True

    # -- the run loop (the only place Kafka clients are touched) -------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping:
                for tp, records in self._consumer.poll(timeout_ms=200).items():
                    self._enqueue(tp, records)
                self._settle()
                self._dispatch()
                self._commit()
            self._drain()
        finally:
            self._consumer.close(autocommit=False)
            self._producer.close(timeout=10)
            self._session_log.close()

    def _enqueue(self, tp: TopicPartition, records: list) -> None:
        queue = self._state.queues[tp]
        queue.extend(Pending(record, self._state.generations[tp]) for record in records)
        if records:
            self._state.next_offset[tp] = records[-1].offset + 1
        if len(queue) >= MAX_BACKLOG_PER_PARTITION and tp not in self._state.paused:
            self._consumer.pause(tp)
            self._state.paused.add(tp)

    def _dispatch(self) -> None:
        now = time.monotonic()
        for tp, queue in self._state.queues.items():
            if tp in self._state.busy or not queue or queue[0].not_before > now:
                continue
            self._start(tp, queue[0])

    def _start(self, tp: TopicPartition, pending: Pending) -> None:
        record = pending.record
        if pending.attempts == 0:
            self._tracker.started(tp, record.offset)
        pending.started_at = time.monotonic()
        if pending.envelope is None:
            try:
                pending.envelope = self._decode(record.value)
            except EventValidationError as exc:
                pending.attempts = max(pending.attempts, 1)
                self._dead_letter(tp, pending, f"unparseable: {exc}")
                return
        self._state.busy.add(tp)
        context = {"event_id": _event_id(pending.envelope), "session_id": _session_id(pending.envelope)}
        self.container.spawn_worker(self, (pending.envelope,), {}, context_data=context,
                                    handle_result=partial(self._handle_result, tp, pending))

    def _handle_result(self, tp, pending, worker_ctx, result, exc_info):
        """Runs in the worker's thread: only record the outcome; the run loop acts on it."""
        self._state.outcomes.append((tp, pending, exc_info))
        return result, exc_info

    def _settle(self) -> None:
        while self._state.outcomes:
            tp, pending, exc_info = self._state.outcomes.popleft()
            if pending.generation != self._state.generations[tp]:
                continue  # its partition was revoked meanwhile; the new owner redelivers it
            self._state.busy.discard(tp)
            if exc_info is None:
                self._finish(tp, pending)
                continue
            pending.attempts += 1
            error = f"{exc_info[0].__name__}: {exc_info[1]}"
            if pending.attempts >= self.max_attempts:
                self._dead_letter(tp, pending, error)
            else:
                pending.not_before = time.monotonic() + self.backoff_s * 2 ** (pending.attempts - 1)
                failure = self._failure(pending, error)
                log.warning("handler failed; will retry", extra={
                    "event_id": failure.original_event_id, "session_id": failure.session_id,
                    "attempt": pending.attempts, "error": error, "topic": self.topic.name})
                self._send_audit(retry_notice(failure, self.max_attempts))

    def _finish(self, tp: TopicPartition, pending: Pending) -> None:
        queue = self._state.queues[tp]
        if queue and queue[0] is pending:
            queue.popleft()
        self._tracker.done(tp, pending.record.offset)
        if tp in self._state.paused and len(queue) < MAX_BACKLOG_PER_PARTITION // 2:
            # kafka-python (2.0.x) drops records it had fetched for a paused partition but keeps its position
            # after them (dpkp/kafka-python#2011), so they would never be delivered: resume from the record
            # after the last one we hold.
            if tp in self._state.next_offset:
                self._consumer.seek(tp, self._state.next_offset[tp])
            self._consumer.resume(tp)
            self._state.paused.discard(tp)

    def _failure(self, pending: Pending, error: str) -> Failure:
        return Failure(step=self.step, topic=self.topic, group_id=self.group_id, record=pending.record,
                       message=pending.envelope, error=error, attempts=max(pending.attempts, 1),
                       duration_ms=(time.monotonic() - pending.started_at) * 1000)

    def _send_audit(self, envelope: Envelope[Payload]) -> None:
        """A retry's audit record: sent without waiting (the archive must not slow the retry down); a failure
        is logged. The producer is flushed when the entrypoint stops."""
        record = to_record(envelope, self.topic_prefix)
        try:
            future = self._producer.send(record.topic, value=record.value, key=record.key, headers=list(record.headers))
        except KafkaError as exc:
            log.warning("audit publish failed", extra={"event_id": str(envelope.event_id), "error": repr(exc)})
            return
        future.add_errback(lambda exc: log.warning("audit publish failed", extra={
            "event_id": str(envelope.event_id), "error": repr(exc)}))

    def _dead_letter(self, tp: TopicPartition, pending: Pending, error: str) -> None:
        """DeliveryFailed to gibsey.dlq, PipelineFailed to the reader, StepAudited to the archive: all three
        acknowledged before the consumer moves on; if any is refused, all are tried again shortly (with the
        same event ids, so the repeats are recognisable)."""
        failure = self._failure(pending, error)
        if pending.notices is None:
            pending.notices = dead_letter_notices(failure)
        notices = pending.notices
        try:
            futures = []
            for envelope in notices.all():
                record = to_record(envelope, self.topic_prefix)
                futures.append(self._producer.send(record.topic, value=record.value, key=record.key,
                                                   headers=list(record.headers)))
            for future in futures:
                future.get(timeout=30)
        except KafkaError as exc:  # the DLQ itself is down: keep the record, try again shortly
            log.error("dead-letter publish failed; will retry", extra={"error": repr(exc), "offset": pending.record.offset})
            pending.not_before = time.monotonic() + 5.0
            return
        if failure.concerns_a_reader:
            self._session_log.append(notices.reader)  # so Last-Event-ID replays it; best effort
        log.error("dead-lettered", extra={"topic": pending.record.topic, "partition": pending.record.partition,
                                          "offset": pending.record.offset, "error": error,
                                          "event_id": failure.original_event_id, "session_id": failure.session_id})
        self._finish(tp, pending)

    def _commit(self) -> None:
        positions = self._tracker.committable()
        if not positions:
            return
        try:
            self._consumer.commit({tp: OffsetAndMetadata(offset, None) for tp, offset in positions.items()})
            self._tracker.mark_committed(positions)
        except CommitFailedError as exc:  # a rebalance took the partitions; their new owner redelivers
            log.warning("commit failed", extra={"error": repr(exc)})

    def _drain(self) -> None:
        """On stop: let in-flight handlers finish (bounded), then commit what finished. No new dispatches."""
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while self._state.busy and time.monotonic() < deadline:
            eventlet.sleep(0.05)
            self._settle()
        self._commit()

    def _on_revoked(self, revoked) -> None:
        self._commit()
        for tp in revoked:
            self._state.generations[tp] += 1
            self._state.queues.pop(tp, None)
            self._state.busy.discard(tp)
            self._state.paused.discard(tp)
            self._state.next_offset.pop(tp, None)
        self._tracker.forget(revoked)


    def _decode_envelope(self, value: bytes) -> Envelope:
        envelope = decode_event(value)
        if envelope.payload.TOPIC != self.topic:
            raise EventValidationError([f"type: {envelope.type} does not belong on {self.topic.name}"])
        return envelope


def _event_id(message: Any) -> str | None:
    event_id = getattr(message, "event_id", None)
    return str(event_id) if event_id is not None else None


def _session_id(message: Any) -> str:
    return getattr(message, "session_id", None) or "unknown"


consume = KafkaEventConsumer.decorator
