"""Measure CDC lag: insert rows into <keyspace>.pages, time until each one's event is read from Kafka.

Needs the project's venv (cassandra-driver, kafka-python) and a running stack with the cdc agent:

    .venv/bin/python localstack/tools/cdc_lag.py            # 20 inserts into gibsey.pages, read from cdc.pages
    .venv/bin/python localstack/tools/cdc_lag.py -n 50 --show  # and print one insert/update/delete event each

Each probe row (page_id "cdc-lag-<hex>", title "cdc lag probe") is deleted again right after its
event arrived, so the table is left as it was (the deletes are CDC events too). Lag is measured from
just before the INSERT is sent to when the consumer has the event (it polls every 10 ms). Inserts
are spaced 0.2-1.2 s apart at random, so they land at random points of the commit-log sync cycle.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
import uuid
import warnings

warnings.filterwarnings("ignore")  # the driver's eventlet deprecation warning

from cassandra.cluster import Cluster  # noqa: E402
from kafka import KafkaConsumer, TopicPartition  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--count", type=int, default=20, help="number of inserts (default 20)")
    parser.add_argument("--keyspace", default="gibsey")
    parser.add_argument("--topic", default="cdc.pages")
    parser.add_argument("--cassandra", default="127.0.0.1:9042")
    parser.add_argument("--kafka", default="127.0.0.1:9092")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for one event")
    parser.add_argument("--show", action="store_true", help="print an insert, an update and a delete event")
    args = parser.parse_args()

    host, _, port = args.cassandra.partition(":")
    session = Cluster([host], port=int(port or 9042)).connect(args.keyspace)
    consumer = KafkaConsumer(bootstrap_servers=args.kafka, enable_auto_commit=False)
    partitions = consumer.partitions_for_topic(args.topic)
    if not partitions:
        print(f"topic {args.topic} does not exist (yet)", file=sys.stderr)
        return 1
    assigned = [TopicPartition(args.topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_end()
    for tp in assigned:
        consumer.position(tp)  # resolve "end" now, before the first insert

    def wait_for(page_id: str, op: str, started: float) -> tuple[float, bytes, dict] | None:
        while time.time() - started < args.timeout:
            for records in consumer.poll(timeout_ms=10).values():
                for record in records:
                    event = json.loads(record.value) if record.value else None
                    if event and event["op"] == op and event["after"]["page_id"]["value"] == page_id:
                        return time.time() - started, record.key, event
        return None

    insert = session.prepare("INSERT INTO pages (page_id, title, text) VALUES (?, ?, ?)")
    delete = session.prepare("DELETE FROM pages WHERE page_id = ?")
    lags: list[float] = []
    missed = 0
    for i in range(args.count):
        time.sleep(random.uniform(0.2, 1.2))
        page_id = f"cdc-lag-{uuid.uuid4().hex[:12]}"
        started = time.time()
        session.execute(insert, (page_id, "cdc lag probe", f"probe {i}"))
        got = wait_for(page_id, "i", started)
        if got is None:
            missed += 1
            print(f"{i + 1:3d} {page_id}: no event within {args.timeout:.0f}s")
        else:
            lags.append(got[0])
            print(f"{i + 1:3d} {page_id}: {got[0] * 1000:6.0f} ms")
        if args.show and i == 0 and got is not None:
            print(f"insert event (key {got[1].decode()}):\n{json.dumps(got[2], indent=2)}")
            session.execute("UPDATE pages SET title = 'cdc lag probe, renamed' WHERE page_id = %s", (page_id,))
            updated = wait_for(page_id, "u", time.time())
            if updated:
                print(f"update event (key {updated[1].decode()}):\n{json.dumps(updated[2], indent=2)}")
        session.execute(delete, (page_id,))
        if args.show and i == 0:
            deleted = wait_for(page_id, "d", time.time())
            if deleted:
                print(f"delete event (key {deleted[1].decode()}):\n{json.dumps(deleted[2], indent=2)}")
    if not lags:
        print("no events arrived", file=sys.stderr)
        return 1
    ordered = sorted(lags)
    p95 = ordered[math.ceil(0.95 * len(ordered)) - 1]  # nearest rank
    print(f"{len(lags)} events ({missed} missed): p50 {statistics.median(lags) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, min {ordered[0] * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
