"""The LLM behind the QDPI program: Ollama's chat API through the `ollama` client, as a DSPy LM.

This module is the one boundary where transport and server failures are translated: connection refused,
timeouts, 404 (model not pulled), 5xx and malformed replies all leave as `LMUnavailable(reason, detail)`,
the way httpx's transports map their driver's exceptions to httpx's own. Callers catch one exception.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, Iterator, Mapping

import dspy
import httpx
import ollama
import pydantic

from shared.config import Settings, positive_seconds

log = logging.getLogger("gibsey.qdpi")

TIMEOUT_ENV = "GIBSEY_LLM_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 60.0
# OpenAI-style request keywords and the Ollama option each one becomes.
_OPTION_NAMES = {
    "temperature": "temperature",
    "max_tokens": "num_predict",
    "top_p": "top_p",
    "seed": "seed",
    "stop": "stop",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}


class LMUnavailable(Exception):
    """The LLM could not produce a reply. `reason` is a short code: unreachable, timeout, model-not-found,
    rejected, server-error, connection-lost or bad-response; `detail` says what happened."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def llm_timeout_s(env: Mapping[str, str] | None = None) -> float:
    """Seconds one LLM request may take, from GIBSEY_LLM_TIMEOUT_S (default 60); read per call, not at import."""
    return positive_seconds(os.environ if env is None else env, TIMEOUT_ENV, DEFAULT_TIMEOUT_S)


@contextmanager
def translated_errors(model: str) -> Iterator[None]:
    """Map what ollama/httpx raise to `LMUnavailable`; anything else (a bug) passes through untouched."""
    try:
        yield
    except ollama.ResponseError as exc:
        if exc.status_code == 404:
            raise LMUnavailable("model-not-found", f"{model!r}: {exc.error}") from exc
        if 400 <= exc.status_code < 500:
            raise LMUnavailable("rejected", f"HTTP {exc.status_code}: {exc.error}") from exc
        raise LMUnavailable("server-error", f"HTTP {exc.status_code}: {exc.error}") from exc
    except httpx.TimeoutException as exc:
        raise LMUnavailable("timeout", f"{type(exc).__name__} {exc}".strip()) from exc
    except (ConnectionError, httpx.ConnectError) as exc:  # ollama re-raises ConnectError as the builtin
        raise LMUnavailable("unreachable", str(exc) or type(exc).__name__) from exc
    except httpx.TransportError as exc:  # the server went away mid-reply
        raise LMUnavailable("connection-lost", f"{type(exc).__name__}: {exc}") from exc
    except (json.JSONDecodeError, pydantic.ValidationError) as exc:  # a reply that is not Ollama JSON
        raise LMUnavailable("bad-response", f"{type(exc).__name__}: {exc}") from exc


def lm_reachable(settings: Settings, timeout: float = 2.0) -> tuple[bool, str]:
    """Ask /api/tags whether the server answers and lists the configured model; never raises."""
    model = settings.ollama_model
    try:
        with translated_errors(model), ollama.Client(host=settings.ollama_base_url, timeout=timeout) as client:
            listed = [m.model for m in client.list().models if m.model]
    except LMUnavailable as exc:
        return False, str(exc)
    if _listed(model, listed):
        return True, f"ok: {model} is listed at {settings.ollama_base_url}"
    return False, f"model-not-found: {model!r} is not among {sorted(listed)}"


def _listed(model: str, listed: list[str]) -> bool:
    """Ollama treats a name without a tag as ':latest'."""
    wanted = model if ":" in model else f"{model}:latest"
    return any(name == model or name == wanted for name in listed)


class OllamaLM(dspy.BaseLM):
    """A DSPy LM that sends chat messages to Ollama's /api/chat, streaming (NDJSON) or not.

    DSPy's own disk and memory cache is off (cache=False) and so are its retries: every call reaches the
    server, and a failure surfaces at once as `LMUnavailable`. Use it with `dspy.context(lm=...)`.
    """

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        timeout_s: float,
        stream: bool = False,
        temperature: float = 0.7,
        max_tokens: int = 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            model=model, model_type="chat", temperature=temperature, max_tokens=max_tokens, cache=False,
            num_retries=0, **kwargs,
        )
        self.base_url, self.timeout_s, self.stream = base_url, timeout_s, stream
        self._client = ollama.Client(host=base_url, timeout=timeout_s)

    def close(self) -> None:
        self._client.close()

    def forward(self, prompt: str | None = None, messages: list[dict] | None = None, **kwargs: Any) -> SimpleNamespace:
        """One chat call; returns an OpenAI-shaped response (choices[0].message.content, usage, model)."""
        merged = {**self.kwargs, **kwargs}  # DSPy 3.4 passes only per-call kwargs to a legacy forward()
        chat_messages = _ollama_messages(messages or [{"role": "user", "content": prompt or ""}])
        options = {name: merged[key] for key, name in _OPTION_NAMES.items() if merged.get(key) is not None}
        fmt = "json" if merged.get("response_format") is not None else None
        log.debug("ollama chat model=%s messages=%d stream=%s", self.model, len(chat_messages), self.stream)
        with translated_errors(self.model):
            if self.stream:
                text, last = "", None
                for part in self._client.chat(self.model, chat_messages, stream=True, options=options, format=fmt):
                    text, last = text + (part.message.content or ""), part
            else:
                last = self._client.chat(self.model, chat_messages, stream=False, options=options, format=fmt)
                text = last.message.content or ""
        if last is None:
            raise LMUnavailable("bad-response", "the stream ended before any message")
        return _openai_shape(text, last, self.model)

    async def aforward(self, prompt: str | None = None, messages: list[dict] | None = None, **kwargs: Any):
        """The same call on a worker thread: the sync client keeps one error boundary for both paths."""
        return await asyncio.to_thread(self.forward, prompt, messages, **kwargs)


def ollama_lm(settings: Settings, *, stream: bool = False, timeout_s: float | None = None) -> OllamaLM:
    """The configured model at the configured server, with the timeout from the environment unless given."""
    timeout = llm_timeout_s() if timeout_s is None else timeout_s
    return OllamaLM(settings.ollama_model, settings.ollama_base_url, timeout_s=timeout, stream=stream)


def _ollama_messages(messages: list[dict]) -> list[dict[str, str]]:
    """Ollama takes plain-text content; DSPy may send OpenAI content parts, whose text parts are joined."""
    out = []
    for message in messages:
        content = message.get("content") or ""
        if not isinstance(content, str):
            content = "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        out.append({"role": message.get("role", "user"), "content": content})
    return out


def _openai_shape(text: str, last: ollama.ChatResponse, model: str) -> SimpleNamespace:
    prompt_tokens, completion_tokens = last.prompt_eval_count or 0, last.eval_count or 0
    message = SimpleNamespace(role="assistant", content=text, tool_calls=None)
    return SimpleNamespace(
        model=last.model or model,
        choices=[SimpleNamespace(index=0, message=message, finish_reason=last.done_reason or "stop")],
        usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
               "total_tokens": prompt_tokens + completion_tokens},
    )
