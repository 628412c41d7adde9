"""One ``up``/``down`` at a time per state dir.

Two concurrent ``up`` runs would both see a closed port, both start a server,
and the loser would overwrite the winner's pid file; an flock serialises them
(the second then finds the servers healthy and reuses them).
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterator

from .progress import Reporter


@contextmanager
def stack_lock(run_dir: Path, reporter: Reporter) -> Iterator[None]:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "stack.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            reporter.say("localstack", f"waiting for another localstack up/down (pid {holder}) to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
