"""One line per step, stamped with seconds since the command started.

Servers start in parallel threads, so printing goes through a lock.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Reporter:
    """Prints ``[  12.3s] kafka: message`` lines; quiet mode for --json output."""

    def __init__(self, stream: TextIO = sys.stdout, quiet: bool = False) -> None:
        self.start = time.monotonic()
        self._stream = stream
        self._quiet = quiet
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def say(self, name: str, message: str) -> None:
        if self._quiet:
            return
        with self._lock:
            print(f"[{self.elapsed():6.1f}s] {name}: {message}", file=self._stream, flush=True)
