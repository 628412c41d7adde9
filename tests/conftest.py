"""Fixtures shared by every suite. Server fixtures come from tests/servers.py and yield settings only."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Iterator

import pytest

from shared.config import Settings
from tests.servers import ServerProvider, provider_from_env

pytest_plugins = ["tests.doubles.ollama"]  # the `ollama_double` fixture (an Ollama-protocol TEST DOUBLE)


@pytest.fixture(scope="session")
def server_provider() -> ServerProvider:
    """The swappable server layer (tests/servers.py); a test needing a server of its own asks it, not localstack."""
    return provider_from_env()


@pytest.fixture(scope="session")
def stack_settings(server_provider: ServerProvider) -> Iterator[Settings]:
    """Connection settings for live servers, with a keyspace of this test session's own."""
    settings = server_provider.start()
    # A keyspace of this test session's own, and the "test." topic namespace, so a developer's `make run`
    # on the same servers never sees test traffic (and tests never see theirs); RPC service names get a
    # prefix of this session's own for the same reason (shared/rpc.py).
    tag = uuid.uuid4().hex[:8]
    yield replace(settings, cassandra_keyspace=f"gibsey_test_{tag}", topic_prefix="test.", rpc_prefix=f"t{tag}_")
    server_provider.stop()


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


@pytest.fixture(scope="session")
def book(cassandra_session, stack_settings, schema_applied, tmp_path_factory):
    """The session keyspace holding a small book: 3 pages for each of the 16 characters (48 pages)."""
    from shared.canon import load_corpus
    from shared.canon.ingest import ingest
    from tests.corpus_builder import page_entries, write_corpus

    corpus = load_corpus(write_corpus(tmp_path_factory.mktemp("book"), page_entries(per_character=3)))
    ingest(cassandra_session, stack_settings.cassandra_keyspace, corpus)
    return corpus


@pytest.fixture(scope="session")
def topics_ready(stack_settings):
    from shared.bus.admin import ensure_topics

    return ensure_topics(stack_settings)
