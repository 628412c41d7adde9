"""What every managed server shares: reuse-if-healthy, start, wait-for-probe, stop.

A server module only says how to prepare its files, which command to run and
how to probe it; the lifecycle rules live here so all servers behave alike.
"""
from __future__ import annotations

import errno
import re
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shared.probes import ProbeResult

from . import proc
from .errors import StackError
from .progress import Reporter
from .settings import Settings

POLL_SECONDS = 0.5
HINT = re.compile(r"\b(ERROR|FATAL|Error:|Exception|Invalid|Could not|cannot|failed)\b")


@dataclass(frozen=True)
class Launch:
    """How to start a server process."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path


@dataclass(frozen=True)
class Ownership:
    """Who runs the server on our port: us (with a pid), someone else, or nobody."""

    pid: int | None
    probe: ProbeResult

    @property
    def label(self) -> str:
        if self.pid is not None:
            return f"pid {self.pid}"
        return "external" if self.probe.ok else "-"


class Server(ABC):
    """One managed server; subclasses fill in the specifics."""

    name: str = ""
    protocol: str = ""  # for messages: "CQL probe", "ApiVersions probe", ...
    uses_maven: bool = False  # fetches its jars with Maven (serialised by maven.TURNSTILE)
    requires: tuple[str, ...] = ()  # servers that must be healthy before this one starts

    def __init__(self, settings: Settings, reporter: Reporter) -> None:
        self.settings = settings
        self.reporter = reporter
        # Called after prepare() and before the process starts; ``up`` sets it for servers with
        # ``requires`` (waits for them, raises StackError if one is not healthy).
        self.gate: Callable[[], None] | None = None

    # --- what subclasses provide -------------------------------------------------
    @property
    @abstractmethod
    def port(self) -> int: ...

    @abstractmethod
    def probe(self, timeout: float = 2.0) -> ProbeResult: ...

    @abstractmethod
    def ports(self) -> dict[str, int]:
        """Every port the server binds, keyed by the env var that sets it."""

    @abstractmethod
    def prepare(self) -> None:
        """Download, install, render config, format storage - whatever must precede start."""

    @abstractmethod
    def launch(self) -> Launch: ...

    def after_stop(self) -> list[str]:
        """Extra cleanup after the main process group is gone; returns messages."""
        return []

    # --- shared paths --------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.settings.logs_dir / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.settings.run_dir / f"{self.name}.pid"

    @property
    def home(self) -> Path:
        return self.settings.state_dir / self.name

    @property
    def tag(self) -> str:
        return f"{self.name}:{self.settings.state_dir}"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def say(self, message: str) -> None:
        self.reporter.say(self.name, message)

    def ownership(self, timeout: float = 2.0) -> Ownership:
        return Ownership(proc.read_pid(self.pid_file, self.tag), self.probe(timeout))

    # --- lifecycle -------------------------------------------------------------------
    def up(self) -> ProbeResult:
        """Ensure the server is healthy, starting it if needed; raises StackError."""
        owner = self.ownership()
        if owner.probe.ok:
            who = f"already running (pid {owner.pid})" if owner.pid else (
                f"reusing the server already on {self.endpoint} (not started by localstack; down leaves it)"
            )
            self.say(f"{who}, healthy, version {owner.probe.version}")
            return owner.probe
        if owner.pid is not None:
            self.say(f"pid {owner.pid} is running but not healthy yet ({owner.probe.detail}); waiting")
            return self._wait(None, time.monotonic(), self._log_size())
        if owner.probe.detail != "connection refused":
            raise StackError(
                f"port {self.port} is taken by something that fails the {self.protocol} "
                f"({owner.probe.detail}); stop it or set another port"
            )
        self._check_ports_free()
        self.prepare()
        if self.gate is not None:
            self.gate()
        launch = self.launch()
        proc.rotate(self.log_path)
        offset = self._log_size()
        started = time.monotonic()
        child = proc.spawn(
            launch.argv, env=launch.env, cwd=launch.cwd, log=self.log_path,
            pid_file=self.pid_file, tag=self.tag,
        )
        self.say(f"started pid {child.pid}; waiting for the {self.protocol} on {self.endpoint} (log {self.log_path})")
        return self._wait(child, started, offset)

    def _wait(self, child: subprocess.Popen[bytes] | None, started: float, offset: int) -> ProbeResult:
        """Poll the probe until healthy, the process dies, or the timeout passes."""
        deadline = started + self.settings.timeout
        last: ProbeResult | None = None
        while True:
            if child is not None and child.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise StackError(
                    f"exited with code {child.returncode} during startup{self._hint(offset)}", self.log_path
                )
            if child is None and proc.read_pid(self.pid_file, self.tag) is None:
                raise StackError(f"process exited while we waited{self._hint(offset)}", self.log_path)
            last = self.probe(timeout=2.0)
            if last.ok:
                self.say(f"healthy after {time.monotonic() - started:.1f}s, version {last.version}")
                return last
            if time.monotonic() >= deadline:
                raise StackError(
                    f"not healthy after {self.settings.timeout:.0f}s ({self.protocol}: {last.detail})",
                    self.log_path,
                )
            time.sleep(POLL_SECONDS)

    def _check_ports_free(self) -> None:
        for var, port in self.ports().items():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError as exc:
                    why = "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
                    raise StackError(f"port {port} ({var}) is {why}; free it or set {var}") from None

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _hint(self, offset: int) -> str:
        """The first error-looking line the server logged since ``offset``, as ": <line>"."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset if offset <= self._log_size() else 0)
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return ""
        for line in text.splitlines():
            if line.startswith("===== localstack start"):
                continue
            if HINT.search(line):
                return f" ({line.strip()[:180]})"
        return ""

    def down(self) -> str:
        """Stop the process group we started; never touches a server we did not start."""
        pid = proc.read_pid(self.pid_file, self.tag)
        if pid is None:
            extra = "".join(f"; {note}" for note in self.after_stop())
            if self.probe(timeout=1.0).ok:
                return f"not started by localstack; left the server on {self.endpoint} running{extra}"
            return f"not running{extra}"
        started = time.monotonic()
        how = proc.stop_group(pid, self.settings.stop_timeout)
        self.pid_file.unlink(missing_ok=True)
        notes = self.after_stop()
        extra = "".join(f"; {note}" for note in notes)
        return f"{how} pid {pid} in {time.monotonic() - started:.1f}s{extra}"
