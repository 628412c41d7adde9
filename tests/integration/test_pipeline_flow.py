"""The whole flow with real processes: `nameko run` functions, the gunicorn gateway, Kafka, Cassandra.

POST a symbol -> gibsey.ui.symbol -> enricher -> gibsey.generate.page.request -> page_generator -> Cassandra
-> gibsey.generate.page.done -> gateway -> SSE. Also: resume with Last-Event-ID, heartbeats, a poison
message going to gibsey.dlq while the next good one still flows, and a page_generator killed mid-handler.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from typing import Iterator

import httpx
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from shared.events import decode_event
from tests.integration.flow_support import BIN, DONE_WITHIN_S, function, post_symbol, stream

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def functions(env) -> Iterator[None]:
    started = [function("enricher", env), function("page_generator", env)]
    yield
    for proc in started:
        proc.stop()


def test_a_symbol_becomes_a_page_on_the_readers_stream(gateway, functions):
    session = f"reader-{uuid.uuid4().hex[:8]}"
    sse = stream(gateway, session)
    started = time.monotonic()
    post_symbol(gateway, session, 0x20, "S03-P0008")  # Glyph Marrow, XC, standing on page 8
    done = sse.next("page.done")
    elapsed = time.monotonic() - started
    envelope = json.loads(done["data"])
    assert done["id"] == envelope["event_id"]
    assert envelope["type"] == "PageGenerated" and envelope["session_id"] == session
    page = envelope["payload"]
    assert page["character"] == "glyph-marrow" and page["trajectory"] == "T0"
    assert page["edges"]["next_within"] == "S03-P0009"
    assert page["validation"]["generator"] == "canon-composer"
    assert elapsed < DONE_WITHIN_S
    hydrated = httpx.get(f"{gateway}/api/v1/page/{page['page_id']}", timeout=10).json()
    assert hydrated["text"] == page["text"] and hydrated["edges"]["next"] == "S03-P0009"
    sse.close()


def test_sse_sends_heartbeats_and_resumes_from_last_event_id(gateway, functions):
    session = f"resume-{uuid.uuid4().hex[:8]}"
    first = stream(gateway, session)
    assert first.events.get(timeout=5).get("comment") == "keep-alive"  # GIBSEY_SSE_HEARTBEAT_S=1
    post_symbol(gateway, session, 0x30, "S04-P0010")
    first_done = first.next("page.done")
    first.close()

    post_symbol(gateway, session, 0x30)  # written while nobody listens
    stats_deadline = time.monotonic() + DONE_WITHIN_S
    while httpx.get(f"{gateway}/api/v1/pipeline/stats/section/4", timeout=10).json()["pages_generated"] < 2:
        assert time.monotonic() < stats_deadline, "second page never written"
        time.sleep(0.3)
    time.sleep(0.5)

    resumed = stream(gateway, session, last_event_id=first_done["id"])
    replayed = resumed.next("page.done", timeout=10)
    assert replayed["id"] != first_done["id"]
    assert json.loads(replayed["data"])["payload"]["character"] == "phillip-bafflemint"
    resumed.close()


def test_bad_requests_are_refused_before_kafka(gateway):
    for body, status, words in [
        ({"session_id": "s", "symbol_code": 256}, 422, "symbol_code"),
        ({"symbol_code": 3}, 422, "session_id"),
        ({"session_id": "bad id!", "symbol_code": 3}, 422, "session_id"),
        ({"session_id": "s", "symbol_code": 3, "page_id": "S01-P0999"}, 404, "S01-P0999"),
        ({"session_id": "s", "symbol_code": 3, "colour": "red"}, 422, "colour"),
    ]:
        resp = httpx.post(f"{gateway}/api/v1/event/ui/symbol", json=body, timeout=10)
        assert resp.status_code == status, (body, resp.text)
        assert words in resp.json()["detail"]
    assert httpx.get(f"{gateway}/api/v1/event/stream", timeout=10).status_code == 422


def _end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    ends = consumer.end_offsets(partitions)
    consumer.close()
    return ends


def _read_from(bootstrap: str, starts: dict[TopicPartition, int], timeout_s: float = 20.0) -> list:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=int(timeout_s * 1000))
    consumer.assign(list(starts))
    for tp, offset in starts.items():
        consumer.seek(tp, offset)
    records = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
        if records:
            break
    consumer.close()
    return records


def _events_until(bootstrap: str, starts: dict[TopicPartition, int], wanted, timeout_s: float = 20.0) -> list:
    """The events after `starts` for which `wanted(event)` holds, once there is one (other test runs may
    share the topic, so their records are read past, not mistaken for ours)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign(list(starts))
    for tp, offset in starts.items():
        consumer.seek(tp, offset)
    found: list = []
    deadline = time.monotonic() + timeout_s
    while not found and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            found.extend(e for e in (decode_event(r.value) for r in batch) if wanted(e))
    consumer.close()
    return found


def test_a_poison_message_goes_to_the_dlq_and_the_next_one_still_flows(gateway, functions, env):
    session = f"poison-{uuid.uuid4().hex[:8]}"
    bootstrap = env["KAFKA_BROKERS"]
    prefix = env["GIBSEY_TOPIC_PREFIX"]
    dlq_start = _end_offsets(bootstrap, f"{prefix}gibsey.dlq")
    pipeline_error_start = _end_offsets(bootstrap, f"{prefix}gibsey.pipeline.error")
    poison = b"\x00not an envelope " + uuid.uuid4().hex.encode()
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(f"{prefix}gibsey.generate.page.request", value=poison, key=session.encode()).get(timeout=30)
    producer.close()

    sse = stream(gateway, session)
    post_symbol(gateway, session, 0x40, "S05-P0014")
    assert json.loads(sse.next("page.done")["data"])["payload"]["character"] == "jacklyn-variance"
    sse.close()

    dead = [decode_event(r.value) for r in _read_from(bootstrap, dlq_start)]
    ours = env["GIBSEY_CONSUMER_GROUP_PREFIX"] + "page_generator"  # other deployments may dead-letter it too
    mine = [e for e in dead if base64.b64decode(e.payload.original_value_b64) == poison
            and e.payload.consumer_group == ours]
    assert len(mine) == 1
    failed = mine[0].payload
    assert failed.source_topic == f"{prefix}gibsey.generate.page.request"
    assert failed.error.startswith("unparseable: event: not valid JSON")
    assert failed.key == session
    # The reader is told too: the envelope could not be read, so the session comes from the record's key.
    ours = env["GIBSEY_RPC_PREFIX"] + "page_generator"  # other test runs' consumers may dead-letter it too
    told = _events_until(bootstrap, pipeline_error_start,
                         lambda e: e.session_id == session and e.payload.stage == ours)
    assert len(told) == 1 and told[0].type == "PipelineFailed"
    assert told[0].payload.reason == "unparseable" and told[0].payload.original_event_id is None
    assert told[0].payload.source_topic == "gibsey.generate.page.request"


def test_a_failing_handler_is_retried_then_dead_lettered_and_the_reader_told(gateway, functions, env,
                                                                             cassandra_session, stack_settings):
    """A selection standing on a page that does not exist passes the envelope checks but fails in the
    enricher every time: after GIBSEY_MAX_ATTEMPTS it goes to the DLQ and the reader's stream hears of it
    (a PipelineFailed, without the original bytes), also when resuming with Last-Event-ID."""
    from shared.events import Envelope, SymbolSelected, to_record

    session = f"failing-{uuid.uuid4().hex[:8]}"
    sse = stream(gateway, session)
    selection = Envelope.wrap(SymbolSelected(symbol_code=0x10, page_id="S02-P0999"), session_id=session)
    record = to_record(selection, env["GIBSEY_TOPIC_PREFIX"])
    producer = KafkaProducer(bootstrap_servers=env["KAFKA_BROKERS"])
    producer.send(record.topic, value=record.value, key=record.key, headers=list(record.headers)).get(timeout=30)
    producer.close()
    told = sse.next("pipeline.error")
    sse.close()
    error = json.loads(told["data"])
    failed = error["payload"]
    assert error["type"] == "PipelineFailed" and error["session_id"] == session and told["id"] == error["event_id"]
    assert failed == {"stage": "enricher", "source_topic": "gibsey.ui.symbol", "reason": "retries-exhausted",
                      "error": "UnknownLocus: page S02-P0999 does not exist", "attempts": 3,
                      "original_event_id": str(selection.event_id), "original_type": "SymbolSelected"}

    ks = stack_settings.cassandra_keyspace
    deadline = time.monotonic() + 10
    while not (logged := {row.event_id for row in cassandra_session.execute(
            f"SELECT event_id, type FROM {ks}.events_log WHERE session_id = %s", (session,)) if row.type == "PipelineFailed"}):
        assert time.monotonic() < deadline, "the PipelineFailed never reached events_log"
        time.sleep(0.2)
    resumed = stream(gateway, session, last_event_id=str(selection.event_id))  # the enricher logged it
    replayed = resumed.next("pipeline.error", timeout=10)  # replayed from events_log, before anything live
    resumed.close()
    assert replayed["id"] in logged and json.loads(replayed["data"])["payload"] == failed


def test_run_symbol_synchronously_over_http_and_cli(gateway, functions, env):
    resp = httpx.post(f"{gateway}/api/v1/pipeline/run/symbol/112", json={"page_id": "S08-P0022"}, timeout=120)
    assert resp.status_code == 200, resp.text
    page = resp.json()["payload"]
    assert page["character"] == "princhetta" and page["symbol_code"] == 112
    assert httpx.get(f"{gateway}/api/v1/page/{page['page_id']}", timeout=10).json()["text"] == page["text"]
    assert httpx.post(f"{gateway}/api/v1/pipeline/run/symbol/999", timeout=10).status_code == 422
    missing = httpx.post(f"{gateway}/api/v1/pipeline/run/symbol/112", json={"page_id": "S08-P0999"}, timeout=60)
    assert missing.status_code == 404 and "S08-P0999" in missing.json()["detail"]

    cli = subprocess.run([str(BIN / "gibsey"), "run-symbol", "0x70", "--page", "S08-P0023"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert "Princhetta · XC (Read, Canon) · T0 · by canon-composer" in cli.stdout


def test_branch_forks_until_the_policy_refuses(gateway, functions):
    session = f"brancher-{uuid.uuid4().hex[:8]}"
    for page in ("S10-P0028", "S10-P0029"):
        resp = httpx.post(f"{gateway}/api/v1/branch/{page}", json={"session_id": session}, timeout=30)
        assert resp.status_code == 202, resp.text
        assert resp.json()["locus"] == page
    deadline = time.monotonic() + DONE_WITHIN_S
    while httpx.get(f"{gateway}/api/v1/pipeline/stats/section/10", timeout=10).json()["open_branches"] < 2:
        assert time.monotonic() < deadline, "the two forks were never written"
        time.sleep(0.3)
    refused = httpx.post(f"{gateway}/api/v1/branch/S10-P0030", json={"session_id": session}, timeout=30)
    assert refused.status_code == 409
    assert "2 branches are already open in this section" in refused.json()["detail"]
    assert httpx.post(f"{gateway}/api/v1/branch/S10-P0999", json={"session_id": session}, timeout=10).status_code == 404
