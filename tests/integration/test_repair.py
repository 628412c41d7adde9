"""`gibsey repair` against real Cassandra: a half-written branch (edges, no page), unapplied counters, a
branch that came home unclosed, stale fork slots; edges younger than the grace period are left alone."""

import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from functions.page_generator.generate import complete
from shared.events import Envelope, PageRequested
from shared.qdpi.composer import compose_from_canon
from shared.storage.pipeline import NewPage, PipelineStore, generated_page_id
from shared.storage.repair import repair

pytestmark = pytest.mark.integration


@pytest.fixture
def keyspace(schema_keyspace) -> str:
    return schema_keyspace("repair").cassandra_keyspace


def _page(page_id: str, request_id: str) -> NewPage:
    return NewPage(page_id=page_id, section=4, char_hex=3, behaviour=13, symbol_code=0x3D, orientation="Z",
                   provenance="P", trajectory="T2", title="Fork", text="A page.", return_to="S04-P0010",
                   branch_root="S04-P0010", branch_depth=1, session_id="s", source_event_id=request_id,
                   author="canon-composer", validation={"style_ok": True, "continuity_score": 1.0,
                                                        "generator": "canon-composer",
                                                        "counters": {"pages_generated": 1, "open_branches": 1,
                                                                     "return_debt": 1}})


def _return(page_id: str, request_id: str, fork_id: str) -> NewPage:
    return replace(_page(page_id, request_id), trajectory="T1", title="Home", branch_root=None, branch_depth=0,
                   return_to=fork_id, validation={"style_ok": True, "continuity_score": 1.0,
                                                  "generator": "canon-composer", "counters": {"pages_generated": 1},
                                                  "closes": [fork_id]})


LATER = timedelta(minutes=2)  # past the default 60 s grace period


def test_repair_removes_dangling_edges_and_applies_missing_counters(cassandra_session, keyspace):
    store = PipelineStore(cassandra_session, keyspace)
    now = datetime.now(timezone.utc)
    # 1. crashed after the edges, before the page: a FORK to nowhere
    lost = str(uuid.uuid4())
    lost_page = generated_page_id(lost)
    store.write_page(_page(lost_page, lost), [("S04-P0010", "FORK", lost_page)], now)
    cassandra_session.execute(f"DELETE FROM {keyspace}.pages WHERE page_id = %s", (lost_page,))
    # 2. crashed after the page, before the claim and counters
    written = str(uuid.uuid4())
    store.write_page(_page(generated_page_id(written), written), [("S04-P0010", "FORK", generated_page_id(written))],
                     now)

    dry = repair(cassandra_session, keyspace, dry_run=True, now=now + LATER)
    assert dry.dangling_edges == [("S04-P0010", "FORK", lost_page)]
    assert dry.counters_applied == [generated_page_id(written)]
    assert store.counters(4).open_branches == 0  # a dry run changes nothing

    report = repair(cassandra_session, keyspace, now=now + LATER)
    assert len(report.dangling_edges) == 1 and len(report.counters_applied) == 1
    assert store.edges("S04-P0010") == {"FORK": [generated_page_id(written)]}
    assert (store.counters(4).open_branches, store.counters(4).return_debt) == (1, 1)
    assert repair(cassandra_session, keyspace, now=now + LATER).clean  # and a second run finds nothing
    assert (store.counters(4).open_branches, store.counters(4).return_debt) == (1, 1)


def test_edges_younger_than_the_grace_period_are_left_alone(cassandra_session, keyspace):
    store = PipelineStore(cassandra_session, keyspace)
    request_id = str(uuid.uuid4())
    page_id = generated_page_id(request_id)
    # edges just written, page not yet (the generator is between its two writes); the request's own
    # timestamp is old (a backlog), but the edges' write time is now
    store.write_page(_page(page_id, request_id), [("S04-P0011", "FORK", page_id)],
                     datetime.now(timezone.utc) - timedelta(hours=1))
    cassandra_session.execute(f"DELETE FROM {keyspace}.pages WHERE page_id = %s", (page_id,))

    young = repair(cassandra_session, keyspace)
    assert young.dangling_edges == [] and young.too_recent == 1
    assert store.edges("S04-P0011") == {"FORK": [page_id]}
    assert repair(cassandra_session, keyspace, grace_s=0.0).dangling_edges == [("S04-P0011", "FORK", page_id)]
    assert store.edges("S04-P0011") == {}


class PageWrittenDuringTheScan:
    """A session whose edge scan lets the generator finish a page first: after repair listed the pages, before
    it looks at that page's edges (the race the re-check before each delete is for)."""

    def __init__(self, session, write_page):
        self._session, self._write_page = session, write_page

    def execute(self, query, *args, **kwargs):
        if isinstance(query, str) and query.startswith("SELECT page_id, edge_type"):
            self._write_page()
        return self._session.execute(query, *args, **kwargs)

    def prepare(self, query):
        return self._session.prepare(query)


def test_a_page_written_while_repair_runs_keeps_its_edges(cassandra_session, keyspace):
    store = PipelineStore(cassandra_session, keyspace)
    request_id = str(uuid.uuid4())
    page_id = generated_page_id(request_id)
    page = _page(page_id, request_id)
    old = datetime.now(timezone.utc) - timedelta(hours=1)
    store.write_page(page, [("S04-P0012", "FORK", page_id)], old)
    cassandra_session.execute(f"DELETE FROM {keyspace}.pages WHERE page_id = %s", (page_id,))

    racing = PageWrittenDuringTheScan(cassandra_session, lambda: store.write_page(page, [], old))
    report = repair(racing, keyspace, grace_s=0.0)
    assert report.dangling_edges == []
    assert store.edges("S04-P0012") == {"FORK": [page_id]} and store.page(page_id) is not None


def test_repair_claims_under_the_generators_service_name(cassandra_session, keyspace, monkeypatch):
    monkeypatch.setenv("GIBSEY_RPC_PREFIX", "tq_")
    store = PipelineStore(cassandra_session, keyspace)
    request = Envelope.wrap(PageRequested(char_hex=3, behavior=13, symbol_code=0x3D, section=5,
                                          page_id="S05-P0013"), session_id="s")
    page_id = generated_page_id(str(request.event_id))
    store.write_page(replace(_page(page_id, str(request.event_id)), section=5), [], request.ts)
    # the generator wrote the page and died before claiming; repair applies the counters ...
    assert repair(cassandra_session, keyspace).counters_applied == [page_id]
    claimed = cassandra_session.execute(f"SELECT consumer FROM {keyspace}.processed_events WHERE event_id = %s",
                                        (str(request.event_id),)).all()
    assert [r.consumer for r in claimed] == ["tq_page_generator"]
    # ... and the redelivered request, handled by "tq_page_generator", must not apply them a second time
    complete(request, store, compose_from_canon, "tq_page_generator")
    row = cassandra_session.execute(f"SELECT open_branches, pages_generated FROM {keyspace}.section_counters "
                                    f"WHERE section = 5").one()
    assert (row.open_branches, row.pages_generated) == (1, 1)


def test_repair_closes_a_branch_that_came_home_and_frees_stale_slots(cassandra_session, keyspace):
    store = PipelineStore(cassandra_session, keyspace)
    now = datetime.now(timezone.utc)
    fork_request, home_request = str(uuid.uuid4()), str(uuid.uuid4())
    fork_id, home_id = generated_page_id(fork_request), generated_page_id(home_request)
    fork = replace(_page(fork_id, fork_request), section=6)
    assert store.branches.claim_fork_slot(6, fork_id) == 0
    store.write_page(fork, [("S04-P0010", "FORK", fork_id)], now)
    store.claim(fork_request, "page_generator", fork_id)
    store.bump(6, open_branches=1, return_debt=1, pages_generated=1)
    # the page that brings it home was written and counted, then the generator died before closing the branch
    store.write_page(replace(_return(home_id, home_request, fork_id), section=6),
                     [(fork_id, "MIRROR", home_id), (home_id, "LOOP", "S04-P0010")], now)
    store.claim(home_request, "page_generator", home_id)
    # and a slot held by a fork request that died before writing anything
    lost = generated_page_id(str(uuid.uuid4()))
    assert store.branches.claim_fork_slot(6, lost) == 1

    soon = repair(cassandra_session, keyspace, consumer="page_generator", dry_run=True)
    assert (soon.branches_closed, soon.slots_freed) == ([fork_id], [])  # the lost slot is still young
    report = repair(cassandra_session, keyspace, consumer="page_generator", now=now + timedelta(hours=1))
    assert report.branches_closed == [fork_id] and report.slots_freed == [(6, lost)]
    assert (store.counters(6).open_branches, store.counters(6).return_debt) == (0, 0)
    assert store.branches.slot_holders(6) == []
    again = repair(cassandra_session, keyspace, consumer="page_generator", now=now + timedelta(hours=1))
    assert again.clean and (store.counters(6).open_branches, store.counters(6).return_debt) == (0, 0)
