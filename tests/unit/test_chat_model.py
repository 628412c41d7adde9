"""OllamaChat, the real `ollama` client over real HTTP, against the Ollama-protocol TEST DOUBLE."""

import asyncio

import pytest

from shared.chat.model import OllamaChat
from shared.qdpi.lm import LMUnavailable
from tests.doubles.ollama import DEFAULT_MODEL, OllamaDouble

MESSAGES = [{"role": "system", "content": "You are Arieol."}, {"role": "user", "content": "Why the tower?"}]


def _collect(chat: OllamaChat) -> tuple[list[str], LMUnavailable | None]:
    pieces: list[str] = []

    async def go():
        async for piece in chat.stream(MESSAGES):
            pieces.append(piece)

    try:
        asyncio.run(go())
    except LMUnavailable as exc:
        return pieces, exc
    return pieces, None


def _chat(double: OllamaDouble, model: str = DEFAULT_MODEL, first_token_s: float = 2.0) -> OllamaChat:
    return OllamaChat(double.url, model, first_token_s=first_token_s, total_s=5.0)


def test_streams_the_reply_in_pieces_and_sends_the_messages(ollama_double: OllamaDouble) -> None:
    ollama_double.reply = "I climbed because the stairs asked me to."
    pieces, error = _collect(_chat(ollama_double))
    assert error is None and len(pieces) > 1 and "".join(pieces) == ollama_double.reply
    (sent,) = ollama_double.bodies("/api/chat")
    assert sent["stream"] is True and sent["messages"] == MESSAGES and sent["model"] == DEFAULT_MODEL


@pytest.mark.parametrize("setup, reason", [
    (lambda d: setattr(d, "delay_s", 1.5), "too-slow"),
    (lambda d: setattr(d, "fail_status", 500), "server-error"),
    (lambda d: d.models.clear(), "model-not-found"),
    (lambda d: d.stop(), "unreachable"),
])
def test_failures_before_the_first_token_are_lm_unavailable(ollama_double: OllamaDouble, setup, reason) -> None:
    setup(ollama_double)
    pieces, error = _collect(_chat(ollama_double, first_token_s=0.5))
    assert pieces == [] and error is not None and error.reason == reason


def test_a_stream_that_breaks_off_fails_after_its_first_pieces(ollama_double: OllamaDouble) -> None:
    ollama_double.reply = "One two three four five six seven eight nine ten."
    ollama_double.chunk_chars = 5
    ollama_double.cut_after_chunks = 3
    pieces, error = _collect(_chat(ollama_double))
    assert len(pieces) == 3 and error is not None and error.reason == "connection-lost"


def test_a_reply_still_trickling_past_the_total_deadline_is_too_slow(ollama_double: OllamaDouble) -> None:
    ollama_double.reply = "One two three four five six seven eight nine ten."
    ollama_double.chunk_chars = 5
    ollama_double.chunk_delay_s = 0.3  # each piece in time for httpx's read timeout, the whole reply not
    chat = OllamaChat(ollama_double.url, DEFAULT_MODEL, first_token_s=2.0, total_s=1.0)
    pieces, error = _collect(chat)
    assert 1 <= len(pieces) < 10 and error is not None and error.reason == "too-slow"
    assert "still streaming after 1 s" in str(error)
