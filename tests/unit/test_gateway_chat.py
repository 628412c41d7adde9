"""The chat routes with an in-memory Chat: SSE framing, heartbeats, /ask, and 4xx before any work."""

from __future__ import annotations

import asyncio
import json

import falcon.testing
import pytest

from gateway.app import create_app
from gateway.resources.chat import ChatResource
from shared.chat.request import parse_chat_request
from shared.chat.turn import ChatEvent, Paid, UnknownCharacter
from shared.ledger.errors import InsufficientCredits
from shared.config import Settings
from shared.storage.chat import Persona

BODY = {"session_id": "s-1", "user_id": "u-1", "char_id": "arieol-owlist", "message": "Why did you climb the tower?",
        "request_id": "r-1"}
DONE = {"answer": "I climbed. “A. B.” (p.440)", "citations": [{"page_id": "S11-P0440", "page_number": 440,
        "loc": "p440-1", "quote": "A. B."}], "credits_left": 45, "generator": "canon-composer"}


class ScriptedChat:
    def __init__(self, fail: Exception | None = None, pause_s: float = 0.0, end: ChatEvent | None = None):
        self.fail, self.pause_s, self.end = fail, pause_s, end
        self.began = []

    async def begin(self, request):
        if self.fail:
            raise self.fail
        self.began.append(request)
        return Paid(Persona(request.char_id, "Arieol Owlist", "#3366FF", ""), 45)

    async def events(self, request, paid):
        yield ChatEvent("token", {"char_id": request.char_id, "color": "#3366FF", "token": "I"})
        await asyncio.sleep(self.pause_s)
        yield ChatEvent("citation", DONE["citations"][0])
        yield self.end or ChatEvent("done", DONE)

    async def close(self):
        pass


def _client(chat, heartbeat_s=15.0):
    settings = Settings(sse_heartbeat_s=heartbeat_s)
    return falcon.testing.TestClient(create_app(settings, health_checks=(), chat=chat))


def _sse(chat, heartbeat_s=15.0):
    """The route's SSE events, read straight from its generator (Falcon's test client cuts SSE bodies short)."""
    async def read():
        request = parse_chat_request(BODY)
        return [e async for e in ChatResource(chat, heartbeat_s).sse_events(request, await chat.begin(request))]
    return asyncio.run(read())


def test_chat_answers_with_an_event_stream():
    resp = _client(ScriptedChat()).simulate_post("/api/v1/chat", json=BODY)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    assert resp.text.startswith("event: connection\ndata: ")


def test_chat_streams_connection_tokens_citations_and_done():
    events = _sse(ScriptedChat())
    assert [e.event for e in events] == ["connection", "token", "citation", "done"]
    assert json.loads(events[1].data) == {"char_id": "arieol-owlist", "color": "#3366FF", "token": "I"}
    assert json.loads(events[3].data) == DONE


def test_a_slow_turn_gets_keep_alive_comments():
    events = _sse(ScriptedChat(pause_s=0.35), heartbeat_s=0.1)
    assert sum(1 for e in events if e.comment == "keep-alive") >= 2
    assert [e.event for e in events if e.event] == ["connection", "token", "citation", "done"]


def test_ask_returns_the_same_turn_as_json():
    resp = _client(ScriptedChat()).simulate_post("/api/v1/ask", json=BODY)
    assert resp.status_code == 200
    assert resp.json == {"answer": DONE["answer"], "citations": DONE["citations"], "credits": 45,
                         "generator": "canon-composer"}


def test_ask_reports_a_failed_turn_as_502_with_the_refund():
    end = ChatEvent("error", {"stage": "llm", "error": "connection-lost", "refunded": True, "credits_left": 50})
    resp = _client(ScriptedChat(end=end)).simulate_post("/api/v1/ask", json=BODY)
    assert resp.status_code == 502 and resp.json["refunded"] is True and resp.json["detail"] == "connection-lost"


@pytest.mark.parametrize("route", ["/api/v1/chat", "/api/v1/ask"])
def test_short_of_credits_is_402_with_needed_and_available(route):
    resp = _client(ScriptedChat(fail=InsufficientCredits(5, 3))).simulate_post(route, json=BODY)
    assert resp.status_code == 402 and resp.json["needed"] == 5 and resp.json["available"] == 3


@pytest.mark.parametrize("body, status, field", [
    ({**BODY, "char_id": "nobody"}, 422, "char_id"),
    ({**BODY, "message": ""}, 422, "message"),
    ({**BODY, "message": "x" * 5000}, 422, "message"),
    ({k: v for k, v in BODY.items() if k != "session_id"}, 422, "session_id"),
])
def test_bad_chat_requests_are_4xx_json_naming_the_field(body, status, field):
    chat = ScriptedChat()
    resp = _client(chat).simulate_post("/api/v1/chat", json=body)
    assert resp.status_code == status and field in resp.json["detail"] and chat.began == []


def test_a_character_missing_from_the_book_is_404():
    resp = _client(ScriptedChat(fail=UnknownCharacter("char_id: no character"))).simulate_post("/api/v1/chat", json=BODY)
    assert resp.status_code == 404 and resp.json["error"] == "Not Found"
