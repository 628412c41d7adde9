"""Finds a Java runtime: $JAVA_HOME first, then the distro's Java 17, then PATH."""
from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess

from .errors import StackError
from .settings import Settings


@functools.cache
def java_major(java: str) -> int | None:
    """Major version from ``java -version`` (e.g. 17), or None if it does not run."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def candidates(settings: Settings) -> list[str]:
    found: list[str] = []
    home = settings.env.get("JAVA_HOME")
    if home:
        found.append(os.path.join(home, "bin", "java"))
    found.extend(sorted(glob.glob("/usr/lib/jvm/java-17-openjdk*/bin/java")))
    on_path = shutil.which("java")
    if on_path:
        found.append(on_path)
    return list(dict.fromkeys(found))


def find_java(settings: Settings, allowed: frozenset[int] | None = None) -> tuple[str, int]:
    """First Java 17+ runtime (restricted to ``allowed`` majors when given)."""
    seen: list[str] = []
    for java in candidates(settings):
        major = java_major(java)
        seen.append(f"{java} ({major or 'unusable'})")
        if major is not None and major >= 17 and (allowed is None or major in allowed):
            return java, major
    want = "Java " + "/".join(map(str, sorted(allowed))) if allowed else "Java 17+"
    raise StackError(f"no {want} runtime found (tried {', '.join(seen) or 'nothing'}); set JAVA_HOME")
