"""The one exception type the CLI turns into a single line of output."""
from __future__ import annotations

from pathlib import Path


class StackError(Exception):
    """A failure with a reason a human can act on, and the log that explains it."""

    def __init__(self, reason: str, log: Path | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.log = log

    def line(self, name: str) -> str:
        """``name: reason; read <log>`` - the whole failure report, on one line."""
        text = f"{name}: {self.reason}"
        return f"{text}; read {self.log}" if self.log else text
