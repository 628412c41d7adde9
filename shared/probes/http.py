"""HTTP health probe (urllib), used for Ollama and any other JSON-speaking service."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from .result import ProbeResult, ProtocolError, run_probe

MAX_BODY = 1 << 20
VERSION_PATH = "/api/version"


def probe_http(url: str, timeout: float = 2.0, name: str = "http") -> ProbeResult:
    """GET ``url``: any 2xx is healthy; a JSON ``{"version": ...}`` body gives the version.

    A bare base URL (no path, e.g. ``OLLAMA_BASE_URL``) is probed at ``/api/version``
    first, so Ollama reports its version; if that is a 404 the base URL itself is tried.
    """
    if urllib.parse.urlsplit(url).path in ("", "/"):
        first = _get(url.rstrip("/") + VERSION_PATH, timeout, name)
        if first.ok or not first.detail.startswith("HTTP 404"):
            return first
    return _get(url, timeout, name)


def probe_ollama(base_url: str, timeout: float = 2.0) -> ProbeResult:
    """Ollama: /api/version (has the version), falling back to /api/tags on older servers."""
    base = base_url.rstrip("/")
    result = _get(base + VERSION_PATH, timeout, "ollama")
    if result.ok or not result.detail.startswith("HTTP 404"):
        return result
    return _get(base + "/api/tags", timeout, "ollama")


def _get(url: str, timeout: float, name: str) -> ProbeResult:
    def check() -> tuple[bool, str | None, str]:
        request = urllib.request.Request(url, headers={"User-Agent": "gibsey-probe"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                status = resp.status
                body = resp.read(MAX_BODY)
        except urllib.error.HTTPError as exc:
            return False, None, f"HTTP {exc.code} {exc.reason}"
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, BaseException):
                raise reason from exc
            raise ProtocolError(str(reason)) from exc
        return True, _json_version(body), f"HTTP {status}"

    return run_probe(name, check)


def _json_version(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("version"), (str, int, float)):
        return str(data["version"])
    return None
