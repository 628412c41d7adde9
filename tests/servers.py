"""Where integration tests get their servers: one swappable layer, selected by GIBSEY_TEST_SERVERS.

Today the only provider is `localstack` (the project's own processes, started idempotently by
`localstack/up`). A testcontainers-backed provider can be added later behind the same `ServerProvider`
protocol; fixtures only ever see the `Settings` it returns (and the servers it hands out), never globals.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Protocol

from shared.config import HostPort, Settings

REPO = Path(__file__).resolve().parents[1]
LOCALSTACK = REPO / "localstack"


class SpareRabbitmq(Protocol):
    """A RabbitMQ of one test's own, beside the shared stack, that the test may stop to see an outage."""

    amqp_uri: str

    def stop(self) -> None:
        """Stop the server and make sure nothing of it keeps running; calling it again is a no-op."""


class ServerProvider(Protocol):
    name: str

    def start(self) -> Settings:
        """Make Kafka, Cassandra and RabbitMQ available and say where they are."""

    def stop(self) -> None:
        """Release what `start` acquired (a shared, long-lived stack may legitimately keep running)."""

    def spare_rabbitmq(self, workdir: Path) -> SpareRabbitmq:
        """Start a RabbitMQ separate from the shared one (state under `workdir`); the caller stops it."""


def _run(argv: list[str], env: Mapping[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=dict(env), capture_output=True, text=True, timeout=timeout)


def localstack_endpoints(env: Mapping[str, str], names: tuple[str, ...]) -> dict[str, HostPort]:
    """Where localstack runs each named server under `env`, as `localstack/status` reports it.

    Asking localstack (rather than re-reading KAFKA_PORT, CASSANDRA_PORT, AMQP_PORT ... here with defaults of
    our own) keeps one source for the ports: whatever `up` started on is what the tests connect to.
    """
    status = _run([str(LOCALSTACK / "status"), "--json", *names], env, timeout=60)
    try:
        rows = {row["name"]: row for row in json.loads(status.stdout)["servers"]}
    except (ValueError, KeyError, TypeError):
        raise RuntimeError(f"localstack/status --json gave no server list: {(status.stderr or status.stdout)[-2000:]}")
    endpoints = {}
    for name in names:
        row = rows.get(name)
        if row is None or not row["ok"]:
            raise RuntimeError(f"localstack/status: {name} is not healthy after up: {row}")
        host, _, port = row["endpoint"].rpartition(":")
        endpoints[name] = HostPort(host, int(port))
    return endpoints


class LocalstackRabbitmq:
    """A second RabbitMQ node from `localstack/up rabbitmq` with its own state dir, ports and node name."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.node = env["RABBITMQ_NODENAME"]
        self._running = True  # from here on: even a failed `up` may have left a node behind
        try:
            up = _run([str(LOCALSTACK / "up"), "rabbitmq"], env, timeout=300)
            if up.returncode != 0:
                raise RuntimeError(f"localstack/up rabbitmq failed: {(up.stderr or up.stdout).strip()}")
            self.amqp_uri = _amqp_uri(localstack_endpoints(env, ("rabbitmq",))["rabbitmq"])
        except BaseException:
            with suppress(Exception):
                self.stop()
            raise

    def stop(self) -> None:
        if not self._running:
            return
        down = _run([str(LOCALSTACK / "down"), "rabbitmq"], self.env, timeout=120)
        if down.returncode != 0:
            raise RuntimeError(f"localstack/down rabbitmq failed: {(down.stderr or down.stdout).strip()}")
        leftover = subprocess.run(["pgrep", "-f", self.node], capture_output=True, text=True)
        if leftover.stdout:
            raise RuntimeError(f"localstack/down left processes of {self.node} running: {leftover.stdout}")
        self._running = False


class LocalstackProvider:
    """The servers `localstack/up` runs on this machine; left running afterwards, like `make test` expects."""

    name = "localstack"
    SERVERS = ("kafka", "cassandra", "rabbitmq")

    def __init__(self, env: Mapping[str, str] | None = None):
        self.env = dict(os.environ if env is None else env)

    def start(self) -> Settings:
        """Start (or reuse) the stack, then point Settings at the ports it actually runs on; everything
        that is not a server address (Ollama, partition counts, ...) still comes from the environment."""
        up = _run([str(LOCALSTACK / "up")], self.env, timeout=900)
        if up.returncode != 0:
            raise RuntimeError(f"localstack/up failed: {(up.stderr or up.stdout).strip()}")
        where = localstack_endpoints(self.env, self.SERVERS)
        return replace(Settings.from_env(self.env), kafka_brokers=(where["kafka"],),
                       cassandra_hosts=(where["cassandra"],), amqp_uri=_amqp_uri(where["rabbitmq"]))

    def stop(self) -> None:
        return None

    def spare_rabbitmq(self, workdir: Path) -> LocalstackRabbitmq:
        port, dist_port = _free_port(), _free_port()
        return LocalstackRabbitmq({**self.env, "GIBSEY_STATE_DIR": str(workdir / "localstack"),
                                   "AMQP_PORT": str(port), "RABBITMQ_DIST_PORT": str(dist_port),
                                   "RABBITMQ_NODENAME": f"gibsey-it-{port}@localhost"})


def _amqp_uri(where: HostPort) -> str:
    """localstack's RabbitMQ lets guest/guest in over loopback (docs/LOCALSTACK.md)."""
    return f"amqp://guest:guest@{where}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PROVIDERS: dict[str, type] = {"localstack": LocalstackProvider}


def provider_from_env() -> ServerProvider:
    choice = os.environ.get("GIBSEY_TEST_SERVERS", "localstack")
    try:
        return PROVIDERS[choice]()
    except KeyError:
        raise RuntimeError(f"GIBSEY_TEST_SERVERS={choice!r}; known providers: {', '.join(PROVIDERS)}") from None
