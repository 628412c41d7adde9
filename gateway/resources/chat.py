"""`POST /api/v1/chat` (SSE: connection, token..., citation..., done | error) and `POST /api/v1/ask` (JSON).

Both validate, check the character and charge the turn before answering, so a bad request is a 4xx and a
reader short of credits gets 402 `{needed, available}` before any retrieval or LLM work. While the turn
waits (retrieval, the LLM's first token), the stream sends a keep-alive comment every heartbeat.
"""

from __future__ import annotations

import asyncio
import json
from typing import AsyncIterator, Protocol

import falcon
import falcon.asgi
from falcon.asgi import SSEvent

from shared.chat.request import ChatRequest, parse_chat_request
from shared.chat.turn import ChatEvent, Paid, UnknownCharacter


class Chat(Protocol):
    async def begin(self, request: ChatRequest) -> Paid: ...

    def events(self, request: ChatRequest, paid: Paid) -> AsyncIterator[ChatEvent]: ...

    async def close(self) -> None: ...


async def _paid_turn(chat: Chat, req: falcon.asgi.Request) -> tuple[ChatRequest, Paid]:
    """Validated and paid for; InsufficientCredits leaves as 402 {needed, available} (gateway/errors.py)."""
    request = parse_chat_request(await req.get_media(default_when_empty=None))
    try:
        return request, await chat.begin(request)
    except UnknownCharacter as exc:
        raise falcon.HTTPNotFound(title="Not Found", description=str(exc)) from None


async def with_heartbeats(events: AsyncIterator[ChatEvent], heartbeat_s: float) -> AsyncIterator[ChatEvent | None]:
    """The events, with None whenever `heartbeat_s` passes without one (the caller sends a keep-alive)."""
    iterator = events.__aiter__()
    step: asyncio.Future | None = None
    try:
        while True:
            step = asyncio.ensure_future(iterator.__anext__())
            while not (await asyncio.wait({step}, timeout=heartbeat_s))[0]:
                yield None
            try:
                event = step.result()
            except StopAsyncIteration:
                return
            yield event
    finally:  # the client went away: stop the turn's pending step rather than let it run on unseen
        if step is not None and not step.done():
            step.cancel()


class ChatResource:
    def __init__(self, chat: Chat, heartbeat_s: float) -> None:
        self._chat, self._heartbeat_s = chat, heartbeat_s

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.sse = self.sse_events(*await _paid_turn(self._chat, req))

    async def sse_events(self, request: ChatRequest, paid: Paid) -> AsyncIterator[SSEvent]:
        yield SSEvent(event="connection", data=json.dumps(
            {"session_id": request.session_id, "char_id": request.char_id, "request_id": request.request_id}).encode())
        async for event in with_heartbeats(self._chat.events(request, paid), self._heartbeat_s):
            if event is None:
                yield SSEvent(comment="keep-alive")
            else:
                yield SSEvent(event=event.name, data=json.dumps(event.data).encode())


class AskResource:
    """The same turn for clients without SSE: `{answer, citations, credits, generator}`."""

    def __init__(self, chat: Chat) -> None:
        self._chat = chat

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        async for event in self._chat.events(*await _paid_turn(self._chat, req)):
            if event.name == "done":
                resp.media = {"answer": event.data["answer"], "citations": event.data["citations"],
                              "credits": event.data["credits_left"], "generator": event.data["generator"]}
            elif event.name == "error":
                resp.status = falcon.HTTP_502
                resp.media = {"error": "Bad Gateway", "detail": event.data["error"], **event.data}
