"""Overlapping summary runs against the live Cassandra: one writer per run_id (a lightweight-transaction
claim with a lease), and a pointer that moves only to a complete run and never back to an older one."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from shared.config import Settings
from shared.summaries.errors import RunBusy, RunIncomplete
from shared.summaries.model import ClusterSummary
from shared.summaries.run import summarise
from shared.summaries.settings import SummarySettings
from shared.summaries.store import SummaryStore
from tests.unit.summaries_support import write_demo_vectors

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 21, 3, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def keyspace(stack_settings: Settings, cassandra_session):
    """A keyspace of this module's own holding the demo corpus's quotes (hashed-word vectors: no model)."""
    from shared.storage.schema import apply_schema

    settings = replace(stack_settings, cassandra_keyspace=stack_settings.cassandra_keyspace + "_claims")
    apply_schema(cassandra_session, settings)
    write_demo_vectors(cassandra_session, settings.cassandra_keyspace)
    yield settings.cassandra_keyspace
    cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")


@pytest.fixture
def stores(cassandra_session, keyspace):
    """Two stores (two writers, as the function and the cron backup would be) on a pointer of this test's own."""
    scope = f"test-{uuid.uuid4().hex[:8]}"
    return (SummaryStore(cassandra_session, keyspace, scope, claim_wait_s=1.0),
            SummaryStore(cassandra_session, keyspace, scope, claim_wait_s=1.0))


def _rows(run_id: str, k: int) -> list[ClusterSummary]:
    return [ClusterSummary(c, run_id, f"S01-P{c:04d}", (f"S01-P{c:04d}",), (f"p.{c}",), ("tide",),
                           "word " * 220, "extractive", T0) for c in range(k)]


def test_two_overlapping_runs_of_one_run_id_write_it_once_and_both_see_it_published(stores):
    run_id = f"race-{uuid.uuid4().hex[:6]}"
    barrier, reports, errors = threading.Barrier(2), [], []

    def run(store: SummaryStore) -> None:
        barrier.wait()
        try:
            reports.append(summarise(store, SummarySettings(k=6), run_id=run_id, now=lambda: T0))
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(r.written for r in reports) == [False, True]  # one writer; the other found it complete
    assert all(r.visible for r in reports)
    pointer, rows = stores[0].latest()
    assert pointer.run_id == run_id and [r.cluster_id for r in rows] == list(range(6))
    assert stores[0].claim_of(run_id).state == "complete" and stores[0].claim_of(run_id).rows == 6


def test_a_run_held_by_another_writer_is_not_touched(stores):
    first, second = stores
    run_id = f"held-{uuid.uuid4().hex[:6]}"
    assert first._try_claim(run_id, "other-host:1:abc", "writing") is None  # a live writer, mid-run
    with pytest.raises(RunBusy, match="other-host:1:abc"):
        second.write_run(run_id, _rows(run_id, 3))
    assert second.latest()[1] == [] and second.pointer().run_id is None
    with pytest.raises(RunIncomplete):  # and the pointer refuses a run whose claim is not complete
        second.publish(run_id, clusters=3, pages=3, generator="extractive", duration_ms=1.0)
    assert second.pointer().run_id is None


def test_a_dead_writers_claim_is_taken_over_once_its_lease_ends(cassandra_session, keyspace, stores):
    store = stores[0]
    run_id = f"dead-{uuid.uuid4().hex[:6]}"
    cassandra_session.execute(f"INSERT INTO {keyspace}.summary_run_claims (run_id, owner, state, claimed_at) "
                              f"VALUES (%s, %s, %s, %s)",
                              (run_id, "gone:9:dead", "writing", datetime.now(timezone.utc) - timedelta(hours=1)))
    cassandra_session.execute(f"INSERT INTO {keyspace}.cluster_summaries (run_id, cluster_id, summary) "
                              f"VALUES (%s, %s, %s)", (run_id, 7, "left behind by the dead writer"))
    assert store.write_run(run_id, _rows(run_id, 3)) is True
    assert store.claim_of(run_id).state == "complete" and store.claim_of(run_id).owner != "gone:9:dead"
    assert store.publish(run_id, clusters=3, pages=3, generator="extractive", duration_ms=1.0)
    assert [r.cluster_id for r in store.latest()[1]] == [0, 1, 2]  # the dead writer's row 7 is gone


def test_the_pointer_never_flips_to_an_incomplete_run(cassandra_session, keyspace, stores):
    store, base = stores[0], f"base-{uuid.uuid4().hex[:6]}"
    assert store.write_run(base, _rows(base, 2))
    assert store.publish(base, clusters=2, pages=2, generator="extractive", duration_ms=1.0, started_at=T0)
    run_id = f"part-{uuid.uuid4().hex[:6]}"
    store.write_run(run_id, _rows(run_id, 3))
    cassandra_session.execute(f"DELETE FROM {keyspace}.cluster_summaries WHERE run_id = %s AND cluster_id = 1",
                              (run_id,))  # a row lost after completion
    with pytest.raises(RunIncomplete, match="2 of 3 rows"):
        store.publish(run_id, clusters=3, pages=3, generator="extractive", duration_ms=1.0,
                      started_at=T0 + timedelta(hours=1))
    with pytest.raises(RunIncomplete, match="never claimed"):
        store.publish("nobody-wrote-this", clusters=1, pages=1, generator="extractive", duration_ms=1.0,
                      started_at=T0 + timedelta(hours=1))
    assert store.pointer().run_id == base


def test_the_pointer_never_goes_back_to_a_run_that_started_earlier(cassandra_session, keyspace, stores):
    first, second = stores
    late = summarise(second, SummarySettings(k=4), run_id=f"late-{uuid.uuid4().hex[:6]}",
                     now=lambda: T0 + timedelta(minutes=30))
    assert late.visible
    early = summarise(first, SummarySettings(k=3), run_id=f"early-{uuid.uuid4().hex[:6]}", now=lambda: T0)
    assert early.written and not early.visible  # it finished last, but it read the book first
    pointer, rows = first.latest()
    assert pointer.run_id == late.run_id and len(rows) == 4
    assert first.claim_of(early.run_id) is None  # the loser's rows are dropped, under its claim
    assert cassandra_session.execute(f"SELECT * FROM {keyspace}.cluster_summaries WHERE run_id = %s",
                                     (early.run_id,)).one() is None
    newer = summarise(first, SummarySettings(k=3), run_id=f"newer-{uuid.uuid4().hex[:6]}",
                      now=lambda: T0 + timedelta(hours=24))
    assert newer.visible and first.pointer().run_id == newer.run_id
    assert first.pointer().previous_run_id == late.run_id
