"""localstack/up, down and status: the command-line front of the stack package.

Run as a script (``python3 localstack/stack/cli.py up``), so it puts the repo
root and localstack/ on sys.path itself; no venv or install step needed.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_LOCALSTACK = Path(__file__).resolve().parent.parent
for _path in (str(_LOCALSTACK.parent), str(_LOCALSTACK)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from shared.probes import probe_ollama  # noqa: E402
from stack.cassandra import Cassandra  # noqa: E402
from stack.cdc import Cdc  # noqa: E402
from stack import maven  # noqa: E402
from stack.errors import StackError  # noqa: E402
from stack.kafka import Kafka  # noqa: E402
from stack.lock import stack_lock  # noqa: E402
from stack.progress import Reporter  # noqa: E402
from stack.rabbitmq import RabbitMQ  # noqa: E402
from stack.server import Server  # noqa: E402
from stack.settings import Settings, load_settings  # noqa: E402

# Cassandra first: it is the slowest to boot, so it gets going before the others. The CDC agent
# (cdc) resolves its jars in parallel too, but only starts once Cassandra and Kafka are healthy.
SERVERS: dict[str, type[Server]] = {"cassandra": Cassandra, "kafka": Kafka, "rabbitmq": RabbitMQ, "cdc": Cdc}
ORDER = ("kafka", "cassandra", "rabbitmq", "cdc")  # display order


def build(names: list[str], settings: Settings, reporter: Reporter) -> list[Server]:
    unknown = [name for name in names if name not in SERVERS]
    if unknown:
        raise StackError(f"unknown server(s) {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    chosen = names or list(SERVERS)
    servers = [SERVERS[name](settings, reporter) for name in SERVERS if name in chosen]
    for server in servers:
        server.ports()  # surfaces a bad *_PORT variable now, as one line, not mid-thread
    return servers


def cmd_up(servers: list[Server], reporter: Reporter, settings: Settings) -> int:
    """Start (or reuse) every server in parallel, then report one line per failure."""
    reporter.say("up", f"state in {settings.state_dir}; timeout {settings.timeout:.0f}s per server")
    failures: dict[str, StackError] = {}
    lock = threading.Lock()

    # Cassandra boots slowest, so its jars are fetched first (SERVERS order).
    maven.TURNSTILE.expect([s.name for s in servers if s.uses_maven])
    finished = {server.name: threading.Event() for server in servers}
    for server in servers:
        if server.requires:
            server.gate = _gate(server, finished, failures, settings, reporter)

    def one(server: Server) -> None:
        try:
            server.up()
        except StackError as exc:
            with lock:
                failures[server.name] = exc
        except Exception as exc:  # noqa: BLE001 - one server's bug must not hide the others
            with lock:
                failures[server.name] = StackError(f"{type(exc).__name__}: {exc}", server.log_path)
        finally:
            maven.TURNSTILE.done(server.name)  # reused or failed early: never blocks the others
            finished[server.name].set()

    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        list(pool.map(one, servers))
    for server in servers:
        if server.name in failures:
            print(failures[server.name].line(server.name), file=sys.stderr)
    if failures:
        return 1
    reporter.say("up", f"{', '.join(s.name for s in servers)} healthy in {reporter.elapsed():.1f}s")
    return 0


def _gate(
    server: Server,
    finished: dict[str, threading.Event],
    failures: dict[str, StackError],
    settings: Settings,
    reporter: Reporter,
) -> Callable[[], None]:
    """Before ``server`` starts: wait for the servers it requires (those in this ``up``), or
    probe them (those not in it); raise if one of them is not healthy."""

    def gate() -> None:
        for name in server.requires:
            if name in finished:
                if not finished[name].is_set():
                    server.say(f"waiting for {name} to be healthy before starting")
                    finished[name].wait()
                if name in failures:
                    raise StackError(f"not started because {name} failed")
                continue
            probe = SERVERS[name](settings, reporter).probe(timeout=2.0)
            if not probe.ok:
                raise StackError(
                    f"needs {name} healthy first ({probe.detail}); run localstack/up {name} (or localstack/up)"
                )

    return gate


def cmd_down(servers: list[Server]) -> int:
    """Stop the servers whose pid files we wrote: first those that need others (the CDC agent),
    then the rest in parallel."""
    dependents = [s for s in servers if s.requires]
    others = [s for s in servers if not s.requires]
    results = [(s.name, _safe_down(s)) for s in dependents]
    if others:
        with ThreadPoolExecutor(max_workers=len(others)) as pool:
            results += list(pool.map(lambda s: (s.name, _safe_down(s)), others))
    for name, message in results:
        print(f"{name}: {message}")
    return 1 if any(message.startswith("error") for _, message in results) else 0


def _safe_down(server: Server) -> str:
    try:
        return server.down()
    except (StackError, OSError) as exc:
        return f"error: {exc}"


def cmd_status(servers: list[Server], settings: Settings, as_json: bool) -> int:
    """Probe everything (and Ollama) concurrently; exit 0 only if every server is healthy."""
    ollama_url = settings.get("OLLAMA_BASE_URL", "http://localhost:11434")
    with ThreadPoolExecutor(max_workers=len(servers) + 1) as pool:
        owners = list(pool.map(lambda s: s.ownership(), servers))
        ollama = probe_ollama(ollama_url, timeout=2.0)
    rows = []
    for server, owner in zip(servers, owners, strict=True):
        pinned = getattr(server, "version", None) or settings.versions.get("RABBITMQ_EXPECTED_VERSION")
        rows.append({
            **owner.probe.as_dict(),
            "endpoint": server.endpoint,
            "pid": owner.pid,
            "owner": "localstack" if owner.pid else ("external" if owner.probe.ok else None),
            "pinned": pinned,
            "log": str(server.log_path),
        })
    healthy = all(owner.probe.ok for owner in owners)
    if as_json:
        print(json.dumps({
            "healthy": healthy,
            "state_dir": str(settings.state_dir),
            "servers": rows,
            "ollama": {**ollama.as_dict(), "url": ollama_url},
        }, indent=2))
        return 0 if healthy else 1
    print(f"{'SERVER':<10} {'VERSION':<11} {'HEALTH':<13} {'LATENCY':>9}  {'OWNER':<12} {'ENDPOINT':<16} DETAIL")
    for row in rows:
        print(_status_line(row))
    print(_status_line({**ollama.as_dict(), "endpoint": ollama_url, "owner": "external", "pid": None,
                        "pinned": None}, unreachable="not reachable"))
    print(f"state {settings.state_dir}; logs in {settings.logs_dir}")
    return 0 if healthy else 1


def _status_line(row: dict[str, object], unreachable: str = "DOWN") -> str:
    ok = bool(row["ok"])
    version = str(row["version"] or "-")
    detail = str(row["detail"])
    pinned = row.get("pinned")
    if ok and pinned and row["version"] and not (
        str(pinned).startswith(version) or version.startswith(str(pinned))
    ):
        detail += f" [pinned {pinned}]"
    owner = f"pid {row['pid']}" if row.get("pid") else (str(row["owner"]) if ok else "-")
    latency = f"{row['latency_ms']:.1f} ms"
    health = "healthy" if ok else unreachable
    return f"{row['name']:<10} {version:<11} {health:<13} {latency:>9}  {owner:<12} {row['endpoint']!s:<16} {detail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("up", "start (or reuse) servers and wait until healthy"),
                       ("down", "stop the servers localstack started"),
                       ("status", "probe servers and Ollama")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("servers", nargs="*", metavar="server", help=f"subset of: {' '.join(ORDER)}")
        if name == "status":
            cmd.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        reporter = Reporter(quiet=getattr(args, "json", False))
        servers = build(args.servers, settings, reporter)
    except StackError as exc:
        print(exc.line("localstack"), file=sys.stderr)
        return 2
    if args.command == "up":
        try:
            with stack_lock(settings.run_dir, reporter):
                return cmd_up(servers, reporter, settings)
        except KeyboardInterrupt:
            print("localstack: interrupted; servers already started keep running (localstack/down stops them)",
                  file=sys.stderr)
            return 130
    if args.command == "down":
        with stack_lock(settings.run_dir, reporter):
            return cmd_down(servers)
    shown = sorted(servers, key=lambda s: ORDER.index(s.name))
    return cmd_status(shown, settings, args.json)


if __name__ == "__main__":
    sys.exit(main())
