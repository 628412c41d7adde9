"""The SSE hub without Kafka: `connection` only once the tail is positioned (bounded), the session's pages and
pipeline failures forwarded (never the DLQ's raw records), and a slow client dropped while the others go on.

And the Kafka tail with a fake consumer: after losing the broker it resumes where it was, not at the end."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import namedtuple

from kafka.errors import KafkaConnectionError
from kafka.structs import TopicPartition

from gateway.bus import KafkaTail
from gateway.stream import QUEUE_SIZE, StreamHub
from shared.events import (DeliveryFailed, Envelope, PageGenerated, PageValidation, PipelineFailed, decode_event)
from shared.symbols import Trajectory
from shared.topics import GENERATE_PAGE_DONE, PIPELINE_ERROR


class FakeTail:
    def __init__(self, bootstrap, topics, on_event, prefix, ready=True):
        self.topics, self.on_event, self.prefix = topics, on_event, prefix
        self.ready = threading.Event()
        if ready:
            self.ready.set()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def _hub(ready: bool = True, **kwargs) -> tuple[StreamHub, list[FakeTail]]:
    tails: list[FakeTail] = []

    def factory(*args):
        tails.append(FakeTail(*args, ready=ready))
        return tails[-1]

    return StreamHub("kafka:9092", tail_factory=factory, topic_prefix="test.", **kwargs), tails


def _page(session: str, n: int = 0) -> Envelope[PageGenerated]:
    return Envelope.wrap(PageGenerated(page_id="S01-P0007", character="an-author", symbol_code=0,
                                       trajectory=Trajectory.CONTINUE, text=f"Page text {n}.",
                                       validation=PageValidation(style_ok=True, continuity_score=1.0)),
                         session_id=session)


async def _no_replay(session: str, after: str) -> list:
    return []


def test_connection_is_sent_only_once_the_tail_is_positioned():
    async def go():
        hub, tails = _hub(ready=False)
        stream = hub.stream("reader-1", None, _no_replay)
        first = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.3)
        assert not first.done(), "connection sent before the Kafka tail was positioned"
        tails[0].ready.set()
        event = await asyncio.wait_for(first, 5)
        assert event.event == "connection"
        assert json.loads(event.data) == {"session_id": "reader-1", "resumed_after": None}
        await stream.aclose()

    asyncio.run(go())


def test_connection_is_sent_anyway_after_a_bounded_wait():
    async def go():
        hub, _ = _hub(ready=False, ready_wait_s=0.2)
        stream = hub.stream("reader-1", None, _no_replay)
        started = time.monotonic()
        assert (await asyncio.wait_for(anext(stream), 5)).event == "connection"
        assert 0.15 < time.monotonic() - started < 3
        await stream.aclose()

    asyncio.run(go())


def test_the_stream_carries_pipeline_failures_but_never_the_dlqs_raw_records():
    async def go():
        hub, tails = _hub()
        stream = hub.stream("reader-2", None, _no_replay)
        await anext(stream)  # connection
        tail = tails[0]
        assert tail.topics == (GENERATE_PAGE_DONE, PIPELINE_ERROR) and tail.prefix == "test."
        dead = Envelope.wrap(DeliveryFailed(source_topic="t", partition=0, offset=1, consumer_group="g",
                                            original_value_b64="c2VjcmV0", error="boom", attempts=3),
                             session_id="reader-2")
        failed = Envelope.wrap(PipelineFailed(stage="enricher", source_topic="gibsey.ui.symbol",
                                              reason="retries-exhausted", error="boom", attempts=3),
                               session_id="reader-2")
        for envelope in (dead, failed, _page("reader-2"), _page("someone-else")):
            tail.on_event(envelope)  # as the tail's thread would
        first = await asyncio.wait_for(anext(stream), 2)
        assert (first.event, first.event_id) == ("pipeline.error", str(failed.event_id))
        assert decode_event(first.data) == failed and b"c2VjcmV0" not in first.data
        second = await asyncio.wait_for(anext(stream), 2)
        assert second.event == "page.done" and decode_event(second.data).session_id == "reader-2"
        await stream.aclose()

    asyncio.run(go())


def test_a_slow_client_is_dropped_while_the_others_keep_receiving():
    async def go():
        hub, _ = _hub(heartbeat_s=60)
        slow = hub.stream("reader-3", None, _no_replay)
        fast = hub.stream("reader-3", None, _no_replay)
        other = hub.stream("reader-4", None, _no_replay)
        for stream in (slow, fast, other):
            assert (await anext(stream)).event == "connection"
        received: list[str] = []

        async def read_fast():
            async for event in fast:
                received.append(event.event_id)

        reader = asyncio.ensure_future(read_fast())
        sent = []
        for n in range(QUEUE_SIZE + 20):  # the slow client reads nothing: its queue overflows
            envelope = _page("reader-3", n)
            sent.append(str(envelope.event_id))
            hub.deliver(envelope)  # must not raise: a slow client is not the process's problem
            await asyncio.sleep(0)  # let the fast client read, as the event loop would between records
        await asyncio.sleep(0.05)
        assert received == sent

        # The slow one's stream has ended (the browser would reconnect with Last-Event-ID) ...
        drained = [event async for event in slow]
        assert len(drained) <= QUEUE_SIZE  # at most what was queued before the drop, then the end
        # ... and the hub goes on: the fast client and another session still receive, a newcomer too.
        late = _page("reader-3", 999)
        hub.deliver(late)
        hub.deliver(_page("reader-4", 1))
        await asyncio.sleep(0.05)
        assert received[-1] == str(late.event_id)
        assert (await asyncio.wait_for(anext(other), 2)).event == "page.done"
        newcomer = hub.stream("reader-3", None, _no_replay)
        await anext(newcomer)
        hub.deliver(_page("reader-3", 1000))
        assert (await asyncio.wait_for(anext(newcomer), 2)).event == "page.done"
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        for stream in (fast, other, newcomer):
            await stream.aclose()

    asyncio.run(go())


# -- the Kafka tail --------------------------------------------------------------------------------------------

Record = namedtuple("Record", "offset value")
TOPIC = "test.gibsey.generate.page.done"


class FakeConsumer:
    """One connection's worth of consumer: end offsets, a script of polls, then the broker goes away."""

    def __init__(self, tail_ready: threading.Event, ends: dict[int, int], polls: list, after: Exception | None):
        self.ready, self.ends, self.polls, self.after = tail_ready, ends, list(polls), after
        self.positions: dict[TopicPartition, int] = {}
        self.calls: list[tuple] = []
        self.ready_when_positioned: list[bool] = []

    def partitions_for_topic(self, name):
        return set(self.ends) if name == TOPIC else None

    def assign(self, partitions):
        self.calls.append(("assign", tuple(partitions)))

    def end_offsets(self, partitions):
        return {tp: self.ends[tp.partition] for tp in partitions}

    def beginning_offsets(self, partitions):
        return {tp: 0 for tp in partitions}

    def seek(self, tp, offset):
        self.calls.append(("seek", tp, offset))
        self.positions[tp] = offset

    def position(self, tp):
        self.ready_when_positioned.append(self.ready.is_set())
        return self.positions[tp]

    def poll(self, timeout_ms=0):
        if self.polls:
            return self.polls.pop(0)
        if self.after is not None:
            raise self.after
        time.sleep(timeout_ms / 1000)
        return {}

    def close(self, autocommit=False):
        pass


def test_the_tail_is_ready_only_when_positioned_and_resumes_where_it_was_after_losing_the_broker():
    session = "reader-7"
    pages = [_page(session, n) for n in range(4)]
    p0, p1, p2 = (TopicPartition(TOPIC, p) for p in range(3))
    seen: list[Envelope] = []
    consumers: list[FakeConsumer] = []

    def factory(**kwargs):
        if not consumers:  # first connection: ends at 5 and 9; reads p0@5, p0@6, then the broker is lost
            consumer = FakeConsumer(tail.ready, {0: 5, 1: 9}, [{p0: [Record(5, pages[0].to_bytes()),
                                                                     Record(6, pages[1].to_bytes())]}],
                                    KafkaConnectionError("broker gone"))
        else:  # meanwhile p0@7 and p1@9 were produced, and a partition p2 was added
            consumer = FakeConsumer(tail.ready, {0: 8, 1: 10, 2: 1},
                                    [{p0: [Record(7, pages[2].to_bytes())], p1: [Record(9, pages[3].to_bytes())]}],
                                    None)
        consumers.append(consumer)
        return consumer

    tail = KafkaTail("kafka:9092", (GENERATE_PAGE_DONE,), seen.append, "test.", consumer_factory=factory,
                     reconnect_s=0.01)
    tail.start()
    try:
        deadline = time.monotonic() + 5
        while len(seen) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        tail.stop()

    assert [e.event_id for e in seen] == [p.event_id for p in pages]  # nothing produced meanwhile was skipped
    first, second = consumers[:2]
    assert first.ready_when_positioned == [False, False]  # positions resolved before `ready` was set
    assert [c for c in first.calls if c[0] != "assign"] == [("seek", p0, 5), ("seek", p1, 9)]  # the ends
    assert tail.ready.is_set()
    assert [c for c in second.calls if c[0] != "assign"] == [("seek", p0, 7), ("seek", p1, 9),
                                                              ("seek", p2, 0)]  # new partition: its beginning
