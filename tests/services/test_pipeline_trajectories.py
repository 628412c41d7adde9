"""The four trajectories and the policy, through the real page_generator service (RPC path), on the live
stack, asserting the edges and counters written. The book is 3 pages per character (tests/conftest.py)."""

from __future__ import annotations

import uuid

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from functions.enricher.service import EnricherService
from functions.page_generator.service import PageGeneratorService
from shared.symbols import behaviour_by_notation, encode

pytestmark = pytest.mark.integration


@pytest.fixture
def pipeline(stack_settings, book, run_services):
    config = {**stack_settings.nameko_config, "GIBSEY_CONSUMER_GROUP_PREFIX": f"test-{uuid.uuid4().hex[:6]}-"}
    with run_services(config, PageGeneratorService, EnricherService):
        with ClusterRpcProxy(config, timeout=60) as cluster:
            yield cluster


def code(char: int, notation: str) -> int:
    return encode(char, behaviour_by_notation(notation).index)


def run(pipeline, symbol_code, page_id=None, session=None, intent=""):
    done = pipeline.page_generator.run(symbol_code=symbol_code, session_id=session or f"t-{uuid.uuid4().hex[:8]}",
                                       page_id=page_id, user_intent=intent)
    assert done["type"] == "PageGenerated"
    return done["payload"]


def edges_of(session, ks, page_id):
    return sorted((r.edge_type, r.target_id) for r in session.execute(
        f"SELECT edge_type, target_id FROM {ks}.page_edges WHERE page_id = %s", (page_id,)))


def counters(session, ks, section):
    row = session.execute(f"SELECT open_branches, return_debt, pages_generated FROM {ks}.section_counters "
                          f"WHERE section = %s", (section,)).one()
    return tuple(v or 0 for v in row) if row else (0, 0, 0)


def test_t0_continuation_rejoins_the_ring(pipeline, cassandra_session, stack_settings):
    ks = stack_settings.cassandra_keyspace
    page = run(pipeline, code(2, "XC"), "S03-P0008")  # Glyph Marrow reads on from his page 8
    assert page["trajectory"] == "T0"
    assert page["character"] == "glyph-marrow"
    assert page["edges"] == {"next_within": "S03-P0009", "loop_back_to": None, "forks": []}
    assert edges_of(cassandra_session, ks, page["page_id"]) == [("NEXT", "S03-P0009")]
    assert ("MIRROR", page["page_id"]) in edges_of(cassandra_session, ks, "S03-P0008")
    assert page["validation"]["generator"] in ("canon-composer",) or page["validation"]["generator"].startswith("llm:")
    stored = cassandra_session.execute(f"SELECT section, symbol_code, trajectory, branch_depth, return_to, text "
                                       f"FROM {ks}.pages WHERE page_id = %s", (page["page_id"],)).one()
    assert (stored.section, stored.symbol_code, stored.trajectory, stored.branch_depth, stored.return_to) == (
        3, code(2, "XC"), "T0", 0, "S03-P0008")
    assert stored.text == page["text"]


def test_t1_loop_back_points_at_an_earlier_page(pipeline, cassandra_session, stack_settings):
    ks = stack_settings.cassandra_keyspace
    page = run(pipeline, code(3, "YC"), "S04-P0012")  # Index: look back from Phillip's last page
    assert page["trajectory"] == "T1"
    loop = page["edges"]["loop_back_to"]
    assert loop in ("S04-P0010", "S04-P0011", "S03-P0009")
    assert edges_of(cassandra_session, ks, page["page_id"]) == [("LOOP", loop)]
    assert ("MIRROR", page["page_id"]) in edges_of(cassandra_session, ks, "S04-P0012")


def test_t2_fork_opens_a_branch_and_counts_it(pipeline, cassandra_session, stack_settings):
    ks = stack_settings.cassandra_keyspace
    before = counters(cassandra_session, ks, 5)
    page = run(pipeline, code(4, "ZP"), "S05-P0013")  # Jacklyn receives in parallel: a fork
    assert page["trajectory"] == "T2"
    assert ("FORK", page["page_id"]) in edges_of(cassandra_session, ks, "S05-P0013")
    after = counters(cassandra_session, ks, 5)
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (1, 1, 1)
    depth = cassandra_session.execute(f"SELECT branch_root, branch_depth FROM {ks}.pages WHERE page_id = %s",
                                      (page["page_id"],)).one()
    assert (depth.branch_root, depth.branch_depth) == ("S05-P0013", 1)


def test_t3_a_branch_too_deep_returns_to_canon_as_t1(pipeline, cassandra_session, stack_settings):
    ks = stack_settings.cassandra_keyspace
    fork = run(pipeline, code(5, "ZP"), "S06-P0016")
    second = run(pipeline, code(5, "XC"), fork["page_id"])
    third = run(pipeline, code(5, "XC"), second["page_id"])
    depths = [cassandra_session.execute(f"SELECT branch_depth FROM {ks}.pages WHERE page_id = %s", (p["page_id"],))
              .one().branch_depth for p in (fork, second, third)]
    assert depths == [1, 2, 3]
    opened = counters(cassandra_session, ks, 6)
    home = run(pipeline, code(5, "ZP"), third["page_id"])  # even a fork request must go home now
    assert home["trajectory"] == "T1"
    assert home["edges"]["loop_back_to"] == "S06-P0016"
    # stored: the new page LOOPs back to the branch's canon root, and the deep page it was written from MIRRORs it
    assert edges_of(cassandra_session, ks, home["page_id"]) == [("LOOP", "S06-P0016")]
    assert edges_of(cassandra_session, ks, third["page_id"]) == [("MIRROR", home["page_id"])]
    assert ("FORK", home["page_id"]) not in edges_of(cassandra_session, ks, third["page_id"])
    row = cassandra_session.execute(f"SELECT trajectory, branch_root, branch_depth, return_to FROM {ks}.pages "
                                    f"WHERE page_id = %s", (home["page_id"],)).one()
    assert tuple(row) == ("T1", None, 0, third["page_id"])  # back on the canon: out of the branch
    closed = counters(cassandra_session, ks, 6)
    assert (closed[0] - opened[0], closed[1] - opened[1]) == (-1, -1)


def test_forks_are_refused_past_the_limit(pipeline, cassandra_session, stack_settings):
    ks = stack_settings.cassandra_keyspace
    results = [run(pipeline, code(6, "ZS"), f"S07-P00{n}") for n in (19, 20, 21)]
    assert [p["trajectory"] for p in results] == ["T2", "T2", "T0"]  # at most 2 open branches per section
    assert counters(cassandra_session, ks, 7)[:2] == (2, 2)


def test_a_request_delivered_twice_writes_one_page(pipeline, cassandra_session, stack_settings):
    ks = stack_settings.cassandra_keyspace
    from functions.page_generator.generate import complete
    from shared.events import Envelope, PageRequested
    from shared.storage.pipeline import PipelineStore
    from shared.qdpi.composer import compose_from_canon

    store = PipelineStore(cassandra_session, ks)
    request = Envelope.wrap(PageRequested(char_hex=7, behavior=0, symbol_code=0x70, section=8, page_id="S08-P0022"),
                            session_id="twice")
    before = counters(cassandra_session, ks, 8)
    first, _, new_first = complete(request, store, compose_from_canon, "page_generator")
    second, _, new_second = complete(request, store, compose_from_canon, "page_generator")
    assert (new_first, new_second) == (True, False)
    assert first == second  # the same done event, id and all
    after = counters(cassandra_session, ks, 8)
    assert after[2] - before[2] == 1  # counted once
