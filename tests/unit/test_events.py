import json
from pathlib import Path

import pytest

from shared import topics
from shared.events import (
    Envelope,
    EventValidationError,
    PageGenerated,
    PageRequested,
    SymbolSelected,
    decode_event,
    to_record,
)

SEEDS = json.loads((Path(__file__).parents[1] / "fixtures" / "seed_events.json").read_text())


@pytest.mark.parametrize("seed", SEEDS, ids=[s["type"] for s in SEEDS])
def test_seed_examples_are_accepted_and_round_trip(seed):
    event = decode_event(json.dumps(seed).encode())
    assert event.type == seed["type"]
    assert str(event.event_id) == seed["event_id"]
    assert decode_event(event.to_bytes()) == event


def test_payload_classes_travel_on_their_topics():
    assert SymbolSelected.TOPIC is topics.UI_SYMBOL
    assert PageRequested.TOPIC is topics.GENERATE_PAGE_REQUEST
    assert PageGenerated.TOPIC is topics.GENERATE_PAGE_DONE


def test_record_is_keyed_by_session_and_carries_symbol_headers():
    event = Envelope.wrap(decode_event(SEEDS[1]).payload, session_id="reader-7")
    record = to_record(event)
    assert record.topic == "gibsey.generate.page.request"
    assert record.key == b"reader-7"
    headers = dict(record.headers)
    assert headers["x-character"] == b"an-author"
    assert headers["x-section"] == b"1"
    assert headers["x-symbol"] == b"0"
    assert headers["x-orientation"] == b"X"
    assert headers["x-provenance"] == b"C"
    assert headers["x-trajectory"] == b"T0"
    assert headers["x-event-type"] == b"PageRequested"


def test_wrap_fills_identity_and_time():
    a = Envelope.wrap(SymbolSelected(symbol_code=17), session_id="s1")
    b = Envelope.wrap(SymbolSelected(symbol_code=17), session_id="s1")
    assert a.event_id != b.event_id
    assert a.ts.tzinfo is not None
    assert a.type == "SymbolSelected" and a.version == 1


def _with(seed_index, **payload_changes):
    event = json.loads(json.dumps(SEEDS[seed_index]))
    for key, value in payload_changes.items():
        if key.startswith("env_"):
            event[key[4:]] = value
        else:
            event["payload"][key] = value
    return event


@pytest.mark.parametrize("event, field, why", [
    (_with(0, symbol_code=256), "payload.symbol_code", "less than or equal to 255"),
    (_with(0, symbol_code=-1), "payload.symbol_code", "greater than or equal to 0"),
    (_with(0, symbol_code="12"), "payload.symbol_code", "valid integer"),
    (_with(1, trajectory_hint="T4"), "payload.trajectory_hint", "'T0', 'T1', 'T2' or 'T3'"),
    (_with(2, trajectory="sideways"), "payload.trajectory", "'T0', 'T1', 'T2' or 'T3'"),
    (_with(2, text="x" * 20_001), "payload.text", "at most 20000 characters"),
    (_with(2, text="   "), "payload.text", "blank"),
    (_with(0, page_id="page-7"), "payload.page_id", "not a canon id"),
    (_with(0, user_intent="?" * 2_001), "payload.user_intent", "at most 2000"),
    (_with(1, char_hex=2), "payload", "does not match char_hex 2"),
    (_with(1, section=17), "payload.section", "less than or equal to 16"),
    (_with(0, surprise=True), "payload.surprise", "Extra inputs are not permitted"),
    (_with(0, env_session_id=""), "session_id", "at least 1 character"),
    (_with(0, env_ts="2026-11-21T10:00:00"), "ts", "timezone"),
    (_with(0, env_version=2), "event", "version 2 is not supported"),
])
def test_bad_events_are_refused_naming_field_and_reason(event, field, why):
    with pytest.raises(EventValidationError) as info:
        decode_event(event)
    assert any(p.startswith(f"{field}:") and why in p for p in info.value.problems), info.value.problems


def test_missing_session_id_is_named():
    event = json.loads(json.dumps(SEEDS[0]))
    del event["session_id"]
    with pytest.raises(EventValidationError, match="session_id: Field required"):
        decode_event(event)


@pytest.mark.parametrize("raw, why", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "expected a JSON object"),
    ({"type": "PageDeleted"}, "not a known event type"),
    (b" " * (256 * 1024 + 1), "over the"),
])
def test_unreadable_events_are_refused(raw, why):
    with pytest.raises(EventValidationError, match=why):
        decode_event(raw)


def test_models_are_frozen():
    event = decode_event(SEEDS[0])
    with pytest.raises(Exception):
        event.payload.symbol_code = 3  # type: ignore[misc]


def test_a_topic_prefix_namespaces_the_record():
    event = Envelope.wrap(SymbolSelected(symbol_code=3), session_id="s")
    assert to_record(event).topic == "gibsey.ui.symbol"
    assert to_record(event, "test.").topic == "test.gibsey.ui.symbol"
