"""The summarizer as a real Nameko service on the live stack (RabbitMQ, Cassandra, Kafka for its audit
record): `run_now` over RPC clusters the book and the run becomes the visible one."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from functions.summarizer.service import SummarizerService
from shared.summaries.store import SummaryStore
from tests.services.rag_support import delete_rpc_queue, own_service
from tests.unit.summaries_support import write_demo_vectors

pytestmark = pytest.mark.integration


@pytest.fixture
def summarizer(stack_settings, cassandra_session, run_services, topics_ready, monkeypatch):
    """The service under a name of this test's own, on a keyspace holding the demo corpus's quote vectors."""
    from shared.storage.schema import apply_schema

    settings = replace(stack_settings, cassandra_keyspace=f"{stack_settings.cassandra_keyspace}_sumrpc")
    apply_schema(cassandra_session, settings)
    pages = write_demo_vectors(cassandra_session, settings.cassandra_keyspace)
    monkeypatch.setenv("GIBSEY_SUMMARY_K", "4")
    monkeypatch.setenv("GIBSEY_SUMMARY_LLM", "off")
    monkeypatch.setenv("GIBSEY_SUMMARY_TZ", "UTC")  # the schedule is far from now: only run_now runs
    monkeypatch.setenv("GIBSEY_SUMMARY_AT", f"{datetime.now(timezone.utc) + timedelta(hours=12):%H:%M}")
    service = own_service(SummarizerService)
    try:
        with run_services(settings.nameko_config, service):
            with ClusterRpcProxy(settings.nameko_config, timeout=120) as cluster:
                yield cluster[service.name], SummaryStore(cassandra_session, settings.cassandra_keyspace), pages
    finally:
        delete_rpc_queue(stack_settings.amqp_uri, service.name)
        cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")


def test_run_now_over_rpc_makes_a_run_visible(summarizer):
    rpc, store, pages = summarizer
    assert store.pointer().run_id is None
    report = rpc.run_now()
    assert (report["clusters"], report["generator"], report["written"], report["visible"]) == (4, "extractive",
                                                                                            True, True)
    pointer, rows = store.latest()
    assert pointer.run_id == report["run_id"] and (pointer.clusters, pointer.pages) == (4, pages)
    assert [r.cluster_id for r in rows] == [0, 1, 2, 3] and all(200 <= r.words <= 300 for r in rows)
    again = rpc.run_now()  # the same book the same day: the same run, not rewritten
    assert (again["run_id"], again["written"], again["visible"]) == (report["run_id"], False, True)
