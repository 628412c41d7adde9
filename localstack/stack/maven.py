"""Resolves a server's runtime jars from Maven Central into the cache, once.

A directory counts as complete only when its marker matches the pom and the
versions it was resolved with; resolution goes to a temp dir that is renamed
into place, so an interrupted download never leaves a half-filled classpath.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterator

from .errors import StackError
from .progress import Reporter

MARKER = ".localstack-complete"


class Turnstile:
    """Maven runs one at a time (two mvn writing one ~/.m2 can corrupt it), in a set order.

    ``up`` puts Cassandra first because it boots slowest; a name that will never
    resolve (cache complete, or its thread failed early) must call ``done``.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[str] = []
        self._busy = False

    def expect(self, names: list[str]) -> None:
        with self._cond:
            self._queue = list(names)

    def done(self, name: str) -> None:
        with self._cond:
            if name in self._queue:
                self._queue.remove(name)
            self._cond.notify_all()

    @contextmanager
    def turn(self, name: str) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(
                lambda: not self._busy and (name not in self._queue or self._queue[0] == name)
            )
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
            self.done(name)


TURNSTILE = Turnstile()


def is_complete(pom: Path, properties: dict[str, str], dest: Path) -> bool:
    marker = dest / MARKER
    return marker.is_file() and marker.read_text() == _stamp(pom, properties)


def _stamp(pom: Path, properties: dict[str, str]) -> str:
    return json.dumps(
        {"pom_sha256": hashlib.sha256(pom.read_bytes()).hexdigest(), "properties": properties},
        sort_keys=True,
    )


def resolve(
    name: str,
    pom: Path,
    properties: dict[str, str],
    dest: Path,
    log: Path,
    reporter: Reporter,
) -> Path:
    """Make ``dest`` hold the pom's runtime jars; returns ``dest``."""
    stamp = _stamp(pom, properties)
    if is_complete(pom, properties, dest):
        TURNSTILE.done(name)
        return dest
    mvn = shutil.which("mvn")
    if mvn is None:
        TURNSTILE.done(name)
        raise StackError("mvn not found on PATH (apt-get install maven)")
    with TURNSTILE.turn(name):
        reporter.say(name, f"resolving jars with Maven into {dest}")
        started = time.monotonic()
        tmp = dest.with_name(dest.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        argv = [
            mvn, "-q", "-B", "-f", str(pom),
            *(f"-D{key}={value}" for key, value in properties.items()),
            "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={tmp}",
        ]
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as out:
            out.write(" ".join(argv) + "\n")
            out.flush()
            code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
        jars = sorted(tmp.glob("*.jar")) if tmp.is_dir() else []
        if code != 0 or not jars:
            raise StackError(f"Maven could not resolve the jars (exit {code}{_first_error(log)})", log)
        size = sum(jar.stat().st_size for jar in jars) / 1e6
        (tmp / MARKER).write_text(stamp)
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(dest)
        reporter.say(name, f"resolved {len(jars)} jars ({size:.0f} MB) in {time.monotonic() - started:.1f}s")
    return dest


def _first_error(log: Path) -> str:
    for line in log.read_text(errors="replace").splitlines():
        if "[ERROR]" in line:
            return ": " + line.replace("[ERROR]", "").strip()[:200]
    return ""
