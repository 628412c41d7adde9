"""Helpers for tests that run the pipeline as real processes: children with collected logs, an SSE reader."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DONE_WITHIN_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A child process whose stderr is collected, so a test can wait for a log line."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.lines: list[str] = []
        self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True)
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 60.0, *, unless: str | None = None) -> None:
        """Until a line contains `text` (and not `unless`), the process exits, or `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line and (unless is None or unless not in line) for line in self.lines):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"process exited ({self.proc.returncode}): {''.join(self.lines)[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"no {text!r} within {timeout}s: {''.join(self.lines)[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def function(name: str, env: dict[str, str]) -> Process:
    service = Process([str(BIN / "nameko"), "run", "--config", "functions/nameko.yaml",
                       f"functions.{name}.service"], {**env, "GIBSEY_SERVICE_NAME": name})
    try:
        # A consumer's first join can come before the broker has told it about the topic: it is then assigned
        # nothing, and gets its partitions on a later join. A consumer starting at "latest" would miss what
        # is produced in between, so wait for an assignment that holds partitions.
        service.wait_for("partitions assigned", unless='"partitions": []')
    except BaseException:
        service.stop()  # never leave a half-started child behind
        raise
    return service


class SseClient:
    """Reads an SSE stream in a thread; events (and comments) land in a queue as dicts."""

    def __init__(self, url: str, headers: dict[str, str] | None = None):
        self.events: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        threading.Thread(target=self._read, args=(url, headers or {}), daemon=True).start()

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            self._consume(url, headers)
        except httpx.HTTPError as exc:  # the server went away: the test sees a missing event, not a traceback
            self.events.put({"error": repr(exc)})

    def _consume(self, url: str, headers: dict[str, str]) -> None:
        with httpx.Client(timeout=httpx.Timeout(60, read=None)) as http, http.stream("GET", url, headers=headers) as r:
            current: dict[str, str] = {}
            for line in r.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith(":"):
                    self.events.put({"comment": line[1:].strip()})
                elif not line:
                    if current:
                        self.events.put(current)
                    current = {}
                else:
                    field, _, value = line.partition(":")
                    current[field] = current.get(field, "") + value.lstrip()

    def next(self, event: str, timeout: float = DONE_WITHIN_S) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            item = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if item.get("event") == event:
                return item

    def close(self) -> None:
        self._stop.set()





def stream(gateway: str, session: str, last_event_id: str | None = None) -> SseClient:
    client = SseClient(f"{gateway}/api/v1/event/stream?session_id={session}",
                       {"Last-Event-ID": last_event_id} if last_event_id else None)
    client.next("connection", timeout=15)  # sent once the gateway's Kafka tail is positioned
    return client


def post_symbol(gateway: str, session: str, code: int, page_id: str | None = None) -> str:
    body = {"session_id": session, "symbol_code": code, **({"page_id": page_id} if page_id else {})}
    resp = httpx.post(f"{gateway}/api/v1/event/ui/symbol", json=body, timeout=30)
    assert resp.status_code == 202, resp.text
    return resp.json()["event_id"]
