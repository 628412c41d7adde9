"""Change events for `pages` -> embedder -> quote vectors -> gibsey.index.update -> indexer -> shard ->
retrieval, with the real services on the live stack. The change events are written here in Debezium's
Cassandra format (the connector itself is exercised by the CDC tests); everything after Kafka is real."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from kafka import KafkaProducer
from nameko.standalone.rpc import ClusterRpcProxy

from functions.embedder.service import EmbedderService
from functions.indexer.service import IndexerService
from functions.retrieval.service import RetrievalService

# Quarantined from `make test`: on a clean clone (CI) a retrieval RPC timed out mid-test once in three runs
# here, and the cause is not found yet (docs/STATUS.md). Run it with `make test-quarantine`.
pytestmark = [pytest.mark.integration, pytest.mark.quarantine]

FRESH_WITHIN_S = 60.0


def change_event(keyspace: str, page_id: str, op: str = "i", columns: tuple[str, ...] = ("text",)) -> bytes:
    after = {"page_id": {"value": page_id, "deletion_ts": None, "set": True}}
    after.update({c: {"value": "…", "deletion_ts": None, "set": True} for c in columns})
    return json.dumps({"op": op, "ts_ms": int(time.time() * 1000), "after": after,
                       "source": {"keyspace": keyspace, "table": "pages", "file": "CommitLog-test.log",
                                  "pos": uuid.uuid4().int % 10**9}}).encode()


def _until_retrieval_answers(config, within_s: float = 90.0) -> None:
    """An RPC sent before the service has declared its queue is dropped by RabbitMQ and only times out."""
    from nameko.exceptions import RpcTimeout

    deadline = time.monotonic() + within_s
    while True:
        try:
            with ClusterRpcProxy(config, timeout=5) as cluster:
                cluster.retrieval.search("ready?", 1)
                return
        except RpcTimeout:
            assert time.monotonic() < deadline, "the retrieval service never answered"


@pytest.fixture
def rag(stack_settings, book, run_services, tmp_path, monkeypatch, topics_ready):
    monkeypatch.setenv("GIBSEY_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("GIBSEY_INDEX_COALESCE_S", "0.3")
    config = {**stack_settings.nameko_config, "GIBSEY_CONSUMER_GROUP_PREFIX": f"rag-{uuid.uuid4().hex[:6]}-",
              "GIBSEY_CONSUMER_OFFSET_RESET": "latest", "GIBSEY_RETRY_BACKOFF_S": "0.1"}
    producer = KafkaProducer(bootstrap_servers=stack_settings.kafka_bootstrap)
    topic = f"{stack_settings.topic_prefix}cdc.pages"
    with run_services(config, EmbedderService, IndexerService, RetrievalService):
        _until_retrieval_answers(config)  # its queue exists and its model is loaded
        time.sleep(2.0)  # consumers join their (new) groups before we produce
        with ClusterRpcProxy(config, timeout=60) as cluster:
            yield cluster, lambda raw: producer.send(topic, value=raw).get(timeout=30)
    producer.close()


def _wait_for(cluster, query, predicate, **filters):
    deadline = time.monotonic() + FRESH_WITHIN_S
    while True:
        results = cluster.retrieval.search(query, 5, **filters)["results"]
        if predicate(results):
            return results
        assert time.monotonic() < deadline, f"not within {FRESH_WITHIN_S}s: {results}"
        time.sleep(0.3)


def test_insert_update_delete_flow_through_to_retrieval(rag, cassandra_session, stack_settings):
    cluster, send = rag
    ks = stack_settings.cassandra_keyspace
    page_id = str(uuid.uuid4())
    phrase = "the velvet semaphore hums beneath the carousel"
    cassandra_session.execute(f"INSERT INTO {ks}.pages (page_id, section, char_hex, text, title) "
                              f"VALUES (%s, 5, 4, %s, 'A branch')", (page_id, f"Jacklyn notes that {phrase}."))
    send(change_event(ks, page_id))
    hits = _wait_for(cluster, phrase, lambda r: any(h["page_id"] == page_id for h in r))
    top = next(h for h in hits if h["page_id"] == page_id)
    assert (top["section"], top["character"], top["loc"]) == (5, "jacklyn-variance", f"p{page_id}-1")
    assert phrase in top["quote"]

    other = "an origami lighthouse folds itself into the tide"
    cassandra_session.execute(f"UPDATE {ks}.pages SET text = %s WHERE page_id = %s", (f"Now {other}.", page_id))
    send(change_event(ks, page_id, "u"))
    _wait_for(cluster, other, lambda r: any(h["page_id"] == page_id and other in h["quote"] for h in r))
    assert not any(h["page_id"] == page_id and phrase in h["quote"]
                   for h in cluster.retrieval.search(phrase, 10)["results"])

    cassandra_session.execute(f"DELETE FROM {ks}.pages WHERE page_id = %s", (page_id,))
    send(change_event(ks, page_id, "d", columns=()))
    _wait_for(cluster, other, lambda r: all(h["page_id"] != page_id for h in r))


def test_other_keyspaces_and_title_only_updates_are_skipped(rag, cassandra_session, stack_settings):
    cluster, send = rag
    send(change_event("someone_elses_keyspace", "S01-P0001"))
    send(change_event(stack_settings.cassandra_keyspace, "S01-P0001", "u", columns=("title",)))
    time.sleep(2.0)
    rows = cassandra_session.execute(f"SELECT count(*) FROM {stack_settings.cassandra_keyspace}.page_vectors "
                                     "WHERE page_id = 'S01-P0001'").one()[0]
    assert rows == 0  # nothing was embedded for either


def test_filters_and_bad_queries(rag, cassandra_session, stack_settings):
    cluster, send = rag
    ks = stack_settings.cassandra_keyspace
    page_id = str(uuid.uuid4())
    phrase = "a brass owl recites the timetable of vanished trains"
    cassandra_session.execute(f"INSERT INTO {ks}.pages (page_id, section, char_hex, text, title) "
                              f"VALUES (%s, 16, 15, %s, 'The Author aside')", (page_id, f"The Author says {phrase}."))
    send(change_event(ks, page_id))
    _wait_for(cluster, phrase, lambda r: any(h["page_id"] == page_id for h in r), character="the-author")
    assert all(h["page_id"] != page_id for h in cluster.retrieval.search(phrase, 10, section=2)["results"])
    assert all(h["character"] == "london-fox"
               for h in cluster.retrieval.search(phrase, 10, character="london-fox")["results"])
    with pytest.raises(Exception, match="RetrievalQueryError"):
        cluster.retrieval.search("   ", 5)
    with pytest.raises(Exception, match="k: must be"):
        cluster.retrieval.search("tower", 0)
