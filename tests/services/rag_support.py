"""What the RAG services tests share: the `rag` fixture's parts (services of the test's own on the live stack)
and Debezium-format change events. The fixture itself is in conftest.py."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import kombu
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

FRESH_WITHIN_S = 60.0


@dataclass
class Rag:
    retrieval: Any  # RPC proxy of this test's own retrieval service: `rag.retrieval.search(query, k, ...)`
    send: Callable[..., Any]  # send(raw, key=None) -> RecordMetadata, on the embedder's CDC topic
    group_prefix: str  # of the embedder's and the indexer's consumer groups
    index_dir: Path  # where the indexer writes shards and retrieval reads them


def change_event(keyspace: str, page_id: str, op: str = "i", columns: tuple[str, ...] = ("text",)) -> bytes:
    after = {"page_id": {"value": page_id, "deletion_ts": None, "set": True}}
    after.update({c: {"value": "…", "deletion_ts": None, "set": True} for c in columns})
    return json.dumps({"op": op, "ts_ms": int(time.time() * 1000), "after": after,
                       "source": {"keyspace": keyspace, "table": "pages", "file": "CommitLog-test.log",
                                  "pos": uuid.uuid4().int % 10**9}}).encode()


def own_service(service_cls: type) -> type:
    """The service under a name of this test's own. RabbitMQ RPC queues are named by service only
    (`rpc-retrieval`), so on a shared broker every process serving `retrieval` (`make run`, a benchmark,
    another test session) takes its round-robin share of our calls: they are answered from another
    index, or not at all while that process is busy or paused (RpcTimeout)."""
    return type(service_cls.__name__, (service_cls,), {"name": f"{service_cls.name}_{uuid.uuid4().hex[:8]}"})


def delete_rpc_queue(amqp_uri: str, service_name: str) -> None:
    """Nameko declares RPC queues durable; a name used once is removed again."""
    with kombu.Connection(amqp_uri) as conn:
        conn.channel().queue_delete(f"rpc-{service_name}")


def start_groups_at_end(bootstrap: str, topic_by_group: dict[str, str]) -> None:
    """Commit each new group's offsets at its topic's current end. Then whatever a test sends from now on is
    consumed however long the services take to join (a new group reading from `latest` skips what was sent
    before it had its partitions), and nothing older is replayed."""
    for group, topic in topic_by_group.items():
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        try:
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            assert partitions, f"topic {topic} does not exist"
            consumer.assign(partitions)
            consumer.commit({tp: OffsetAndMetadata(end, None) for tp, end in consumer.end_offsets(partitions).items()})
        finally:
            consumer.close()


def wait_until_handled(bootstrap: str, group: str, sent: Any, within_s: float = FRESH_WITHIN_S) -> None:
    """Until `group` has committed past the record `sent` (RecordMetadata): its consumer commits only what it
    finished (handled, skipped or dead-lettered)."""
    tp = TopicPartition(sent.topic, sent.partition)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        deadline = time.monotonic() + within_s
        while (done := admin.list_consumer_group_offsets(group).get(tp)) is None or done.offset <= sent.offset:
            assert time.monotonic() < deadline, f"{group} did not finish {tp} offset {sent.offset} in {within_s}s"
            time.sleep(0.2)
    finally:
        admin.close()


def wait_for(retrieval, query: str, predicate, **filters) -> list[dict]:
    deadline = time.monotonic() + FRESH_WITHIN_S
    while True:
        results = retrieval.search(query, 5, **filters)["results"]
        if predicate(results):
            return results
        assert time.monotonic() < deadline, f"not within {FRESH_WITHIN_S}s: {results}"
        time.sleep(0.3)


def cdc_names(tag: str) -> tuple[str, str]:
    """A keyspace and topic prefix whose changes the real CDC agent delivers to the embedder's topic.

    The agent routes keyspace K's `pages` to Debezium's default `cdc.K.pages` (only CASSANDRA_KEYSPACE goes to
    `cdc.pages`, docs/CDC.md); the embedder reads GIBSEY_TOPIC_PREFIX + "cdc.pages". With K =
    `gibsey_test_<tag>_cdc` and the prefix `cdc.gibsey_test_<tag>_` the two names are the same topic (the trick
    bench/_stack.py uses), and every other topic of the run carries the prefix too."""
    keyspace, prefix = f"gibsey_test_{tag}_cdc", f"cdc.gibsey_test_{tag}_"
    assert f"{prefix}cdc.pages" == f"cdc.{keyspace}.pages"
    return keyspace, prefix


class TopicTail:
    """Reads a topic from its current end (own consumer, no group), for asserting on what arrived."""

    def __init__(self, bootstrap: str, topic: str):
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
        deadline = time.monotonic() + 30  # a topic created a moment ago may not be in the metadata yet
        while not (ids := self._consumer.partitions_for_topic(topic)) and time.monotonic() < deadline:
            self._consumer.topics()  # forces a metadata refresh
            time.sleep(0.2)
        partitions = [TopicPartition(topic, p) for p in sorted(ids or ())]
        assert partitions, f"topic {topic} does not exist"
        self._consumer.assign(partitions)
        self._consumer.seek_to_end()
        for tp in partitions:
            self._consumer.position(tp)  # resolve "end" now, before anything is written
        self.records: list[Any] = []

    def wait(self, predicate: Callable[[Any], bool], within_s: float) -> Any | None:
        """The first record (from the start of the tail) for which `predicate(record)` holds, or None."""
        deadline = time.monotonic() + within_s
        while True:
            found = next((r for r in self.records if predicate(r)), None)
            if found is not None or time.monotonic() >= deadline:
                return found
            for batch in self._consumer.poll(timeout_ms=200).values():
                self.records.extend(batch)

    def close(self) -> None:
        self._consumer.close()


def key_is(page_id: str) -> Callable[[Any], bool]:
    """Debezium's key is the primary key as JSON: {"page_id": ...}."""
    return lambda record: record.key is not None and json.loads(record.key).get("page_id") == page_id


def wait_until_captured(session, keyspace: str, tail: TopicTail, within_s: float = 90.0) -> None:
    """Insert title-only probe rows until one's event reaches the tail: the agent learns a new keyspace's tables
    from a schema event and skips mutations of tables it does not know yet (docs/CDC.md, "New tables").
    A probe has no text, so the embedder has nothing to embed for it."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        probe = f"cdc-probe-{uuid.uuid4().hex[:8]}"
        session.execute(f"INSERT INTO {keyspace}.pages (page_id, title) VALUES (%s, 'cdc probe')", (probe,))
        if tail.wait(key_is(probe), 3.0) is not None:
            return
    raise AssertionError(f"the CDC agent sent nothing for {keyspace} within {within_s:.0f}s "
                         f"(agent: {cdc_agent_health()}; its log: .localstack/logs/cdc.log)")


def cdc_agent_health() -> str:
    """The agent's own /health answer (localstack, CDC_HTTP_PORT), for a failure message."""
    import os
    import urllib.request

    url = f"http://127.0.0.1:{os.environ.get('CDC_HTTP_PORT', '8083')}/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return f"{response.status} {response.read(200).decode(errors='replace')}"
    except OSError as exc:
        return f"{url} did not answer ({exc})"


def drop_run(session, bootstrap: str, keyspace: str, topic_prefix: str, group_prefix: str) -> None:
    """Drop a run's keyspace, topics and consumer groups (the agent may re-create the CDC topic, empty, while it
    is in its producer's metadata: docs/CDC.md's clean-up command removes such leftovers)."""
    session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        topics = [t for t in admin.list_topics() if t.startswith(topic_prefix)]
        if topics:
            admin.delete_topics(topics)
        groups = [g for g, _ in admin.list_consumer_groups() if g.startswith(group_prefix)]
        if groups:
            admin.delete_consumer_groups(groups)
    finally:
        admin.close()
