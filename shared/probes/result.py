"""The one result type every probe returns, and the error-to-detail mapping they share.

Probes never raise: a health endpoint or a CLI wants a verdict, not a traceback.
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from collections.abc import Callable


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of one probe: ``ok`` means the server spoke its protocol correctly."""

    name: str
    ok: bool
    latency_ms: float
    version: str | None
    detail: str

    def as_dict(self) -> dict[str, object]:
        """Plain dict for JSON output (health endpoints, ``status --json``)."""
        return {
            "name": self.name,
            "ok": self.ok,
            "latency_ms": round(self.latency_ms, 1),
            "version": self.version,
            "detail": self.detail,
        }


class ProtocolError(Exception):
    """The peer answered, but not with what the protocol says it should."""


def describe_error(exc: BaseException) -> str:
    """Short, human detail for a failed probe ("connection refused", "timed out", ...)."""
    if isinstance(exc, ProtocolError):
        return f"unexpected reply: {exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host ({exc.strerror or exc})"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def run_probe(
    name: str, check: Callable[[], tuple[bool, str | None, str]]
) -> ProbeResult:
    """Time ``check`` and turn any exception into a failed :class:`ProbeResult`."""
    start = time.perf_counter()
    try:
        ok, version, detail = check()
    except Exception as exc:  # noqa: BLE001 - probes must never raise
        return ProbeResult(name, False, _ms_since(start), None, describe_error(exc))
    return ProbeResult(name, ok, _ms_since(start), version, detail)


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
