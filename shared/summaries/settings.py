"""Summary settings from the environment (the same 12-factor rules as shared.config).

GIBSEY_SUMMARY_AT      HH:MM the nightly run starts (default 03:00)
GIBSEY_SUMMARY_TZ      IANA zone of that time (default: the machine's local zone)
GIBSEY_SUMMARY_K       clusters per run (default 48; fewer when the book has fewer pages)
GIBSEY_SUMMARY_SEED    k-means seed (default 7): the same book gives the same clusters
GIBSEY_SUMMARY_LLM     auto (DSPy through Ollama when it answers) | off (extractive only)
GIBSEY_SUMMARY_MAX_AGE_H  hours after which /health calls the last complete run "stale" (default 26: a
                       nightly run plus slack for a slow night or the 03:30 cron backup)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.config import ConfigError, whole_number

_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
SCOPE = "book"
DEFAULT_MAX_AGE_H = 26


def max_age_h_from_env(env: Mapping[str, str]) -> int:
    """GIBSEY_SUMMARY_MAX_AGE_H alone: the gateway needs it and none of the run's settings."""
    return whole_number(env, "GIBSEY_SUMMARY_MAX_AGE_H", DEFAULT_MAX_AGE_H, 1)


@dataclass(frozen=True)
class SummarySettings:
    at: str = "03:00"
    tz: str = ""
    k: int = 48
    seed: int = 7
    llm: str = "auto"
    max_age_h: int = DEFAULT_MAX_AGE_H

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "SummarySettings":
        at = env.get("GIBSEY_SUMMARY_AT", "").strip() or "03:00"
        if not _HH_MM.match(at):
            raise ConfigError(f"GIBSEY_SUMMARY_AT: {at!r} is not a time like 03:00")
        tz = env.get("GIBSEY_SUMMARY_TZ", "").strip()
        if tz:
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(f"GIBSEY_SUMMARY_TZ: {tz!r} is not an IANA time zone") from None
        llm = env.get("GIBSEY_SUMMARY_LLM", "").strip().lower() or "auto"
        if llm not in ("auto", "off"):
            raise ConfigError(f"GIBSEY_SUMMARY_LLM: {llm!r} must be auto or off")
        return cls(at, tz, whole_number(env, "GIBSEY_SUMMARY_K", 48, 1), whole_number(env, "GIBSEY_SUMMARY_SEED", 7, 0),
                   llm, max_age_h_from_env(env))

    @property
    def zone(self) -> ZoneInfo | None:
        return ZoneInfo(self.tz) if self.tz else None
