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
