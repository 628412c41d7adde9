"""`gibsey repair` against real Cassandra: a half-written branch (edges, no page) and unapplied counters."""

import uuid
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from shared.storage.pipeline import NewPage, PipelineStore, generated_page_id
from shared.storage.repair import repair
from shared.storage.schema import apply_schema

pytestmark = pytest.mark.integration


@pytest.fixture
def keyspace(cassandra_session, stack_settings):
    settings = replace(stack_settings, cassandra_keyspace=f"{stack_settings.cassandra_keyspace}_repair")
    apply_schema(cassandra_session, settings)
    yield settings.cassandra_keyspace
    cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")


def _page(page_id: str, request_id: str) -> NewPage:
    return NewPage(page_id=page_id, section=4, char_hex=3, behaviour=13, symbol_code=0x3D, orientation="Z",
                   provenance="P", trajectory="T2", title="Fork", text="A page.", return_to="S04-P0010",
                   branch_root="S04-P0010", branch_depth=1, session_id="s", source_event_id=request_id,
                   author="canon-composer", validation={"style_ok": True, "continuity_score": 1.0,
                                                        "generator": "canon-composer",
                                                        "counters": {"pages_generated": 1, "open_branches": 1,
                                                                     "return_debt": 1}})


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

    dry = repair(cassandra_session, keyspace, dry_run=True)
    assert dry.dangling_edges == [("S04-P0010", "FORK", lost_page)]
    assert dry.counters_applied == [generated_page_id(written)]
    assert store.counters(4).open_branches == 0  # a dry run changes nothing

    report = repair(cassandra_session, keyspace)
    assert len(report.dangling_edges) == 1 and len(report.counters_applied) == 1
    assert store.edges("S04-P0010") == {"FORK": [generated_page_id(written)]}
    assert (store.counters(4).open_branches, store.counters(4).return_debt) == (1, 1)
    assert repair(cassandra_session, keyspace).clean  # and a second run finds nothing
    assert (store.counters(4).open_branches, store.counters(4).return_debt) == (1, 1)
