"""An Ollama-protocol TEST DOUBLE: a real HTTP server on 127.0.0.1 (stdlib http.server, a free port, a
thread) that speaks enough of Ollama's API for the real `ollama` client, over real HTTP, to talk to it.

Endpoints: GET /api/version, GET /api/tags (the configured models), POST /api/chat (one JSON reply, or
NDJSON in chunked transfer encoding when "stream": true) and POST /api/generate (non-streaming). It is not
a model: replies are scripted per test (`reply`: a string, or a callable given the request body). Controls
for failure: `models` without the requested one (404 with Ollama's JSON error), `delay_s` (a slow reply),
`fail_status` (e.g. 500), `cut_after_chunks` (a stream that breaks off), `chunk_delay_s` (one that trickles) and `stop()`. Every request is
recorded in `requests`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator, Mapping

import pytest

from shared.config import Settings

DEFAULT_MODEL = "llama3:8b-instruct-q4_K_M"
Reply = str | Callable[[dict], str]
_FIELD = re.compile(r"^\d+\. `(\w+)` \(([^)]*)\)", re.M)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    body: dict | None


class OllamaDouble:
    """TEST DOUBLE of an Ollama server; use as a context manager or through the `ollama_double` fixture."""

    def __init__(self, models: tuple[str, ...] = (DEFAULT_MODEL,), reply: Reply = "A reply from the double.",
                 *, version: str = "0.9.1", chunk_chars: int = 12) -> None:
        self.models = list(models)
        self.reply = reply
        self.version = version
        self.chunk_chars = chunk_chars
        self.delay_s = 0.0  # applies to /api/chat and /api/generate only, so the probe still succeeds
        self.fail_status: int | None = None  # likewise: /api/tags stays healthy, generation fails
        self.cut_after_chunks: int | None = None  # a streamed reply breaks off after this many pieces
        self.chunk_delay_s = 0.0  # a pause before each streamed piece after the first (a trickling model)
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._address: tuple[str, int] = ("127.0.0.1", 0)

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> "OllamaDouble":
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._address = self._server.server_address[:2]  # kept after stop(): the URL then refuses connections
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="ollama-double", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: later requests get connection refused. Sleeping replies are released."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> "OllamaDouble":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests read --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._address
        return f"http://{host}:{port}"

    def settings(self, model: str | None = None) -> Settings:
        return Settings().with_overrides(ollama_base_url=self.url, ollama_model=model or DEFAULT_MODEL)

    def bodies(self, path: str) -> list[dict]:
        with self._lock:
            return [r.body or {} for r in self.requests if r.path == path]

    def count(self, path: str) -> int:
        return len(self.bodies(path))

    # -- used by the handler ----------------------------------------------------------------------------
    def _record(self, method: str, path: str, body: dict | None) -> None:
        with self._lock:
            self.requests.append(Recorded(method, path, body))

    def _text_for(self, body: dict) -> str:
        return self.reply(body) if callable(self.reply) else self.reply


def _handler_for(double: OllamaDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # for chunked NDJSON; every reply closes its connection, so that a
        # stopped double has no kept-alive connection left that could still answer

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            double._record("GET", self.path, None)
            if self.path == "/api/version":
                self._json(200, {"version": double.version})
            elif self.path == "/api/tags":
                self._json(200, {"models": [_model_entry(m) for m in double.models]})
            else:
                self._json(404, {"error": "404 page not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            double._record("POST", self.path, body)
            if self.path not in ("/api/chat", "/api/generate"):
                return self._json(404, {"error": "404 page not found"})
            if double.delay_s and double._release.wait(double.delay_s):
                return  # stopped while sleeping
            if double.fail_status:
                return self._json(double.fail_status, {"error": "llama runner process has terminated"})
            model = body.get("model", "")
            if model not in double.models:
                return self._json(404, {"error": f'model "{model}" not found, try pulling it first'})
            text = double._text_for(body)
            if self.path == "/api/generate":
                return self._json(200, {**_done(model), "response": text})
            if body.get("stream", True):
                return self._stream(model, text)
            self._json(200, {**_done(model), "message": {"role": "assistant", "content": text}})

        def _stream(self, model: str, text: str) -> None:
            step = max(1, double.chunk_chars)
            parts = [text[i : i + step] for i in range(0, len(text), step)]
            lines = [{"model": model, "created_at": _NOW, "message": {"role": "assistant", "content": p},
                      "done": False} for p in parts]
            lines.append({**_done(model), "message": {"role": "assistant", "content": ""}})
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                for i, line in enumerate(lines):
                    if double.cut_after_chunks is not None and i == double.cut_after_chunks:
                        return  # the connection closes mid-reply, without the final chunk
                    if i and double.chunk_delay_s:
                        time.sleep(double.chunk_delay_s)
                    data = json.dumps(line).encode() + b"\n"
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _json(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


_NOW = "2025-01-01T00:00:00.000000Z"


def _done(model: str) -> dict:
    return {"model": model, "created_at": _NOW, "done": True, "done_reason": "stop", "total_duration": 1000,
            "prompt_eval_count": 11, "eval_count": 7}


def _model_entry(name: str) -> dict:
    return {"name": name, "model": name, "modified_at": "2025-01-01T00:00:00Z", "size": 4661224676,
            "digest": "0" * 64, "details": {"format": "gguf", "family": "llama", "parameter_size": "8.0B",
                                            "quantization_level": "Q4_K_M"}}


def dspy_reply(values: Mapping[str, str | Callable[[dict], str]] | None = None) -> Callable[[dict], str]:
    """A scripted reply in DSPy ChatAdapter format: reads the output fields the system message asks for and
    answers each `[[ ## field ## ]]` from `values` (a string or a callable of the request body), with a
    type-shaped default for the rest (JSON list/dict for list[...]/dict[...] fields)."""
    values = dict(values or {})

    def reply(body: dict) -> str:
        system = next((m["content"] for m in body.get("messages", []) if m.get("role") == "system"), "")
        outputs = system.split("Your output fields are:", 1)[-1].split("All interactions", 1)[0]
        parts = []
        for name, kind in _FIELD.findall(outputs):
            value = values.get(name)
            if callable(value):
                value = value(body)
            if value is None:
                value = '["lantern"]' if kind.startswith("list") else '{"lantern": 0.5}' if kind.startswith("dict") \
                    else f"{name} from the double"
            parts.append(f"[[ ## {name} ## ]]\n{value}\n")
        return "\n".join(parts) + "\n[[ ## completed ## ]]"

    return reply


@pytest.fixture
def ollama_double() -> Iterator[OllamaDouble]:
    """A running TEST DOUBLE of Ollama, stopped after the test."""
    with OllamaDouble() as double:
        yield double
