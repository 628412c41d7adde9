"""Fixtures shared by every suite. Server fixtures come from tests/servers.py and yield settings only."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Iterator

import pytest

from shared.config import Settings
from tests.servers import provider_from_env


@pytest.fixture(scope="session")
def stack_settings() -> Iterator[Settings]:
    """Connection settings for live servers, with a keyspace of this test session's own."""
    provider = provider_from_env()
    settings = provider.start()
    yield replace(settings, cassandra_keyspace=f"gibsey_test_{uuid.uuid4().hex[:8]}")
    provider.stop()


@pytest.fixture(scope="session")
def cassandra_session(stack_settings: Settings):
    from shared.storage.cassandra import close_session, open_session

    session = open_session(stack_settings)
    yield session
    session.execute(f"DROP KEYSPACE IF EXISTS {stack_settings.cassandra_keyspace}")
    close_session(session)


@pytest.fixture(scope="session")
def schema_applied(cassandra_session, stack_settings):
    """The session's keyspace with every migration applied; the report of that first apply."""
    from shared.storage.schema import apply_schema

    return apply_schema(cassandra_session, stack_settings)
