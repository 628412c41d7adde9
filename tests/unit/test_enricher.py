"""The enricher's decoding and placement, over an in-memory store (the Cassandra one is covered live)."""

import pytest

from functions.enricher.enrich import UnknownLocus, enrich, request_event_id
from shared.events import Envelope, SymbolSelected, headers_for
from shared.qdpi.policy import SectionCounters
from shared.storage.pipeline import StoredPage
from shared.symbols import Trajectory


def _page(page_id, num, section, char_hex, depth=0, root=None, return_to=None):
    return StoredPage(page_id, num, f"title {page_id}", "text", section, char_hex, char_hex << 4, "T0", return_to,
                      root, depth)


class BookStore:
    def __init__(self, counters=SectionCounters()):
        self.pages = {p.page_id: p for p in [
            _page("S03-P0005", 5, 3, 2), _page("S03-P0006", 6, 3, 2), _page("S03-P0007", 7, 3, 2),
            _page("S02-P0004", 4, 2, 1),
            _page("0b0b0b0b-0000-4000-8000-000000000001", None, 3, 2, depth=3, root="S03-P0005",
                  return_to="S03-P0007")]}
        self.by_number = {p.page_num: p for p in self.pages.values() if p.page_num}
        self._counters = counters
        self.latest = {}

    def page(self, page_id):
        return self.pages.get(page_id)

    def latest_session_page(self, session_id, character_id):
        return self.latest.get((session_id, character_id))

    def first_page_of(self, character_id, section):
        return {"glyph-marrow": "S03-P0005", "london-fox": "S02-P0004"}.get(character_id)

    def previous_pages(self, page, count=3):
        found, here = [], page
        while len(found) < count:
            prev = self.by_number.get(here.page_num - 1) if here.page_num else self.pages.get(here.return_to)
            if prev is None:
                break
            found.append(prev)
            here = prev
        return found

    def counters(self, section):
        return self._counters


def _selected(code, page_id=None, intent="", session="reader-1"):
    return Envelope.wrap(SymbolSelected(symbol_code=code, page_id=page_id, user_intent=intent), session_id=session)


def test_decodes_the_symbol_and_places_it_on_the_given_page():
    event = _selected(0x2C, "S03-P0007")  # Glyph Marrow, ZC
    request = enrich(event, BookStore())
    r = request.payload
    assert (r.char_hex, r.behavior, r.symbol_code, r.section) == (2, 12, 0x2C, 3)
    assert r.page_id == "S03-P0007"
    assert r.context_ids == ("S03-P0006", "S03-P0005", "S02-P0004")
    assert r.trajectory_hint is Trajectory.CONTINUE
    assert request.session_id == "reader-1" and request.topic == "gibsey.generate.page.request"
    headers = {k: v.decode() for k, v in headers_for(request)}
    assert headers["x-character"] == "glyph-marrow" and headers["x-trajectory"] == "T0"


def test_the_request_id_is_derived_from_the_selection():
    event = _selected(0x20, "S03-P0006")
    assert enrich(event, BookStore()).event_id == enrich(event, BookStore()).event_id == request_event_id(
        str(event.event_id))


def test_locus_defaults_to_the_sessions_latest_page_then_the_characters_first():
    store = BookStore()
    assert enrich(_selected(0x10), store).payload.page_id == "S02-P0004"  # London Fox's first page
    store.latest[("reader-1", "glyph-marrow")] = "S03-P0006"
    assert enrich(_selected(0x20), store).payload.page_id == "S03-P0006"


def test_policy_shapes_the_hint():
    assert enrich(_selected(0x24, "S03-P0007"), BookStore()).payload.trajectory_hint is Trajectory.LOOP_BACK  # YC
    assert enrich(_selected(0x2D, "S03-P0007"), BookStore()).payload.trajectory_hint is Trajectory.FORK  # ZP
    refused = BookStore(counters=SectionCounters(open_branches=2))
    assert enrich(_selected(0x2D, "S03-P0007"), refused).payload.trajectory_hint is Trajectory.CONTINUE
    deep = "0b0b0b0b-0000-4000-8000-000000000001"
    assert enrich(_selected(0x20, deep), BookStore()).payload.trajectory_hint is Trajectory.RETURN


def test_an_unknown_locus_is_refused():
    with pytest.raises(UnknownLocus, match="S03-P0099"):
        enrich(_selected(0x20, "S03-P0099"), BookStore())
