"""Fixtures for the live-process pipeline tests: the environment every child process gets, and a gateway."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Callable, Iterator

import pytest

from shared.config import Settings
from tests.env import child_env
from tests.integration.flow_support import BIN, Process, free_port


@pytest.fixture(scope="module")
def env(stack_settings, book, topics_ready) -> dict[str, str]:
    """The session's settings (tests/env.py) plus what the pipeline flows tune for speed and isolation."""
    return child_env(
        stack_settings,
        OLLAMA_BASE_URL=f"http://127.0.0.1:{free_port()}",  # nothing listens: the canon composer writes
        GIBSEY_CONSUMER_GROUP_PREFIX=f"flow-{uuid.uuid4().hex[:8]}-",
        GIBSEY_CONSUMER_OFFSET_RESET="latest",
        GIBSEY_SSE_HEARTBEAT_S="1",
        GIBSEY_RETRY_BACKOFF_S="0.2",
        GIBSEY_HTTP_WORKERS="1",
    )


@pytest.fixture(scope="module")
def gateway(env) -> Iterator[str]:
    port = free_port()
    proc = Process([str(BIN / "gunicorn"), "-c", "gateway/gunicorn_conf.py", "gateway.asgi:app"],
                   {**env, "GIBSEY_HTTP_PORT": str(port)})
    proc.wait_for("ASGI server listening")
    yield f"http://127.0.0.1:{port}"
    proc.stop()


def _own_keyspaces(cassandra_session, stack_settings: Settings) -> Iterator[Callable[[str], Settings]]:
    from shared.storage.schema import apply_schema

    made: list[str] = []

    def make(suffix: str) -> Settings:
        settings = replace(stack_settings, cassandra_keyspace=f"{stack_settings.cassandra_keyspace}_{suffix}")
        apply_schema(cassandra_session, settings)
        made.append(settings.cassandra_keyspace)
        return settings

    yield make
    for keyspace in made:
        cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")


@pytest.fixture
def schema_keyspace(cassandra_session, stack_settings) -> Iterator[Callable[[str], Settings]]:
    """`schema_keyspace(suffix)`: the test's settings on a keyspace of its own (the session's name plus
    `_suffix`) with every migration applied; dropped afterwards."""
    yield from _own_keyspaces(cassandra_session, stack_settings)


@pytest.fixture(scope="module")
def module_schema_keyspace(cassandra_session, stack_settings) -> Iterator[Callable[[str], Settings]]:
    """`schema_keyspace`, kept for the whole module (e.g. one canon ingest shared by its tests)."""
    yield from _own_keyspaces(cassandra_session, stack_settings)
