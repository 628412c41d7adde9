"""`gibsey ingest`: write a loaded corpus into Cassandra as a closed ring, changing only what differs.

Per page, one logged batch writes `pages`, its NEXT edge, `page_numbers` and `pages_index` together, so a
page is never half-written; the edge's TIMEUUID is derived from the page number, so re-writing is an
upsert, not a second edge. Existing state is read first and compared, so a second run writes nothing and
says so. Canon pages already stored but absent from this corpus are only removed with `replace=True`:
a smaller corpus must not silently truncate a larger book.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, NamedTuple

from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import BatchStatement, BatchType
from cassandra.util import uuid_from_time

from shared.canon.model import CANON_BOOK, CanonCharacter, CanonPage, Corpus
from shared.symbols import CHARACTERS, Orientation, Provenance, Trajectory, encode

EXCERPT_CHARS = 280
CANON_AUTHOR = "canon"
# A fixed instant for the canon's deterministic TIMEUUIDs (the canon metadata's date), one microsecond per page.
_CANON_EPOCH = datetime(2025, 7, 5, tzinfo=timezone.utc).timestamp()
_CANON_NODE = int.from_bytes(b"gibsey", "big")
CONCURRENCY = 32


class IngestConflict(RuntimeError):
    """The keyspace holds canon pages this corpus does not have; replacing them must be asked for."""


def canon_timeuuid(page_number: int) -> uuid.UUID:
    return uuid_from_time(_CANON_EPOCH + page_number / 1_000_000, node=_CANON_NODE, clock_seq=0)


class PageRow(NamedTuple):
    """The `pages` columns ingest owns (created_at is kept from the first write)."""

    page_id: str
    char_hex: int
    behavior: int
    symbol_code: int
    section: int
    page_num: int
    title: str
    orientation: str
    provenance: str
    trajectory: str
    text: str
    author: str
    version: str


def page_row(page: CanonPage) -> PageRow:
    return PageRow(page.page_id, page.character.index, 0, encode(page.character.index, 0), page.section, page.number,
                   page.title, Orientation.READ.value, Provenance.CANON.value, Trajectory.CONTINUE.value, page.text,
                   CANON_AUTHOR, page.content_version)


def excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1].rsplit(" ", 1)[0] + "…"


@dataclass(frozen=True)
class IngestReport:
    pages_total: int
    pages_written: int
    characters_written: int
    stale_removed: int
    notes_written: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.pages_written or self.characters_written or self.stale_removed or self.notes_written)


@dataclass(frozen=True)
class StoredPage:
    row: PageRow | None
    created_at: datetime | None
    next_edges: tuple[tuple[uuid.UUID, str], ...]


class CanonStore:
    """Prepared statements for everything ingest reads and writes, in one keyspace."""

    def __init__(self, session, keyspace: str):
        self.session = session
        cols = ", ".join(PageRow._fields)
        p = session.prepare
        self.read_page = p(f"SELECT {cols}, created_at FROM {keyspace}.pages WHERE page_id = ?")
        self.read_next = p(f"SELECT created_at, target_id FROM {keyspace}.page_edges WHERE page_id = ? AND edge_type = 'NEXT'")
        self.read_numbers = p(f"SELECT page_num, page_id FROM {keyspace}.page_numbers WHERE book = ?")
        self.read_index = p(f"SELECT page_id, title, excerpt, created_ts FROM {keyspace}.pages_index "
                            f"WHERE character_id = ? AND section = ?")
        self.read_character = p(f"SELECT char_hex, display_name, colour, section, system_prompt "
                                f"FROM {keyspace}.characters WHERE character_id = ?")
        self.write_page = p(f"INSERT INTO {keyspace}.pages ({cols}, created_at) VALUES ({', '.join('?' * 14)})")
        self.write_next = p(f"INSERT INTO {keyspace}.page_edges (page_id, edge_type, created_at, target_id) "
                            f"VALUES (?, 'NEXT', ?, ?)")
        self.delete_edge = p(f"DELETE FROM {keyspace}.page_edges WHERE page_id = ? AND edge_type = ? AND created_at = ?")
        self.delete_edges = p(f"DELETE FROM {keyspace}.page_edges WHERE page_id = ?")
        self.write_number = p(f"INSERT INTO {keyspace}.page_numbers (book, page_num, page_id) VALUES (?, ?, ?)")
        self.delete_number = p(f"DELETE FROM {keyspace}.page_numbers WHERE book = ? AND page_num = ?")
        self.write_index = p(f"INSERT INTO {keyspace}.pages_index (character_id, section, page_id, title, excerpt, "
                             f"created_ts) VALUES (?, ?, ?, ?, ?, ?)")
        self.delete_index = p(f"DELETE FROM {keyspace}.pages_index WHERE character_id = ? AND section = ? AND page_id = ?")
        self.delete_page = p(f"DELETE FROM {keyspace}.pages WHERE page_id = ?")
        self.read_notes = p(f"SELECT section, note_key, body FROM {keyspace}.section_notes WHERE section = ?")
        self.write_note = p(f"INSERT INTO {keyspace}.section_notes (section, note_key, body, updated_at) "
                            f"VALUES (?, ?, ?, ?)")
        self.delete_note = p(f"DELETE FROM {keyspace}.section_notes WHERE section = ? AND note_key = ?")
        self.write_character = p(f"INSERT INTO {keyspace}.characters (character_id, char_hex, display_name, colour, "
                                 f"section, system_prompt, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)")

    def _many(self, statement, params: list[tuple]) -> list:
        results = execute_concurrent_with_args(self.session, statement, params, concurrency=CONCURRENCY,
                                               raise_on_first_error=True)
        return [list(result.result_or_exc) for result in results]

    def stored_pages(self, page_ids: list[str]) -> dict[str, StoredPage]:
        rows = self._many(self.read_page, [(pid,) for pid in page_ids])
        edges = self._many(self.read_next, [(pid,) for pid in page_ids])
        stored = {}
        for pid, page_rows, edge_rows in zip(page_ids, rows, edges):
            row = page_rows[0] if page_rows else None
            stored[pid] = StoredPage(
                PageRow(*(getattr(row, f) for f in PageRow._fields)) if row else None,
                row.created_at if row else None,
                tuple((e.created_at, e.target_id) for e in edge_rows),
            )
        return stored

    def stored_numbers(self) -> dict[int, str]:
        return {row.page_num: row.page_id for row in self.session.execute(self.read_numbers, (CANON_BOOK,))}

    def stored_index(self, partitions: list[tuple[str, int]]) -> dict[str, tuple]:
        found = {}
        for rows in self._many(self.read_index, partitions):
            for row in rows:
                found[row.page_id] = (row.title, row.excerpt, row.created_ts)
        return found

    def stored_notes(self, sections: list[int]) -> dict[tuple[int, str], str]:
        return {(row.section, row.note_key): row.body
                for rows in self._many(self.read_notes, [(s,) for s in sections]) for row in rows}

    def stored_characters(self, ids: list[str]) -> dict[str, tuple]:
        return {cid: tuple(rows[0]) if rows else None for cid, rows in zip(ids, self._many(self.read_character, [(c,) for c in ids]))}


def _page_batch(store: CanonStore, page: CanonPage, corpus: Corpus, stored: StoredPage, now: datetime) -> BatchStatement:
    batch = BatchStatement(batch_type=BatchType.LOGGED)
    edge_id = canon_timeuuid(page.number)
    target = corpus.page(corpus.next_number(page.number)).page_id
    batch.add(store.write_page, (*page_row(page), stored.created_at or now))
    for created, _ in stored.next_edges:
        if created != edge_id:
            batch.add(store.delete_edge, (page.page_id, "NEXT", created))
    batch.add(store.write_next, (page.page_id, edge_id, target))
    batch.add(store.write_number, (CANON_BOOK, page.number, page.page_id))
    batch.add(store.write_index, (page.character.id, page.section, page.page_id, page.title, excerpt(page.text), edge_id))
    return batch


def _page_is_current(page: CanonPage, corpus: Corpus, stored: StoredPage, numbers: dict[int, str],
                     index: dict[str, tuple]) -> bool:
    target = corpus.page(corpus.next_number(page.number)).page_id
    return (
        stored.row == page_row(page)
        and stored.next_edges == ((canon_timeuuid(page.number), target),)
        and numbers.get(page.number) == page.page_id
        and index.get(page.page_id) == (page.title, excerpt(page.text), canon_timeuuid(page.number))
    )


def _character_row(entry: CanonCharacter) -> tuple:
    c = entry.character
    return (c.index, c.display_name, c.colour, c.section, entry.system_prompt)


def ingest(
    session,
    keyspace: str,
    corpus: Corpus,
    *,
    replace: bool = False,
    on_progress: Callable[[int], None] = lambda n: None,
    on_plan: Callable[[int], None] = lambda n: None,
) -> IngestReport:
    """Bring the keyspace in line with `corpus`; `on_plan(n)` is told how many pages will be written, then
    `on_progress(k)` after each k of them."""
    store = CanonStore(session, keyspace)
    ids = [p.page_id for p in corpus.pages]
    numbers = store.stored_numbers()
    wanted = {p.number: p.page_id for p in corpus.pages}
    stale = {num: pid for num, pid in numbers.items() if wanted.get(num) != pid}
    if stale and not replace:
        sample = ", ".join(sorted(stale.values())[:5])
        raise IngestConflict(
            f"keyspace {keyspace} holds {len(stale)} canon page(s) this corpus does not have ({sample}"
            f"{' ...' if len(stale) > 5 else ''}); re-run with --replace to remove them, or use another "
            f"CASSANDRA_KEYSPACE")
    stored = store.stored_pages(ids)
    index = store.stored_index(sorted({(p.character.id, p.section) for p in corpus.pages}))
    todo = [p for p in corpus.pages if not _page_is_current(p, corpus, stored[p.page_id], numbers, index)]
    char_ids = [c.character.id for c in corpus.characters]
    stored_chars = store.stored_characters(char_ids)
    char_todo = [c for c in corpus.characters if stored_chars[c.character.id] != _character_row(c)]

    now = datetime.now(timezone.utc)
    if stale:
        _remove_stale(store, stale, numbers, wanted)
    on_plan(len(todo))
    for start in range(0, len(todo), CONCURRENCY):
        chunk = todo[start:start + CONCURRENCY]
        futures = [session.execute_async(_page_batch(store, p, corpus, stored[p.page_id], now)) for p in chunk]
        for future in futures:
            future.result()
        on_progress(len(chunk))
    for entry in char_todo:
        session.execute(store.write_character, (entry.character.id, *_character_row(entry), now))
    notes_written = _sync_notes(store, corpus, now)
    return IngestReport(len(corpus.pages), len(todo), len(char_todo), len(stale), notes_written)


def _sync_notes(store: CanonStore, corpus: Corpus, now: datetime) -> int:
    """Section notes as the corpus has them: changed ones upserted, ones it no longer has removed (only in
    sections the corpus has notes for, so a corpus without the file leaves earlier notes alone)."""
    wanted = {(n.section, n.key): n.body for n in corpus.section_notes}
    stored = store.stored_notes(sorted({section for section, _ in wanted}))
    writes = [(section, key, body, now) for (section, key), body in wanted.items() if stored.get((section, key)) != body]
    deletes = [key for key in stored if key not in wanted]
    if writes:
        store._many(store.write_note, writes)
    if deletes:
        store._many(store.delete_note, deletes)
    return len(writes) + len(deletes)


def _remove_stale(store: CanonStore, stale: dict[int, str], numbers: dict[int, str], wanted: dict[int, str]) -> None:
    """Delete canon pages the new corpus does not have (only with replace=True), each in one batch."""
    still_wanted = set(wanted.values())
    for num, page_id in stale.items():
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        if num not in wanted:
            batch.add(store.delete_number, (CANON_BOOK, num))
        if page_id not in still_wanted:
            row = store.session.execute(store.read_page, (page_id,)).one()
            if row is not None:
                batch.add(store.delete_index, (CHARACTERS[row.char_hex].id, row.section, page_id))
            batch.add(store.delete_edges, (page_id,))
            batch.add(store.delete_page, (page_id,))
        store.session.execute(batch)
