"""What the Kafka entrypoint says when a handler fails: a StepAudited "retry" per retried attempt; on giving up,
DeliveryFailed (gibsey.dlq, with the bytes), PipelineFailed (gibsey.pipeline.error, for the reader, without
them) and StepAudited "dead-lettered", plus the PipelineFailed appended to events_log for replay.

The run loop is driven by hand with fakes for Kafka and the container (no broker, no eventlet)."""

from __future__ import annotations

import base64
from collections import namedtuple

import pytest
from kafka.structs import TopicPartition

from shared.bus.entrypoint import KafkaEventConsumer
from shared.bus.failures import UNKNOWN_SESSION, Failure, dead_letter_notices, retry_notice
from shared.events import (DeliveryFailed, Envelope, PipelineFailed, StepAudited, SymbolSelected, decode_event,
                           to_record)
from shared.topics import CDC_PAGES, UI_SYMBOL

Record = namedtuple("Record", "topic partition offset key value headers")
TP = TopicPartition("test.gibsey.ui.symbol", 0)


def _record(value: bytes, key: bytes | None = b"reader-1", offset: int = 7) -> Record:
    return Record(TP.topic, TP.partition, offset, key, value, [("x-event-type", b"SymbolSelected")])


def _selection(session: str = "reader-1") -> Envelope[SymbolSelected]:
    return Envelope.wrap(SymbolSelected(symbol_code=0x10, page_id="S02-P0003"), session_id=session)


# -- the notices ------------------------------------------------------------------------------------------------

def test_a_parsed_message_is_reported_under_its_envelopes_session():
    event = _selection("from-envelope")
    failure = Failure("enricher", UI_SYMBOL, "g-enricher", _record(event.to_bytes(), key=b"other"), event,
                      "UnknownLocus: page S02-P0003 does not exist", attempts=3)
    notices = dead_letter_notices(failure)
    assert {n.session_id for n in notices.all()} == {"from-envelope"}
    reader = notices.reader.payload
    assert isinstance(reader, PipelineFailed)
    assert (reader.stage, reader.source_topic, reader.reason, reader.attempts) == (
        "enricher", "gibsey.ui.symbol", "retries-exhausted", 3)
    assert reader.original_event_id == str(event.event_id) and reader.original_type == "SymbolSelected"
    assert reader.error == "UnknownLocus: page S02-P0003 does not exist"
    assert "original_value_b64" not in notices.reader.to_json_dict()["payload"]  # no raw bytes for readers
    assert base64.b64decode(notices.dlq.payload.original_value_b64) == event.to_bytes()
    audit = notices.audit.payload
    assert (audit.outcome, audit.step, audit.handled_event_id) == ("dead-lettered", "enricher", str(event.event_id))


def test_an_unparseable_message_takes_its_session_from_a_session_keyed_records_key():
    poison = b"\x00not an envelope"
    failure = Failure("page_generator", UI_SYMBOL, "g", _record(poison, key=b"reader-9"), None,
                      "unparseable: event: not valid JSON", attempts=1)
    assert failure.session_id == "reader-9" and failure.concerns_a_reader
    notices = dead_letter_notices(failure)
    assert notices.reader.session_id == notices.dlq.session_id == notices.audit.session_id == "reader-9"
    assert notices.reader.payload.reason == "unparseable" and notices.reader.payload.original_event_id is None
    assert notices.audit.payload.handled_type == "unparseable"
    assert notices.audit.payload.handled_event_id == f"{TP.topic}/0@7"
    assert to_record(notices.reader, "test.").key == b"reader-9"
    assert to_record(notices.reader, "test.").topic == "test.gibsey.pipeline.error"


@pytest.mark.parametrize("topic, key", [
    (UI_SYMBOL, b"bad id!"),  # not a session id
    (UI_SYMBOL, b"\xff\xfe"),  # not even text
    (UI_SYMBOL, None),
    (CDC_PAGES, b"S01-P0007"),  # a page-keyed topic: the key is a page, not a reader
])
def test_without_a_readable_session_the_failure_is_nobodys(topic, key):
    failure = Failure("embedder", topic, "g", _record(b"junk", key=key), None, "unparseable: junk", attempts=1)
    assert failure.session_id == UNKNOWN_SESSION and not failure.concerns_a_reader
    assert dead_letter_notices(failure).reader.session_id == UNKNOWN_SESSION


def test_a_repeated_dead_letter_carries_the_same_event_ids_and_another_record_does_not():
    def ids(offset: int) -> list[str]:
        failure = Failure("s", UI_SYMBOL, "g", _record(b"x", offset=offset), None, "unparseable: x", attempts=1)
        return [str(n.event_id) for n in dead_letter_notices(failure).all()]

    assert ids(7) == ids(7)
    assert len(set(ids(7))) == 3 and not set(ids(7)) & set(ids(8))


def test_a_retry_is_audited_with_its_attempt():
    event = _selection()
    failure = Failure("enricher", UI_SYMBOL, "g", _record(event.to_bytes()), event, "Boom: once", attempts=1,
                      duration_ms=12.34)
    audit = retry_notice(failure, max_attempts=3)
    assert audit.payload.outcome == "retry" and audit.payload.detail == "attempt 1 of 3: Boom: once"
    assert audit.payload.duration_ms == 12.3 and audit.session_id == "reader-1"
    assert retry_notice(failure, 3).event_id != retry_notice(
        Failure("enricher", UI_SYMBOL, "g", failure.record, event, "Boom", attempts=2), 3).event_id


# -- the run loop ----------------------------------------------------------------------------------------------

class _Future:
    def get(self, timeout=None):
        return None

    def add_errback(self, callback):
        return self


class _Producer:
    def __init__(self):
        self.sent: list[tuple[str, bytes, bytes]] = []

    def send(self, topic, value=None, key=None, headers=None):
        self.sent.append((topic, key, value))
        return _Future()

    def events(self) -> list[Envelope]:
        return [decode_event(value) for _, _, value in self.sent]


class _Container:
    service_name = "enricher"

    def __init__(self, handler, config):
        self.handler, self.config = handler, config

    def spawn_worker(self, entrypoint, args, kwargs, context_data=None, handle_result=None):
        try:
            result = self.handler(*args)
        except Exception as exc:  # noqa: BLE001 - handed on as the worker would
            handle_result(None, None, (type(exc), exc, exc.__traceback__))
        else:
            handle_result(None, result, None)


class _Log:
    def __init__(self):
        self.appended: list[Envelope] = []

    def append(self, envelope):
        self.appended.append(envelope)
        return True


def _entrypoint(handler, max_attempts=3):
    ep = KafkaEventConsumer(UI_SYMBOL, group_id="enricher")
    ep.container = _Container(handler, {"GIBSEY_TOPIC_PREFIX": "test.", "GIBSEY_MAX_ATTEMPTS": max_attempts,
                                        "GIBSEY_RETRY_BACKOFF_S": 0, "GIBSEY_CONSUMER_GROUP_PREFIX": "t-"})
    ep.setup()
    ep._producer, ep._session_log = _Producer(), _Log()
    return ep


def _run_until_settled(ep, rounds: int = 10) -> None:
    for _ in range(rounds):
        ep._dispatch()
        ep._settle()


def test_the_entrypoint_audits_each_retry_then_dead_letters_and_tells_the_reader():
    def failing(event):
        raise LookupError("page S02-P0003 does not exist")

    ep = _entrypoint(failing)
    event = _selection("reader-5")
    ep._enqueue(TP, [_record(event.to_bytes(), key=b"reader-5")])
    _run_until_settled(ep)

    sent = ep._producer.events()
    audits = [e.payload for e in sent if isinstance(e.payload, StepAudited)]
    assert [a.outcome for a in audits] == ["retry", "retry", "dead-lettered"]
    assert [a.detail.split(":")[0] for a in audits[:2]] == ["attempt 1 of 3", "attempt 2 of 3"]
    assert {a.step for a in audits} == {"enricher"} and {a.handled_event_id for a in audits} == {str(event.event_id)}
    failed = [e for e in sent if isinstance(e.payload, PipelineFailed)]
    assert len(failed) == 1 and failed[0].session_id == "reader-5"
    assert failed[0].payload.error == "LookupError: page S02-P0003 does not exist"
    assert len([e for e in sent if isinstance(e.payload, DeliveryFailed)]) == 1
    assert {topic for topic, _, _ in ep._producer.sent} == {
        "test.gibsey.audit", "test.gibsey.dlq", "test.gibsey.pipeline.error"}
    assert ep._session_log.appended == [failed[0]]  # so Last-Event-ID replays it
    assert ep._tracker.committable() == {TP: 8}  # and the consumer moved on


def test_an_unparseable_message_is_dead_lettered_at_once_under_the_records_key():
    handled = []
    ep = _entrypoint(handled.append)
    ep._enqueue(TP, [_record(b"{not json", key=b"reader-6", offset=3), _record(_selection("reader-6").to_bytes(),
                                                                                key=b"reader-6", offset=4)])
    _run_until_settled(ep)
    sent = ep._producer.events()
    assert [type(e.payload).__name__ for e in sent] == ["DeliveryFailed", "PipelineFailed", "StepAudited"]
    assert {e.session_id for e in sent} == {"reader-6"}
    assert sent[1].payload.reason == "unparseable" and sent[2].payload.outcome == "dead-lettered"
    assert [e.session_id for e in ep._session_log.appended] == ["reader-6"]
    assert len(handled) == 1 and ep._tracker.committable() == {TP: 5}


def test_a_message_that_succeeds_on_retry_is_audited_once_as_a_retry_and_never_dead_lettered():
    calls = []

    def flaky(event):
        calls.append(event)
        if len(calls) == 1:
            raise TimeoutError("Cassandra was slow")

    ep = _entrypoint(flaky)
    ep._enqueue(TP, [_record(_selection().to_bytes())])
    _run_until_settled(ep)
    assert [e.payload.outcome for e in ep._producer.events()] == ["retry"]
    assert ep._session_log.appended == [] and len(calls) == 2
