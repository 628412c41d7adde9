"""One entry point for page generation: the LLM program when Ollama answers, the canon composer otherwise.

Every page says which writer produced it (`generator`); a page from the composer carries the reason the
LLM was not used in `notes["fallback"]`. Reachability is probed at most once per ~30 s per process and
server/model, so a down LLM costs one probe, not one per page.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

from dspy.utils.exceptions import DSPyError

from shared.config import Settings
from shared.qdpi.composer import compose_from_canon
from shared.qdpi.contract import GeneratedPage, GenerationRequest
from shared.qdpi.lm import LMUnavailable, lm_reachable, ollama_lm
from shared.qdpi.program import EmptyGeneration, run_program

log = logging.getLogger("gibsey.qdpi")

REACHABILITY_TTL_S = 30.0
PROBE_TIMEOUT_S = 2.0

# The one piece of process state: (base_url, model) -> (checked at, reachable, why). The lock is held while
# probing, so concurrent workers wait for one probe instead of each sending their own.
_reachability: dict[tuple[str, str], tuple[float, bool, str]] = {}
_reachability_lock = threading.Lock()


def write_page(request: GenerationRequest, settings: Settings) -> GeneratedPage:
    """Generate one page; never raises for an unavailable or unintelligible LLM (it falls back instead)."""
    reachable, why = llm_status(settings)
    if not reachable:
        return _fallback(request, why)
    lm = ollama_lm(settings)
    try:
        return run_program(request, lm)
    except LMUnavailable as exc:
        _remember(settings, False, str(exc))
        return _fallback(request, str(exc))
    except EmptyGeneration as exc:
        return _fallback(request, f"empty-output: {exc}")
    except DSPyError as exc:  # AdapterParseError and kin: the model answered outside the expected fields
        return _fallback(request, f"parse-error: {type(exc).__name__}: {_first_line(exc)}")
    finally:
        lm.close()


def llm_status(settings: Settings, now: float | None = None) -> tuple[bool, str]:
    """The cached answer of `lm_reachable` for these settings, probing again once it is older than the TTL."""
    key = (settings.ollama_base_url, settings.ollama_model)
    with _reachability_lock:
        clock = time.monotonic() if now is None else now
        cached = _reachability.get(key)
        if cached and clock - cached[0] < REACHABILITY_TTL_S:
            return cached[1], cached[2]
        reachable, why = lm_reachable(settings, timeout=min(PROBE_TIMEOUT_S, settings.health_timeout_s))
        _reachability[key] = (clock, reachable, why)
    log.info("llm probe %s model=%s reachable=%s (%s)", key[0], key[1], reachable, why)
    return reachable, why


def reset_reachability_cache() -> None:
    """Forget every probe result (tests, or an operator who just started Ollama)."""
    with _reachability_lock:
        _reachability.clear()


def _remember(settings: Settings, reachable: bool, why: str) -> None:
    """A call that failed after a good probe marks the LLM down too, so the next pages skip it for a while."""
    with _reachability_lock:
        _reachability[(settings.ollama_base_url, settings.ollama_model)] = (time.monotonic(), reachable, why)


def _fallback(request: GenerationRequest, reason: str) -> GeneratedPage:
    log.warning("canon composer for event %s: %s", request.request_event_id, reason)
    page = compose_from_canon(request)
    return replace(page, notes={**page.notes, "fallback": reason})


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""
