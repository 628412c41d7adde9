import json

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
    assert change.columns == {"text"} and change.touches_text
    title_only = decode_page_change(_event("u", after={"page_id": {"value": "S03-P0042", "set": True},
                                                       "title": {"value": "T", "set": True}}))
    assert title_only.op == "update" and not title_only.touches_text
    assert decode_page_change(_event("d", after={"page_id": {"value": "S03-P0042", "set": True}})).touches_text
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
