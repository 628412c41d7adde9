"""Server-Sent Events: one Kafka tail per process fans out to bounded per-client queues.

A client that cannot keep up (its queue is full) is dropped, not the process: its stream ends and the
browser reconnects with Last-Event-ID, which replays what it missed from events_log.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable

from falcon.asgi import SSEvent

from gateway.bus import KafkaTail
from shared.events import DeliveryFailed, Envelope, PageGenerated, Payload
from shared.topics import DLQ, GENERATE_PAGE_DONE

log = logging.getLogger("gibsey.gateway.stream")

QUEUE_SIZE = 100
HEARTBEAT_S = 15.0
SSE_NAMES = {PageGenerated.TYPE: "page.done", DeliveryFailed.TYPE: "pipeline.error"}
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


@dataclass(eq=False)
class Subscription:
    session_id: str
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: bool = False


class StreamHub:
    def __init__(self, bootstrap: str, *, heartbeat_s: float = HEARTBEAT_S, topic_prefix: str = ""):
        self._bootstrap = bootstrap
        self._topic_prefix = topic_prefix
        self._heartbeat_s = heartbeat_s
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._tail: KafkaTail | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _ensure_tail(self) -> None:
        if self._tail is None:
            self._loop = asyncio.get_running_loop()
            self._tail = KafkaTail(self._bootstrap, (GENERATE_PAGE_DONE, DLQ), self._from_thread, self._topic_prefix)
            self._tail.start()

    async def ready(self, timeout: float) -> bool:
        """Whether the tail is positioned on Kafka (tests wait on this before producing)."""
        self._ensure_tail()
        return await asyncio.to_thread(self._tail.ready.wait, timeout)

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
