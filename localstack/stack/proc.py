"""Background processes with pid files, so ``down`` stops exactly what ``up`` started.

Each server runs in its own session (process group = its pid). The pid file
names that group; the child's environment carries a tag (name + state dir)
that we check in /proc before signalling, so a recycled pid is never killed.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from collections.abc import Mapping

TAG_VAR = "GIBSEY_LOCALSTACK_TAG"
ROTATE_BYTES = 20 << 20


def spawn(
    argv: list[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log: Path,
    pid_file: Path,
    tag: str,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` detached, stdout+stderr appended to ``log``, and record its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    rotate(log)
    with open(log, "ab") as out:
        out.write(f"\n===== localstack start {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(argv)}\n".encode())
        out.flush()
        child = subprocess.Popen(
            argv,
            env={**env, TAG_VAR: tag},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file.write_text(f"{child.pid}\n{tag}\n")
    return child


def rotate(log: Path) -> None:
    """Keep one previous generation once a log grows past 20 MB."""
    try:
        if log.stat().st_size > ROTATE_BYTES:
            log.replace(log.with_name(log.name + ".1"))
    except FileNotFoundError:
        pass


def read_pid(pid_file: Path, tag: str) -> int | None:
    """The live pid recorded in ``pid_file``, or None (a stale file is removed)."""
    try:
        lines = pid_file.read_text().split()
        pid = int(lines[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    if group_alive(pid) and _has_tag(pid, tag):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def _has_tag(pid: int, tag: str) -> bool:
    """Does process ``pid`` (or, if it already exited, any member of its group) carry our tag?"""
    wanted = f"{TAG_VAR}={tag}".encode()
    for member in [pid, *group_members(pid)]:
        try:
            if wanted in Path(f"/proc/{member}/environ").read_bytes().split(b"\0"):
                return True
        except OSError:
            continue
    return False


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``, from /proc."""
    members: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def group_alive(pgid: int) -> bool:
    return bool(group_members(pgid))


def stop_group(pgid: int, timeout: float) -> str:
    """SIGTERM the group, wait up to ``timeout``, then SIGKILL; returns how it ended."""
    if not _signal(pgid, signal.SIGTERM):
        return "already gone"
    if _wait_gone(pgid, timeout):
        return "stopped"
    _signal(pgid, signal.SIGKILL)
    _wait_gone(pgid, 10.0)
    return f"killed (did not stop within {timeout:.0f}s of SIGTERM)"


def _signal(pgid: int, sig: signal.Signals) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


def _wait_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return True
        time.sleep(0.2)
    return not group_alive(pgid)
