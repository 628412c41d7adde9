"""The embedder's handling of one changed page (functions/embedder/sync.py) against an in-memory store that
behaves like shared/storage/vectors.py: at-least-once index updates, pages that move section or change page
number or character, deletes that touch only the section the page was in. The real store and the real CDC
agent are exercised in tests/services/test_rag_cdc.py."""

from __future__ import annotations

import numpy as np
import pytest

from functions.embedder.sync import UnindexablePage, sync_page
from shared.rag.indexing import PageText
from shared.storage.vectors import StoredPage, text_hash
from shared.symbols import SECTION_COUNT

PAGE_ID = "0b6f7c1e-4c1a-4f57-9d5e-2a3b4c5d6e7f"  # a branch page: its id says nothing about its section


class MemoryStore:
    """VectorStore's contract in memory; `calls` records every write and lookup, in order."""

    def __init__(self) -> None:
        self.quotes: dict[tuple[int, str], list[tuple[str, int | None, str, str]]] = {}
        self.pages: dict[str, StoredPage] = {}
        self.calls: list[tuple] = []

    def stored(self, page_id):
        return self.pages.get(page_id)

    def write_quotes(self, *, page_id, section, page_num, character_id, quotes, vectors, leaving=()):
        self.calls.append(("write", section))
        self.quotes[(section, page_id)] = [(q.loc, page_num, character_id, q.text) for q in quotes]
        for old in leaving:
            if old != section:
                self.delete_quotes(page_id, old)

    def record_page(self, *, page_id, section, page_num, character_id, text, vectors):
        self.calls.append(("record", section))
        self.pages[page_id] = StoredPage(text_hash(text), section, page_num, character_id)

    def delete_quotes(self, page_id, section):
        self.calls.append(("delete", section))
        self.quotes.pop((section, page_id), None)

    def forget_page(self, page_id):
        self.calls.append(("forget",))
        self.pages.pop(page_id, None)

    def sections_holding(self, page_id):
        self.calls.append(("look",))
        return [s for s in range(1, SECTION_COUNT + 1) if (s, page_id) in self.quotes]

    def sections_of(self, page_id) -> list[int]:
        return sorted(s for s, p in self.quotes if p == page_id)


class CountingEmbedder:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def encode(self, texts):
        self.texts.extend(texts)
        return np.ones((len(texts), 384), dtype=np.float32)


class Announcements:
    """notify(): records (section, op); the calls numbered in `failing` (from 1) raise, as a broker that does
    not acknowledge makes the publisher do."""

    def __init__(self, failing: tuple[int, ...] = ()) -> None:
        self.sent: list[tuple[int, str]] = []
        self.failing, self.calls = failing, 0

    def __call__(self, update) -> None:
        self.calls += 1
        if self.calls in self.failing:
            raise RuntimeError("broker did not acknowledge")
        self.sent.append((update.section, update.op))


def page(text="One sentence here. Another one.", section=3, page_num=None, char_hex=2, page_id=PAGE_ID):
    return PageText(page_id, section, page_num, char_hex, text)


@pytest.fixture
def store():
    return MemoryStore()


def test_a_new_page_is_embedded_announced_and_recorded_in_that_order(store):
    notify, embedder = Announcements(), CountingEmbedder()
    assert sync_page(store, embedder, PAGE_ID, page(), notify) == "upsert"
    assert notify.sent == [(3, "upsert")]
    assert store.sections_of(PAGE_ID) == [3] and store.stored(PAGE_ID).section == 3
    assert [c[0] for c in store.calls] == ["write", "record"]


def test_an_index_update_that_failed_is_sent_again_when_the_change_is_retried(store):
    embedder = CountingEmbedder()
    with pytest.raises(RuntimeError, match="did not acknowledge"):
        sync_page(store, embedder, PAGE_ID, page(), Announcements(failing=(1,)))
    assert store.sections_of(PAGE_ID) == [3]  # the quotes were written ...
    assert store.stored(PAGE_ID) is None  # ... but the page is not recorded as embedded
    retry = Announcements()
    assert sync_page(store, embedder, PAGE_ID, page(), retry) == "upsert"
    assert retry.sent == [(3, "upsert")]


def test_a_current_page_is_announced_anyway(store):
    """Vectors written by someone whose update never reached the indexer (`gibsey reindex` stopped before its
    rebuild, or an older embedder): the next change of the page still gets its section rebuilt."""
    sync_page(store, CountingEmbedder(), PAGE_ID, page(), Announcements())
    embedder, notify = CountingEmbedder(), Announcements()
    assert sync_page(store, embedder, PAGE_ID, page(), notify) == "unchanged"
    assert notify.sent == [(3, "upsert")] and embedder.texts == []  # announced, not re-embedded


def test_a_page_that_moves_section_leaves_no_quotes_behind(store):
    sync_page(store, CountingEmbedder(), PAGE_ID, page(section=3), Announcements())
    notify = Announcements()
    assert sync_page(store, CountingEmbedder(), PAGE_ID, page(section=5), notify) == "moved"
    assert store.sections_of(PAGE_ID) == [5]
    assert sorted(notify.sent) == [(3, "delete"), (5, "upsert")]
    assert store.stored(PAGE_ID).section == 5


def test_a_move_whose_announcement_failed_still_clears_the_old_section_on_the_retry(store):
    sync_page(store, CountingEmbedder(), PAGE_ID, page(section=3), Announcements())
    with pytest.raises(RuntimeError):
        sync_page(store, CountingEmbedder(), PAGE_ID, page(section=5), Announcements(failing=(2,)))  # the old one
    retry = Announcements()
    sync_page(store, CountingEmbedder(), PAGE_ID, page(section=5), retry)
    assert sorted(retry.sent) == [(3, "delete"), (5, "upsert")]  # the old section's shard is rebuilt too


@pytest.mark.parametrize("change", [{"page_num": 12}, {"char_hex": 7}])
def test_a_new_page_number_or_character_rewrites_the_quote_rows(store, change):
    sync_page(store, CountingEmbedder(), PAGE_ID, page(), Announcements())
    notify = Announcements()
    assert sync_page(store, CountingEmbedder(), PAGE_ID, page(**change), notify) == "upsert"
    loc, page_num, character_id, _ = store.quotes[(3, PAGE_ID)][0]
    if "page_num" in change:
        assert (loc, page_num) == ("p12-1", 12)
    else:
        assert character_id == page(**change).character_id != page().character_id
    assert notify.sent == [(3, "upsert")]


def test_deleting_a_branch_page_touches_only_its_own_section(store):
    sync_page(store, CountingEmbedder(), PAGE_ID, page(section=9), Announcements())
    store.calls.clear()
    notify = Announcements()
    assert sync_page(store, CountingEmbedder(), PAGE_ID, None, notify) == "delete"
    assert notify.sent == [(9, "delete")]  # one section rebuilt, not 16
    assert store.calls == [("delete", 9), ("forget",)]
    assert store.sections_of(PAGE_ID) == [] and store.stored(PAGE_ID) is None
    assert sync_page(store, CountingEmbedder(), PAGE_ID, None, Announcements()) == "absent"  # a repeated delete


def test_a_delete_whose_announcement_failed_is_redone(store):
    sync_page(store, CountingEmbedder(), PAGE_ID, page(section=9), Announcements())
    with pytest.raises(RuntimeError):
        sync_page(store, CountingEmbedder(), PAGE_ID, None, Announcements(failing=(1,)))
    retry = Announcements()
    assert sync_page(store, CountingEmbedder(), PAGE_ID, None, retry) == "delete"
    assert retry.sent == [(9, "delete")]


def test_rows_from_before_the_section_was_recorded_are_looked_for(store):
    store.quotes[(4, PAGE_ID)] = [("pX-1", None, "an-author", "Old.")]
    store.pages[PAGE_ID] = StoredPage(text_hash("Old."), None, None, None)  # written before migration 0012
    notify = Announcements()
    assert sync_page(store, CountingEmbedder(), PAGE_ID, page(section=6, text="Old."), notify) == "moved"
    assert store.sections_of(PAGE_ID) == [6] and sorted(notify.sent) == [(4, "delete"), (6, "upsert")]


@pytest.mark.parametrize("bad, why", [
    ({"section": 0}, "section"), ({"section": None}, "section"), ({"page_id": "not-an-id"}, "page_id"),
    ({"char_hex": None}, "char_hex"), ({"char_hex": 16}, "char_hex"),
])
def test_a_page_that_cannot_be_indexed_is_refused_before_anything_is_written(store, bad, why):
    bad_page = page(**bad)
    with pytest.raises(UnindexablePage, match=why):
        sync_page(store, CountingEmbedder(), bad_page.page_id, bad_page, Announcements())
    assert store.calls == [] and store.quotes == {}
