"""Fixtures for the eventlet-patched suite (`nameko test tests/services`)."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Iterator

import pytest
from nameko.runners import ServiceRunner


@pytest.fixture
def run_services():
    """`with run_services(config, *classes):` real Nameko containers on the live broker, stopped afterwards."""

    @contextmanager
    def run(config: dict, *service_classes: type) -> Iterator[dict]:
        runner = ServiceRunner(config)
        for cls in service_classes:
            runner.add_service(cls)
        runner.start()
        try:
            yield config
        finally:
            runner.stop()

    return run


@pytest.fixture
def rag(request, stack_settings, book, run_services, tmp_path, monkeypatch, topics_ready):
    """Embedder, indexer and retrieval on the live stack, with consumer groups, an index directory and a
    retrieval RPC name of this test's own (see tests/services/rag_support.py). A test that writes shards
    itself leaves the indexer out: `@pytest.mark.parametrize("rag", [{"indexer": False}], indirect=True)`."""
    from kafka import KafkaProducer
    from nameko.standalone.rpc import ClusterRpcProxy

    from functions.embedder.service import EmbedderService
    from functions.indexer.service import IndexerService
    from functions.retrieval.service import RetrievalService
    from shared.topics import CDC_PAGES, INDEX_UPDATE
    from tests.services.rag_support import Rag, delete_rpc_queue, own_service, start_groups_at_end

    index_dir = tmp_path / "index"
    monkeypatch.setenv("GIBSEY_INDEX_DIR", str(index_dir))
    monkeypatch.setenv("GIBSEY_INDEX_COALESCE_S", "0.3")
    prefix, group_prefix = stack_settings.topic_prefix, f"rag-{uuid.uuid4().hex[:6]}-"
    config = {**stack_settings.nameko_config, "GIBSEY_CONSUMER_GROUP_PREFIX": group_prefix,
              "GIBSEY_CONSUMER_OFFSET_RESET": "latest", "GIBSEY_RETRY_BACKOFF_S": "0.1"}
    start_groups_at_end(stack_settings.kafka_bootstrap, {f"{group_prefix}embedder": CDC_PAGES.qualified(prefix),
                                                         f"{group_prefix}indexer": INDEX_UPDATE.qualified(prefix)})
    retrieval = own_service(RetrievalService)
    producer = KafkaProducer(bootstrap_servers=stack_settings.kafka_bootstrap)
    topic = CDC_PAGES.qualified(prefix)

    def send(raw: bytes, key: bytes | None = None):
        return producer.send(topic, value=raw, key=key).get(timeout=30)

    try:
        # start() returns once every container has started: models loaded, the RPC queue declared and consumed.
        indexer = [IndexerService] if getattr(request, "param", {}).get("indexer", True) else []
        with run_services(config, EmbedderService, *indexer, retrieval):
            with ClusterRpcProxy(config, timeout=60) as cluster:
                yield Rag(cluster[retrieval.name], send, group_prefix, index_dir)
    finally:
        producer.close()
        delete_rpc_queue(stack_settings.amqp_uri, retrieval.name)
