"""`POST /api/v1/event/ui/symbol` (a reader picks a symbol) and `GET /api/v1/event/stream` (their pages, SSE)."""

from __future__ import annotations

import falcon
import falcon.asgi

from gateway.bus import EventProducer
from gateway.pages import PageSource
from gateway.stream import SSE_NAMES, StreamHub
from shared.events import Envelope, EventValidationError, SymbolSelected
from pydantic import TypeAdapter, ValidationError

from shared.events.envelope import SessionId, validation_problems

_SESSION_ID = TypeAdapter(SessionId)


def check_session_id(raw: object) -> str:
    try:
        return _SESSION_ID.validate_python(raw)
    except ValidationError as exc:
        reason = exc.errors(include_url=False)[0]["msg"]
        raise EventValidationError([f"session_id: {reason} (got {raw!r})"]) from None


async def read_json_object(req: falcon.asgi.Request) -> dict:
    try:
        body = await req.get_media()
    except falcon.MediaMalformedError as exc:
        raise falcon.HTTPBadRequest(title="Bad Request", description=f"body is not valid JSON: {exc.description}")
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise falcon.HTTPBadRequest(title="Bad Request", description="body must be a JSON object")
    return body


class SymbolEventResource:
    def __init__(self, producer: EventProducer, pages: PageSource):
        self._producer = producer
        self._pages = pages

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        body = await read_json_object(req)
        unknown = set(body) - {"session_id", "symbol_code", "page_id", "user_intent"}
        if unknown:
            raise EventValidationError([f"{name}: not a field of this request" for name in sorted(unknown)])
        session_id = check_session_id(body.get("session_id"))
        try:
            payload = SymbolSelected(**{k: v for k, v in body.items() if k != "session_id"})
        except ValidationError as exc:
            raise EventValidationError(validation_problems(exc)) from None
        if payload.page_id:
            await self._pages.by_id(payload.page_id)  # 404 now, rather than a dead letter later
        event = Envelope.wrap(payload, session_id=session_id)
        await self._producer.publish(event)
        resp.status = falcon.HTTP_202
        resp.media = {"event_id": str(event.event_id), "session_id": session_id}


class EventStreamResource:
    def __init__(self, hub: StreamHub, pages: PageSource):
        self._hub = hub
        self._pages = pages

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        session_id = check_session_id(req.get_param("session_id"))
        last_event_id = req.get_header("Last-Event-ID") or req.get_param("last_event_id")

        async def replay(session: str, after: str):
            return await self._pages.events_after(session, after, tuple(SSE_NAMES))

        resp.set_header("Cache-Control", "no-store")
        resp.set_header("X-Accel-Buffering", "no")
        resp.sse = self._hub.stream(session_id, last_event_id, replay)
