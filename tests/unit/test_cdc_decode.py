import json
from pathlib import Path

import pytest

from shared.events import EventValidationError
from shared.rag.cdc import decode_page_change


def _event(op="i", after=None, source=None, schema=False):
    body = {"op": op, "ts_ms": 1, "source": source or {"keyspace": "gibsey", "table": "pages", "file": "CommitLog-7-1.log",
                                                        "pos": 42},
            "after": after if after is not None else {
                "page_id": {"value": "S03-P0042", "deletion_ts": None, "set": True},
                "text": {"value": "New text.", "deletion_ts": None, "set": True},
                "title": {"value": None, "deletion_ts": None, "set": False},
                "branch_root": None, "_range_start": None}}
    return json.dumps({"schema": {}, "payload": body} if schema else body).encode()


def test_insert_update_delete_are_read_with_the_columns_they_set():
    change = decode_page_change(_event("i"))
    assert (change.op, change.keyspace, change.table, change.page_id) == ("insert", "gibsey", "pages", "S03-P0042")
    assert change.columns == {"text"} and change.touches_index
    title_only = decode_page_change(_event("u", after={"page_id": {"value": "S03-P0042", "set": True},
                                                       "title": {"value": "T", "set": True}}))
    assert title_only.op == "update" and not title_only.touches_index
    assert decode_page_change(_event("d", after={"page_id": {"value": "S03-P0042", "set": True}})).touches_index
    assert decode_page_change(_event("r")).op == "delete"
    assert decode_page_change(_event("i", schema=True)).page_id == "S03-P0042"


def test_the_same_bytes_give_the_same_event_id():
    assert decode_page_change(_event()).event_id == decode_page_change(_event()).event_id


@pytest.mark.parametrize("raw, why", [
    (b"\xff\x00", "not valid JSON"),
    (b"[]", "expected a JSON object"),
    (_event(op="x"), "op: 'x' is not one of"),
    (_event(source={"file": "f"}), "keyspace and table are required"),
    (_event(after={"text": {"value": "t", "set": True}}), "after.page_id: missing"),
])
def test_malformed_change_events_are_refused(raw, why):
    with pytest.raises(EventValidationError, match=why):
        decode_page_change(raw)


REAL = json.loads((Path(__file__).parents[1] / "fixtures" / "debezium_pages.json").read_text())


def _raw(name: str) -> bytes:
    return json.dumps(REAL[name]["value"]).encode()


def test_a_real_debezium_insert_names_the_columns_it_wrote():
    change = decode_page_change(_raw("insert"))
    assert (change.op, change.table, change.page_id) == ("insert", "pages", REAL["insert"]["key"]["page_id"])
    assert change.keyspace == REAL["insert"]["value"]["source"]["keyspace"]
    # every other column of the table is null in `after`: not part of this mutation
    assert change.columns == {"char_hex", "page_num", "section", "text", "title"}
    assert change.touches_index


def test_a_real_debezium_delete_sets_every_column_to_a_deleted_null():
    event = REAL["delete"]["value"]
    cells = [cell for name, cell in event["after"].items() if name != "page_id" and cell is not None]
    assert cells and all(c["value"] is None and c["deletion_ts"] and c["set"] for c in cells)  # the fixture's shape
    change = decode_page_change(_raw("delete"))
    assert (change.op, change.page_id) == ("delete", REAL["delete"]["key"]["page_id"])
    assert "text" in change.columns and "_range_start" not in change.columns
    assert change.touches_index


def test_real_debezium_updates_carry_only_the_changed_columns():
    assert decode_page_change(_raw("update_text")).columns == {"text"}
    moved = decode_page_change(_raw("update_section"))
    assert moved.columns == {"section"}
    assert moved.touches_index  # the quote rows live in the section's partition: they must move


@pytest.mark.parametrize("column, indexed", [("text", True), ("section", True), ("page_num", True),
                                             ("char_hex", True), ("title", False), ("version", False)])
def test_updates_matter_when_they_touch_what_quote_vectors_are_made_from(column, indexed):
    raw = _event("u", after={"page_id": {"value": "S03-P0042", "set": True}, column: {"value": 1, "set": True}})
    assert decode_page_change(raw).touches_index is indexed
