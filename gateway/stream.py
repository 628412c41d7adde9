"""Server-Sent Events: one Kafka tail per process fans out to bounded per-client queues.

A client that cannot keep up (its queue is full) is dropped, not the process: its stream ends and the
browser reconnects with Last-Event-ID, which replays what it missed from events_log.

A stream forwards the session's pages (`PageGenerated`, SSE event "page.done") and the pipeline's failures
on its events (`PipelineFailed` from gibsey.pipeline.error, SSE event "pipeline.error"); never the DLQ's
raw records, which are for operators. The `connection` event is sent only once the process's Kafka tail
is positioned (waiting a bounded time for it), so whatever the client causes after it is seen.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable, Protocol

from falcon.asgi import SSEvent

from gateway.bus import KafkaTail
from shared.events import Envelope, PageGenerated, Payload, PipelineFailed
from shared.topics import GENERATE_PAGE_DONE, PIPELINE_ERROR, Topic

log = logging.getLogger("gibsey.gateway.stream")

QUEUE_SIZE = 100
HEARTBEAT_S = 15.0
READY_WAIT_S = 10.0  # how long a new stream waits for the tail before sending `connection` anyway
SSE_NAMES = {PageGenerated.TYPE: "page.done", PipelineFailed.TYPE: "pipeline.error"}
STREAM_TOPICS: tuple[Topic, ...] = (GENERATE_PAGE_DONE, PIPELINE_ERROR)
_CLOSED = object()


class RecentIds:
    """The last `size` event ids a stream sent, to drop redelivered duplicates without growing forever."""

    def __init__(self, size: int = 1000):
        self._order: deque[str] = deque(maxlen=size)
        self._ids: set[str] = set()

    def add(self, event_id: str) -> bool:
        """False when the id was already sent."""
        if event_id in self._ids:
            return False
        if len(self._order) == self._order.maxlen:
            self._ids.discard(self._order[0])
        self._order.append(event_id)
        self._ids.add(event_id)
        return True


class Tail(Protocol):
    """What the hub needs of its Kafka tail (gateway.bus.KafkaTail; a fake in tests)."""

    ready: threading.Event

    def start(self) -> None: ...

    def stop(self) -> None: ...


TailFactory = Callable[[str, tuple[Topic, ...], Callable[[Envelope[Payload]], None], str], Tail]


@dataclass(eq=False)
class Subscription:
    session_id: str
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: bool = False


class StreamHub:
    def __init__(self, bootstrap: str, *, heartbeat_s: float = HEARTBEAT_S, topic_prefix: str = "",
                 ready_wait_s: float = READY_WAIT_S, tail_factory: TailFactory = KafkaTail):
        self._bootstrap = bootstrap
        self._topic_prefix = topic_prefix
        self._heartbeat_s = heartbeat_s
        self._ready_wait_s = ready_wait_s
        self._tail_factory = tail_factory
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._tail: Tail | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _ensure_tail(self) -> Tail:
        if self._tail is None:
            self._loop = asyncio.get_running_loop()
            self._tail = self._tail_factory(self._bootstrap, STREAM_TOPICS, self._from_thread, self._topic_prefix)
            self._tail.start()
        return self._tail

    async def ready(self, timeout: float) -> bool:
        """Whether the tail is positioned on Kafka, waiting up to `timeout` seconds for it."""
        tail = self._ensure_tail()
        if tail.ready.is_set():
            return True
        return await asyncio.to_thread(tail.ready.wait, timeout)

    def _from_thread(self, envelope: Envelope[Payload]) -> None:
        if envelope.type in SSE_NAMES and self._loop is not None:
            self._loop.call_soon_threadsafe(self.deliver, envelope)

    def deliver(self, envelope: Envelope[Payload]) -> None:
        for sub in list(self._subscribers.get(envelope.session_id, ())):
            try:
                sub.queue.put_nowait(envelope)
            except asyncio.QueueFull:
                log.warning("slow SSE client dropped", extra={"session_id": sub.session_id})
                sub.dropped = True
                self._remove(sub)

    def subscribe(self, session_id: str) -> Subscription:
        self._ensure_tail()
        sub = Subscription(session_id)
        self._subscribers[session_id].add(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        subs = self._subscribers.get(sub.session_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subscribers[sub.session_id]

    async def stream(self, session_id: str, last_event_id: str | None,
                     replay: Callable[[str, str], Awaitable[list[Envelope[Payload]]]]) -> AsyncIterator[SSEvent]:
        """connection event, then missed events (if resuming), then live ones; a ping when idle."""
        sub = self.subscribe(session_id)  # subscribe before replaying, so nothing falls in between
        seen = RecentIds()
        try:
            if not await self.ready(self._ready_wait_s):  # Kafka away: still serve the replay and heartbeats
                log.warning("SSE stream opened before the Kafka tail was positioned",
                            extra={"session_id": session_id, "waited_s": self._ready_wait_s})
            yield SSEvent(event="connection", data=json.dumps({"session_id": session_id,
                                                                 "resumed_after": last_event_id}).encode())
            if last_event_id:
                for envelope in await replay(session_id, last_event_id):
                    if seen.add(str(envelope.event_id)):
                        yield _sse(envelope)
            while not sub.dropped:
                try:
                    envelope = await asyncio.wait_for(sub.queue.get(), self._heartbeat_s)
                except asyncio.TimeoutError:
                    yield SSEvent(comment="keep-alive")
                    continue
                if seen.add(str(envelope.event_id)):  # else: redelivered, or already replayed
                    yield _sse(envelope)
        finally:
            self._remove(sub)

    async def close(self) -> None:
        if self._tail is not None:
            await asyncio.to_thread(self._tail.stop)


def _sse(envelope: Envelope[Payload]) -> SSEvent:
    return SSEvent(event=SSE_NAMES.get(envelope.type, envelope.type), event_id=str(envelope.event_id),
                   data=envelope.to_bytes())
