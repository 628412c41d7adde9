"""The QDPI pipeline under load: POST symbol -> SSE page.done latency, and sustained events/s.

    .venv/bin/python bench/pipeline_latency.py [--events 200] [--sessions 10] [--burst 500]

Needs the local stack (`localstack/up`). Runs, against a throwaway keyspace holding the demo corpus: one
enricher and one page_generator (`nameko run`, their own consumer groups), the gunicorn gateway (1 worker),
and no LLM (the canon composer writes every page).

1. Latency: `--sessions` readers each hold an SSE stream and post symbols one after another (the next one
   once the previous page arrived) until `--events` pages in all; p50/p95/p99 from POST to page.done.
   Baseline in the same run: a bare Kafka round trip (produce, then see it consumed), the floor that any
   event hop pays on this machine.
2. Throughput: `--burst` SymbolSelected events produced straight onto gibsey.ui.symbol at once; the time
   until every page.done is on Kafka gives the events/s one enricher + one generator sustain.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.bus.admin import ensure_topics  # noqa: E402
from shared.canon import load_corpus  # noqa: E402
from shared.canon.ingest import ingest  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.events import Envelope, SymbolSelected, decode_event, to_record  # noqa: E402
from shared.storage.cassandra import close_session, open_session  # noqa: E402
from shared.storage.schema import apply_schema  # noqa: E402
from tests.integration.flow_support import BIN, Process, SseClient, free_port, function  # noqa: E402


def quantiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100)
    return f"p50 {cuts[49] * 1000:.0f} ms, p95 {cuts[94] * 1000:.0f} ms, p99 {cuts[98] * 1000:.0f} ms"


def kafka_round_trips(bootstrap: str, count: int, prefix: str) -> list[float]:
    topic = f"{prefix}gibsey.audit"
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_end(partition)
    consumer.position(partition)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    samples = []
    for _ in range(count):
        marker = uuid.uuid4().bytes
        started = time.perf_counter()
        producer.send(topic, value=marker, partition=0).get(timeout=10)
        seen = False
        while not seen:
            for records in consumer.poll(timeout_ms=100).values():
                seen = seen or any(r.value == marker for r in records)
        samples.append(time.perf_counter() - started)
    producer.close()
    consumer.close()
    return samples


def latency(gateway: str, corpus_pages: list[str], events: int, sessions: int) -> list[float]:
    samples: list[float] = []
    lock = threading.Lock()
    per_session = events // sessions

    def reader(index: int) -> None:
        session = f"bench-{index}-{uuid.uuid4().hex[:6]}"
        sse = SseClient(f"{gateway}/api/v1/event/stream?session_id={session}")
        sse.next("connection", timeout=15)  # the gateway sends it once its Kafka tail is positioned
        with httpx.Client(timeout=30) as http:
            for _ in range(per_session):
                body = {"session_id": session, "symbol_code": random.randrange(256),
                        "page_id": random.choice(corpus_pages)}
                started = time.perf_counter()
                assert http.post(f"{gateway}/api/v1/event/ui/symbol", json=body).status_code == 202
                sse.next("page.done", timeout=60)
                with lock:
                    samples.append(time.perf_counter() - started)
        sse.close()

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return samples


def throughput(bootstrap: str, corpus_pages: list[str], burst: int, prefix: str) -> tuple[float, int]:
    session_prefix = f"burst-{uuid.uuid4().hex[:6]}"
    done_topic = f"{prefix}gibsey.generate.page.done"
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(done_topic, p) for p in consumer.partitions_for_topic(done_topic)]
    consumer.assign(partitions)
    consumer.seek_to_end()
    for tp in partitions:
        consumer.position(tp)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    started = time.perf_counter()
    for i in range(burst):
        event = Envelope.wrap(SymbolSelected(symbol_code=random.randrange(256), page_id=random.choice(corpus_pages)),
                              session_id=f"{session_prefix}-{i % 50}")
        record = to_record(event, prefix)
        producer.send(record.topic, value=record.value, key=record.key, headers=list(record.headers))
    producer.flush()
    seen: set[str] = set()
    deadline = time.perf_counter() + 600
    while len(seen) < burst and time.perf_counter() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            for r in records:
                envelope = decode_event(r.value)
                if envelope.session_id.startswith(session_prefix):
                    seen.add(str(envelope.event_id))
    elapsed = time.perf_counter() - started
    producer.close()
    consumer.close()
    return elapsed, len(seen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--burst", type=int, default=500)
    args = parser.parse_args()

    settings = replace(Settings.from_env(), cassandra_keyspace=f"gibsey_bench_{uuid.uuid4().hex[:6]}",
                       topic_prefix="bench.")  # its own topics: a running `make run` never sees the load
    session = open_session(settings)
    processes: list[Process] = []
    try:
        apply_schema(session, settings)
        ensure_topics(settings)
        corpus = load_corpus(REPO / "corpus" / "demo")
        ingest(session, settings.cassandra_keyspace, corpus)
        pages = [p.page_id for p in corpus.pages]
        env = {**os.environ, "CASSANDRA_KEYSPACE": settings.cassandra_keyspace,
               "GIBSEY_TOPIC_PREFIX": settings.topic_prefix,
               "OLLAMA_BASE_URL": f"http://127.0.0.1:{free_port()}",
               "GIBSEY_CONSUMER_GROUP_PREFIX": f"bench-{uuid.uuid4().hex[:6]}-",
               "GIBSEY_CONSUMER_OFFSET_RESET": "latest", "GIBSEY_HTTP_WORKERS": "1"}
        processes += [function("enricher", env), function("page_generator", env)]
        port = free_port()
        gateway = Process([str(BIN / "gunicorn"), "-c", "gateway/gunicorn_conf.py", "--access-logfile", "/dev/null",
                           "gateway.asgi:app"], {**env, "GIBSEY_HTTP_PORT": str(port)})
        processes.append(gateway)
        gateway.wait_for("ASGI server listening")
        url = f"http://127.0.0.1:{port}"

        base = kafka_round_trips(settings.kafka_bootstrap, 100, settings.topic_prefix)
        print(f"baseline: Kafka produce->consume round trip (100): {quantiles(base)}")
        samples = latency(url, pages, args.events, args.sessions)
        print(f"POST symbol -> SSE page.done ({len(samples)} events, {args.sessions} readers, canon composer): "
              f"{quantiles(samples)}")
        print(f"ratio p50 pipeline / p50 Kafka round trip: {statistics.median(samples) / statistics.median(base):.1f}")
        elapsed, seen = throughput(settings.kafka_bootstrap, pages, args.burst, settings.topic_prefix)
        print(f"burst of {args.burst} symbols straight onto Kafka: {seen} pages done in {elapsed:.1f} s "
              f"= {seen / elapsed:.1f} events/s (one enricher + one page_generator)")
    finally:
        for proc in reversed(processes):
            proc.stop()
        session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")
        close_session(session)
    return 0


if __name__ == "__main__":
    sys.exit(main())
