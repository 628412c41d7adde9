"""Where integration tests get their servers: one swappable layer, selected by GIBSEY_TEST_SERVERS.

Today the only provider is `localstack` (the project's own processes, started idempotently by
`localstack/up`). A testcontainers-backed provider can be added later behind the same `ServerProvider`
protocol; fixtures only ever see the `Settings` it returns, never globals.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Protocol

from shared.config import Settings

REPO = Path(__file__).resolve().parents[1]


class ServerProvider(Protocol):
    name: str

    def start(self) -> Settings:
        """Make Kafka, Cassandra and RabbitMQ available and say where they are."""

    def stop(self) -> None:
        """Release what `start` acquired (a shared, long-lived stack may legitimately keep running)."""


class LocalstackProvider:
    """The servers `localstack/up` runs on this machine; left running afterwards, like `make test` expects."""

    name = "localstack"

    def start(self) -> Settings:
        result = subprocess.run([str(REPO / "localstack" / "up")], capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise RuntimeError(f"localstack/up failed: {(result.stderr or result.stdout).strip()}")
        return Settings.from_env()

    def stop(self) -> None:
        return None


PROVIDERS: dict[str, type] = {"localstack": LocalstackProvider}


def provider_from_env() -> ServerProvider:
    choice = os.environ.get("GIBSEY_TEST_SERVERS", "localstack")
    try:
        return PROVIDERS[choice]()
    except KeyError:
        raise RuntimeError(f"GIBSEY_TEST_SERVERS={choice!r}; known providers: {', '.join(PROVIDERS)}") from None
