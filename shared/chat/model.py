"""The chat LLM behind one narrow interface: `ChatModel.stream(messages)` yields text pieces.

`OllamaChat` streams Ollama's /api/chat through the `ollama` client's AsyncClient. Failures are mapped
once, here, by shared.qdpi.lm.translated_errors, to `LMUnavailable`; a first piece that does not arrive
within `first_token_s`, or a reply still streaming after `total_s`, is `LMUnavailable("too-slow")`. The caller can tell "failed before speaking"
(fall back to the canon composer) from "failed mid-stream" (end the stream with an error, refund) by
whether it has received a piece yet.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Protocol

import ollama

from shared.qdpi.lm import LMUnavailable, translated_errors


class ChatModel(Protocol):
    name: str

    def stream(self, messages: list[dict[str, str]]) -> AsyncIterator[str]: ...


class OllamaChat:
    def __init__(self, base_url: str, model: str, *, first_token_s: float, total_s: float) -> None:
        self.name = f"llm:{model}"
        self._model = model
        self._first_token_s = first_token_s
        self._total_s = total_s
        self._base_url = base_url

    async def stream(self, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        # httpx's timeout (the client's) bounds each read; the whole reply is bounded here, so a model that
        # keeps trickling cannot hold a reader (and their credits) for ever.
        deadline = asyncio.get_running_loop().time() + self._total_s
        async with ollama.AsyncClient(host=self._base_url, timeout=self._total_s) as client:
            with translated_errors(self._model):
                try:
                    pieces = await asyncio.wait_for(
                        client.chat(model=self._model, messages=messages, stream=True), self._first_token_s)
                    first = await asyncio.wait_for(anext(pieces), self._first_token_s)
                except asyncio.TimeoutError:
                    raise LMUnavailable("too-slow", f"no first token within {self._first_token_s:g} s") from None
                except StopAsyncIteration:
                    raise LMUnavailable("bad-response", "the stream ended before any text") from None
                if first.message.content:
                    yield first.message.content
                while True:
                    remaining = deadline - asyncio.get_running_loop().time()
                    try:
                        piece = await asyncio.wait_for(anext(pieces), max(remaining, 0.0))
                    except StopAsyncIteration:
                        return
                    except asyncio.TimeoutError:
                        raise LMUnavailable("too-slow", f"the reply was still streaming after {self._total_s:g} s") \
                            from None
                    if piece.message.content:
                        yield piece.message.content
