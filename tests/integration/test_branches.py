"""Branch bookkeeping on real Cassandra, through the page generator's own logic (`complete`, `generate`) with
the canon composer: a branch closes once however many of its deep pages return, forks are limited by
conditional fork slots even when the counters lag, and a redelivered request reuses its first placement.
Each test has a section of its own (the book is 3 pages per character; sections 11-13 are used only here)."""

from __future__ import annotations

import uuid

import pytest

from functions.enricher.enrich import enrich
from functions.page_generator.generate import complete, generate
from shared.events import Envelope, SymbolSelected
from shared.qdpi.composer import compose_from_canon
from shared.storage.pipeline import PipelineStore, generated_page_id
from shared.symbols import behaviour_by_notation, encode

pytestmark = pytest.mark.integration
CONSUMER = "page_generator"


@pytest.fixture
def store(cassandra_session, stack_settings, book):
    return PipelineStore(cassandra_session, stack_settings.cassandra_keyspace)


def request(store, char: int, notation: str, page_id: str):
    selected = Envelope.wrap(SymbolSelected(symbol_code=encode(char, behaviour_by_notation(notation).index),
                                            page_id=page_id), session_id=f"b-{uuid.uuid4().hex[:8]}")
    return enrich(selected, store)


def write(store, char: int, notation: str, page_id: str):
    _, page, _ = complete(request(store, char, notation, page_id), store, compose_from_canon, CONSUMER)
    return page


def counters(session, ks: str, section: int) -> tuple[int, int]:
    """As stored (not clamped like `PipelineStore.counters`)."""
    row = session.execute(f"SELECT open_branches, return_debt FROM {ks}.section_counters WHERE section = %s",
                          (section,)).one()
    return (row.open_branches or 0, row.return_debt or 0) if row else (0, 0)


def test_a_branch_closes_once_however_many_of_its_deep_pages_return(store, cassandra_session, stack_settings):
    ks = stack_settings.cassandra_keyspace
    fork = write(store, 10, "ZP", "S11-P0031")
    second = write(store, 10, "XC", fork.page_id)
    deep = [write(store, 10, "XC", second.page_id) for _ in range(2)]  # two leaves at MAX_BRANCH_DEPTH
    assert [p.branch_depth for p in (fork, second, *deep)] == [1, 2, 3, 3]
    assert counters(cassandra_session, ks, 11) == (1, 1)
    assert [h.holder for h in store.branches.slot_holders(11)] == [fork.page_id]

    homes = [write(store, 10, "XC", leaf.page_id) for leaf in deep]
    assert [(h.trajectory, h.branch_depth) for h in homes] == [("T1", 0), ("T1", 0)]
    assert all(store.edges(h.page_id) == {"LOOP": ["S11-P0031"]} for h in homes)
    assert counters(cassandra_session, ks, 11) == (0, 0)  # closed once, not once per returning page (-1 before)
    assert store.branches.slot_holders(11) == []
    assert store.branches.close_state(fork.page_id) == f"closed {homes[0].page_id}"

    # the limit holds afterwards: two new forks, the third refused (a -1 too many let a third through)
    again = [write(store, 10, "ZS", f"S11-P00{n}") for n in (31, 32, 33)]
    assert [p.trajectory for p in again] == ["T2", "T2", "T0"]
    assert counters(cassandra_session, ks, 11) == (2, 2)


def test_forks_decided_before_any_counter_moved_still_get_at_most_two_slots(store, cassandra_session,
                                                                             stack_settings):
    requests = [request(store, 11, "ZP", f"S12-P00{n}") for n in (34, 35, 36)]
    assert all(r.payload.trajectory_hint.value == "T2" for r in requests)  # the counters all read 0
    pages = [generate(r, store, compose_from_canon)[0] for r in requests]  # placed and written, not yet counted
    assert [p.trajectory for p in pages] == ["T2", "T2", "T0"]
    assert "fork slots of section 12" in pages[2].validation["placement"]
    assert sorted(h.holder for h in store.branches.slot_holders(12)) == sorted(p.page_id for p in pages[:2])


class CrashBeforeThePage(PipelineStore):
    """Dies after the edges are written and before the page row, like a generator killed in between."""

    def _insert_page(self, page, created):
        raise RuntimeError("killed between the edges and the page")


def test_a_redelivered_request_reuses_its_first_placement(store, cassandra_session, stack_settings):
    ks = stack_settings.cassandra_keyspace

    def generated_from(page_id):  # the locus's edges to generated pages (its canon NEXT aside)
        return {kind: targets for kind, targets in store.edges(page_id).items() if kind != "NEXT"}

    fork_request = request(store, 12, "ZP", "S13-P0037")
    page_id = generated_page_id(str(fork_request.event_id))
    with pytest.raises(RuntimeError, match="killed"):
        generate(fork_request, CrashBeforeThePage(cassandra_session, ks), compose_from_canon)
    assert store.page(page_id) is None and generated_from("S13-P0037") == {"FORK": [page_id]}

    bump = f"UPDATE {ks}.section_counters SET open_branches = open_branches + %s, return_debt = return_debt + %s " \
           f"WHERE section = 13"
    cassandra_session.execute(bump, (2, 2))  # meanwhile the counters say no more forks: a recomputation differs
    try:
        _, page, new = complete(fork_request, store, compose_from_canon, CONSUMER)
    finally:
        cassandra_session.execute(bump, (-2, -2))
    assert new and page.page_id == page_id and page.trajectory == "T2"
    assert generated_from("S13-P0037") == {"FORK": [page_id]}  # no MIRROR beside the stale FORK
    assert store.edges(page_id) == {}  # and no NEXT from the new page
