"""Where state lives and which env vars override ports, heaps and timeouts."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping

from shared.numbers import ascii_whole_number

from .errors import StackError
from .versions import load_versions

LOCALSTACK_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = LOCALSTACK_DIR.parent
TEMPLATES_DIR = LOCALSTACK_DIR / "templates"
DEFAULT_TIMEOUT = 180.0
DEFAULT_STOP_TIMEOUT = 60.0


@dataclass(frozen=True)
class Settings:
    """Everything a server module needs to know about its environment."""

    state_dir: Path
    cache_dir: Path
    versions: dict[str, str]
    env: Mapping[str, str] = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    stop_timeout: float = DEFAULT_STOP_TIMEOUT

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    def get(self, key: str, default: str) -> str:
        value = self.env.get(key, "").strip()
        return value or default

    def port(self, key: str, default: int) -> int:
        raw = self.get(key, str(default))
        value = ascii_whole_number(raw)
        if value is None or not 0 < value < 65536:
            raise StackError(f"{key}={raw!r} is not a TCP port number")
        return value

    def millis(self, key: str, default: int, minimum: int = 1, maximum: int | None = None) -> int:
        """A whole number of milliseconds in minimum..maximum from `key`, or `default` when it is unset."""
        raw = self.get(key, str(default))
        value = ascii_whole_number(raw)
        if value is None or value < minimum or (maximum is not None and value > maximum):
            span = f"{minimum}..{maximum}" if maximum is not None else f"at least {minimum}"
            raise StackError(f"{key} must be {span} (ms), got {raw!r}")
        return value

    def seconds(self, key: str, default: float) -> float:
        raw = self.get(key, str(default))
        try:
            value = float(raw)
        except ValueError:
            raise StackError(f"{key}={raw!r} is not a number of seconds") from None
        if value <= 0:
            raise StackError(f"{key}={raw!r} must be positive")
        return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """State under $GIBSEY_STATE_DIR or <repo>/.localstack; cache under its cache/ unless overridden."""
    env = dict(os.environ if env is None else env)
    state = Path(env.get("GIBSEY_STATE_DIR") or REPO_ROOT / ".localstack").expanduser().resolve()
    cache = Path(env.get("GIBSEY_CACHE_DIR") or state / "cache").expanduser().resolve()
    base = Settings(state, cache, load_versions(), env)
    return Settings(
        state,
        cache,
        base.versions,
        env,
        timeout=base.seconds("GIBSEY_STACK_TIMEOUT", DEFAULT_TIMEOUT),
        stop_timeout=base.seconds("GIBSEY_STOP_TIMEOUT", DEFAULT_STOP_TIMEOUT),
    )
