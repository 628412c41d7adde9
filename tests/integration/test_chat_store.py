"""ChatStore's cluster notes against Cassandra: the note a turn draws on follows the published summary run."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

pytestmark = pytest.mark.integration


def _note(run_id: str, cluster_id: int, pages: tuple[str, ...]):
    from shared.summaries.model import ClusterSummary

    return ClusterSummary(cluster_id, run_id, pages[0], pages, tuple(f"p.{p}" for p in pages), ("tower",),
                          f"note {cluster_id} of {run_id}", "extractive", datetime.now(timezone.utc))


@pytest.fixture
def stores(schema_keyspace, cassandra_session):
    from shared.storage.chat import ChatStore
    from shared.summaries.store import SummaryStore

    keyspace = schema_keyspace("chatnotes").cassandra_keyspace
    return ChatStore(cassandra_session, keyspace), SummaryStore(cassandra_session, keyspace)


def test_cluster_note_follows_the_published_run(stores):
    chat, summaries = stores
    note = lambda page: asyncio.run(chat.cluster_note(page))  # noqa: E731
    assert note("S11-P0440") is None  # no run yet

    summaries.write_rows([_note("run-1", 0, ("S11-P0440", "S11-P0441")), _note("run-1", 1, ("S02-P0010",))])
    assert note("S11-P0440") is None  # written but not published: invisible
    summaries.publish("run-1", clusters=2, pages=3, generator="extractive", duration_ms=1.0)
    assert note("S11-P0441")["summary"] == "note 0 of run-1"
    assert note("S02-P0010")["cluster_id"] == 1
    assert note("S16-P0700") is None  # a page the run does not cover

    summaries.write_rows([_note("run-2", 0, ("S02-P0010", "S11-P0440"))])
    summaries.publish("run-2", clusters=1, pages=2, generator="extractive", duration_ms=1.0)
    assert note("S11-P0440")["summary"] == "note 0 of run-2"  # the new run, not the cached old one
    assert note("S11-P0441") is None
