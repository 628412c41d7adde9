"""The whole RAG path with nothing hand-built: pages written with the Cassandra driver, their change events made
by the real Debezium agent from the commit log, then embedder -> quote vectors -> indexer -> shard -> retrieval.

The run's keyspace is `gibsey_test_<tag>_cdc` and its topic prefix `cdc.gibsey_test_<tag>_`, so the agent's
topic for the keyspace (`cdc.<keyspace>.pages`) is the one the embedder consumes (rag_support.cdc_names)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from shared.rag.shards import current_version
from tests.services.rag_support import (FRESH_WITHIN_S, TopicTail, cdc_names, delete_rpc_queue, drop_run, key_is,
                                        own_service, start_groups_at_end, wait_for, wait_until_captured)

pytestmark = pytest.mark.integration


@dataclass
class CdcRag:
    retrieval: Any  # RPC proxy of this run's own retrieval service
    session: Any  # a Cassandra session on the run's keyspace
    keyspace: str
    index_dir: Path
    cdc: TopicTail  # the agent's topic for the keyspace, read from before the test wrote anything

    def version(self, section: int) -> int:
        return current_version(self.index_dir, section)

    def vectors(self, page_id: str, section: int) -> tuple[int, int]:
        """(page_vectors rows, quote_vectors rows in `section`) of the page."""
        pages = self.session.execute(f"SELECT count(*) FROM {self.keyspace}.page_vectors WHERE page_id = %s",
                                     (page_id,)).one()[0]
        quotes = self.session.execute(f"SELECT count(*) FROM {self.keyspace}.quote_vectors WHERE section = %s "
                                      f"AND page_id = %s", (section, page_id)).one()[0]
        return pages, quotes

    def change(self, page_id: str, op: str) -> dict:
        """The agent's event for the page with this op (i, u, d), as it arrived on Kafka."""
        record = self.cdc.wait(lambda r: key_is(page_id)(r) and json.loads(r.value)["op"] == op, FRESH_WITHIN_S)
        assert record is not None, f"no '{op}' event for {page_id} on the CDC topic within {FRESH_WITHIN_S}s"
        return json.loads(record.value)


@pytest.fixture
def cdc_rag(stack_settings, run_services, tmp_path, monkeypatch):
    from nameko.standalone.rpc import ClusterRpcProxy

    from functions.embedder.service import EmbedderService
    from functions.indexer.service import IndexerService
    from functions.retrieval.service import RetrievalService
    from shared.bus.admin import ensure_topics
    from shared.storage.cassandra import close_session, open_session
    from shared.storage.schema import apply_schema
    from shared.topics import CDC_PAGES, INDEX_UPDATE

    tag = uuid.uuid4().hex[:8]
    keyspace, prefix = cdc_names(tag)
    settings = replace(stack_settings, cassandra_keyspace=keyspace, topic_prefix=prefix)
    group_prefix, bootstrap = f"cdc-{tag}-", settings.kafka_bootstrap
    index_dir = tmp_path / "index"
    monkeypatch.setenv("GIBSEY_INDEX_DIR", str(index_dir))
    monkeypatch.setenv("GIBSEY_INDEX_COALESCE_S", "0.3")
    retrieval = own_service(RetrievalService)
    session = open_session(settings)  # its own: apply_schema sets the session's keyspace
    tail = None
    try:
        apply_schema(session, settings)
        ensure_topics(settings)  # cdc.<keyspace>.pages among them, before the agent auto-creates it
        tail = TopicTail(bootstrap, CDC_PAGES.qualified(prefix))
        wait_until_captured(session, keyspace, tail)
        start_groups_at_end(bootstrap, {f"{group_prefix}embedder": CDC_PAGES.qualified(prefix),
                                        f"{group_prefix}indexer": INDEX_UPDATE.qualified(prefix)})
        config = {**settings.nameko_config, "GIBSEY_CONSUMER_GROUP_PREFIX": group_prefix,
                  "GIBSEY_CONSUMER_OFFSET_RESET": "latest", "GIBSEY_RETRY_BACKOFF_S": "0.1"}
        with run_services(config, EmbedderService, IndexerService, retrieval):
            with ClusterRpcProxy(config, timeout=60) as cluster:
                yield CdcRag(cluster[retrieval.name], session, keyspace, index_dir, tail)
    finally:
        if tail is not None:
            tail.close()
        drop_run(session, bootstrap, keyspace, prefix, group_prefix)
        delete_rpc_queue(settings.amqp_uri, retrieval.name)
        close_session(session)


def has_page(page_id: str, text: str | None = None):
    return lambda results: any(h["page_id"] == page_id and (text is None or text in h["quote"]) for h in results)


def test_insert_update_delete_through_the_real_cdc_agent(cdc_rag):
    rag, ks, section = cdc_rag, cdc_rag.keyspace, 5
    page_id = str(uuid.uuid4())  # page ids are canon ids or UUIDs (shared/events)
    phrase = "the velvet semaphore hums beneath the carousel"
    before = rag.version(section)

    rag.session.execute(f"INSERT INTO {ks}.pages (page_id, section, char_hex, text, title) "
                        f"VALUES (%s, {section}, 4, %s, 'A branch')", (page_id, f"Jacklyn notes that {phrase}."))
    event = rag.change(page_id, "i")
    assert (event["source"]["connector"], event["source"]["keyspace"], event["source"]["table"]) == (
        "cassandra", ks, "pages")
    assert event["source"]["file"].startswith("CommitLog-")  # read from the node's commit log by the agent
    hits = wait_for(rag.retrieval, phrase, has_page(page_id))
    top = next(h for h in hits if h["page_id"] == page_id)
    assert (top["section"], top["character"], top["loc"]) == (section, "jacklyn-variance", f"p{page_id}-1")
    assert phrase in top["quote"]
    assert rag.vectors(page_id, section) == (1, 1)
    inserted = rag.version(section)
    assert inserted > before

    other = "an origami lighthouse folds itself into the tide"
    rag.session.execute(f"UPDATE {ks}.pages SET text = %s WHERE page_id = %s", (f"Now {other}.", page_id))
    assert set(k for k, v in rag.change(page_id, "u")["after"].items() if v) == {"page_id", "text"}
    wait_for(rag.retrieval, other, has_page(page_id, other))
    assert not has_page(page_id, phrase)(rag.retrieval.search(phrase, 10)["results"])
    updated = rag.version(section)
    assert updated > inserted

    rag.session.execute(f"DELETE FROM {ks}.pages WHERE page_id = %s", (page_id,))
    rag.change(page_id, "d")
    wait_for(rag.retrieval, other, lambda results: not has_page(page_id)(results))
    assert rag.vectors(page_id, section) == (0, 0)
    assert rag.version(section) > updated


def test_a_page_moved_renumbered_and_deleted_through_the_real_cdc_agent(cdc_rag):
    """Section, page number and character live in every quote row (the section is its partition): changing
    them re-writes the rows, and the section left behind keeps nothing of the page. Deleting a branch page
    (its id names no section) rebuilds only the section it was in."""
    rag, ks = cdc_rag, cdc_rag.keyspace
    page_id = str(uuid.uuid4())
    phrase = "a cobalt metronome keeps time for the drowned orchestra"
    rag.session.execute(f"INSERT INTO {ks}.pages (page_id, section, char_hex, text, title) "
                        f"VALUES (%s, 3, 2, %s, 'Tempo')", (page_id, f"Somewhere {phrase}."))
    wait_for(rag.retrieval, phrase, has_page(page_id), section=3)

    rag.session.execute(f"UPDATE {ks}.pages SET section = 6, char_hex = 5, page_num = 901 WHERE page_id = %s",
                        (page_id,))
    hits = wait_for(rag.retrieval, phrase, has_page(page_id), section=6)
    top = next(h for h in hits if h["page_id"] == page_id)
    assert (top["section"], top["character"], top["loc"], top["page_number"]) == (6, "oren-progresso",
                                                                                    "p901-1", 901)
    wait_for(rag.retrieval, phrase, lambda results: not has_page(page_id)(results), section=3)
    assert rag.vectors(page_id, 3) == (1, 0) and rag.vectors(page_id, 6) == (1, 1)

    others = {s: rag.version(s) for s in range(1, 17) if s != 6}
    moved = rag.version(6)
    rag.session.execute(f"DELETE FROM {ks}.pages WHERE page_id = %s", (page_id,))
    wait_for(rag.retrieval, phrase, lambda results: not has_page(page_id)(results))
    assert rag.vectors(page_id, 6) == (0, 0) and rag.version(6) > moved
    time.sleep(2)  # a few coalescing rounds of the indexer (0.3 s): a rebuild of another section would show now
    assert {s: rag.version(s) for s in others} == others
