"""The RAG services when things go wrong or change under them: malformed change events on the embedder's CDC
topic, and a section's shard swapped again and again while retrieval is answering from it."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid

import pytest
from eventlet.patcher import original
from kafka import KafkaConsumer, TopicPartition

from shared.events import decode_event
from shared.rag import shards
from shared.rag.shards import build_shard
from shared.storage.vectors import VectorStore
from shared.topics import DLQ
from tests.services.rag_support import change_event, wait_for, wait_until_handled

pytestmark = pytest.mark.integration
unpatched_sleep = original("time").sleep


def _dead_letters(bootstrap: str, topic: str, since: dict[TopicPartition, int], want, within_s: float = 30.0) -> list:
    """DeliveryFailed payloads on `topic` after the offsets `since`, until `want(found)` holds (or time is up)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign(list(since))
    for tp, offset in since.items():
        consumer.seek(tp, offset)
    found, deadline = [], time.monotonic() + within_s
    while not want(found) and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            found.extend(decode_event(r.value).payload for r in records)
    consumer.close()
    return found


def _end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    ends = consumer.end_offsets([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)])
    consumer.close()
    return ends


def test_malformed_change_events_are_dead_lettered_and_the_next_change_still_flows(rag, cassandra_session,
                                                                                    stack_settings):
    ks, bootstrap = stack_settings.cassandra_keyspace, stack_settings.kafka_bootstrap
    dlq = DLQ.qualified(stack_settings.topic_prefix)
    dlq_start = _end_offsets(bootstrap, dlq)
    page_id = str(uuid.uuid4())
    key = json.dumps({"page_id": page_id}).encode()  # Debezium's key: all three events share one partition
    not_json = b"\x00\xffnot JSON at all " + page_id.encode()
    not_a_change = json.dumps({"page_id": page_id, "note": "a JSON object without op, source or after"}).encode()
    malformed = [rag.send(raw, key) for raw in (not_json, not_a_change)]

    cassandra_session.execute(f"INSERT INTO {ks}.pages (page_id, section, char_hex, text, title) "
                              f"VALUES (%s, 3, 2, %s, 'After the poison')", (page_id, "A page that arrives intact."))
    valid = rag.send(change_event(ks, page_id), key)
    assert {m.partition for m in malformed} == {valid.partition}  # so the valid one queues behind them

    wait_until_handled(bootstrap, f"{rag.group_prefix}embedder", valid)
    assert cassandra_session.execute(f"SELECT page_id FROM {ks}.page_vectors WHERE page_id = %s", (page_id,)).one()

    group = f"{rag.group_prefix}embedder"  # other test sessions may dead-letter the same bytes in their groups
    ours = {not_json: "not JSON", not_a_change: "not a change"}
    dead = [d for d in _dead_letters(bootstrap, dlq, dlq_start,
                                     lambda found: sum(d.consumer_group == group for d in found) >= 2)
            if d.consumer_group == group]
    by_bytes = {base64.b64decode(d.original_value_b64): d for d in dead}
    assert len(dead) == 2 and set(by_bytes) == set(ours), [(d.error, d.original_value_b64) for d in dead]
    for raw, sent in zip((not_json, not_a_change), malformed):
        failed = by_bytes[raw]
        assert (failed.source_topic, failed.partition, failed.offset) == (sent.topic, sent.partition, sent.offset)
        assert failed.key == key.decode()
        # Bytes that cannot be decoded are not retried (the same bytes would fail the same way): one attempt.
        assert failed.attempts == 1
    assert by_bytes[not_json].error.startswith("unparseable: cdc: not valid JSON")
    error = by_bytes[not_a_change].error
    assert error.startswith("unparseable:") and "cdc op: None is not one of" in error
    assert "cdc after.page_id: missing" in error and "cdc source: keyspace and table are required" in error


SECTION, CALLS, REBUILDS = 9, 50, 20


class _SlowSwaps:
    """The os module for shared.rag.shards, except that every rename takes 20 ms longer: a reader that can see
    a swap half done (new pointer, files not yet in place; files gone while still pointed at) then will."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def replace(src, dst) -> None:
        os.replace(src, dst)
        unpatched_sleep(0.02)  # in a thread of the OS, where eventlet's green sleep cannot run


@pytest.mark.parametrize("rag", [{"indexer": False}], indirect=True)  # this test is the shards' only writer
def test_retrieval_keeps_answering_while_its_section_is_rebuilt(rag, cassandra_session, stack_settings, monkeypatch):
    ks = stack_settings.cassandra_keyspace
    page_id = str(uuid.uuid4())
    phrase = "a tin accordion counts the lighthouse stairs backwards"
    cassandra_session.execute(f"INSERT INTO {ks}.pages (page_id, section, char_hex, text, title) VALUES "
                              f"(%s, {SECTION}, {SECTION - 1}, %s, 'Stairs')", (page_id, f"At night {phrase}."))
    sent = rag.send(change_event(ks, page_id))
    wait_until_handled(stack_settings.kafka_bootstrap, f"{rag.group_prefix}embedder", sent)
    rows = VectorStore(cassandra_session, ks).section_quotes(SECTION)  # the quotes the embedder just wrote
    assert any(r.page_id == page_id for r in rows)
    build_shard(rag.index_dir, SECTION, rows)
    wait_for(rag.retrieval, phrase, lambda r: any(h["page_id"] == page_id for h in r), section=SECTION)

    monkeypatch.setattr(shards, "os", _SlowSwaps())
    versions: list[int] = []
    rebuilding = True

    def rebuild() -> None:
        while rebuilding:
            versions.append(build_shard(rag.index_dir, SECTION, rows))

    # A thread of the OS, not a green one: it swaps shards whenever it likes, as the indexer's own process would.
    rebuilder = original("threading").Thread(target=rebuild, daemon=True)
    rebuilder.start()
    calls, failures = 0, []
    try:
        while calls < CALLS or len(versions) < REBUILDS:  # many calls, and many swaps under them
            calls += 1
            try:
                results = rag.retrieval.search(phrase, 5, section=SECTION)["results"]
            except Exception as exc:  # noqa: BLE001 - any error is a failure, reported with the others
                failures.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            if not any(h["page_id"] == page_id for h in results):
                failures.append(f"page missing from {results}"[:300])
    finally:
        rebuilding = False
        rebuilder.join(timeout=30)
    assert not failures, f"{len(failures)} of {calls} calls failed during {len(versions)} rebuilds: {failures[:3]}"
