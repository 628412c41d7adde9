"""Embedding pages into quote vectors and rebuilding section shards: the one code path shared by the CDC
embedder, the indexer and `gibsey reindex`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from cassandra.cluster import Session

from shared.rag.embedding import Embedder
from shared.rag.quotes import page_label, split_quotes
from shared.rag.shards import DEFAULT_TREES, build_shard
from shared.storage.vectors import StoredPage, VectorStore, text_hash
from shared.symbols import CHARACTERS


@dataclass(frozen=True)
class PageText:
    page_id: str
    section: int
    page_num: int | None
    char_hex: int
    text: str

    @property
    def character_id(self) -> str:
        return CHARACTERS[self.char_hex].id

    def made_from(self) -> StoredPage:
        """What stored vectors of this page must have been made from to be current."""
        return StoredPage(text_hash(self.text), self.section, self.page_num, self.character_id)


@dataclass(frozen=True)
class Embedded:
    """A page whose quotes were (re)written, and the sections its quotes were removed from (it moved)."""

    page: PageText
    left: tuple[int, ...] = ()

    @property
    def sections(self) -> tuple[int, ...]:
        """Every section whose shard this changed: the page's own first."""
        return (self.page.section, *self.left)


def embed_pages(store: VectorStore, embedder: Embedder, pages: Sequence[PageText], *, force: bool = False,
                before_record: Callable[[list[Embedded]], None] | None = None) -> list[Embedded]:
    """Quotes + vectors for the pages whose text, section, page number or character changed since they were
    last embedded (all with `force`); every quote of the batch goes to the model in one call. A page that
    moved loses its quotes in the section it left. `before_record` runs after the quotes are written and
    before the pages are recorded as embedded: if it raises, they still count as stale and a retry redoes
    them. Returns the pages it (re)embedded."""
    stored = {p.page_id: store.stored(p.page_id) for p in pages}
    todo = [p for p in pages if force or stored[p.page_id] != p.made_from()]
    quotes = [split_quotes(p.text, page_label(p.page_id, p.page_num)) for p in todo]
    vectors = embedder.encode([q.text for page_quotes in quotes for q in page_quotes])
    done: list[tuple[Embedded, object]] = []
    start = 0
    for page, page_quotes in zip(todo, quotes):
        page_vectors = vectors[start:start + len(page_quotes)]
        start += len(page_quotes)
        left = tuple(s for s in _quote_sections(store, page.page_id, stored[page.page_id]) if s != page.section)
        store.write_quotes(page_id=page.page_id, section=page.section, page_num=page.page_num,
                           character_id=page.character_id, quotes=page_quotes, vectors=page_vectors, leaving=left)
        done.append((Embedded(page, left), page_vectors))
    if before_record is not None:
        before_record([embedded for embedded, _ in done])
    for embedded, page_vectors in done:
        page = embedded.page
        store.record_page(page_id=page.page_id, section=page.section, page_num=page.page_num,
                          character_id=page.character_id, text=page.text, vectors=page_vectors)
    return [embedded for embedded, _ in done]


def stored_sections(store: VectorStore, page_id: str) -> tuple[int, ...]:
    """Where a page's quotes are, by its `page_vectors` row (none: the page has no stored vectors)."""
    return _quote_sections(store, page_id, store.stored(page_id))


def _quote_sections(store: VectorStore, page_id: str, stored: StoredPage | None) -> tuple[int, ...]:
    if stored is None:
        return ()
    if stored.section is None:  # written before migration 0012: look
        return tuple(store.sections_holding(page_id))
    return (stored.section,)


def remove_page(store: VectorStore, page_id: str,
                before_forget: Callable[[tuple[int, ...]], None] | None = None, *,
                look_everywhere: bool = False) -> tuple[int, ...]:
    """Delete a page's quotes and page vector; returns the sections whose shards held it. `before_forget` runs
    between the two (see embed_pages): the page vector goes last, so a failed step is found and redone.
    `look_everywhere` also finds quotes that lost their page vector (a removal cut short): one read per section."""
    sections = stored_sections(store, page_id)
    if not sections and look_everywhere:
        sections = tuple(store.sections_holding(page_id))
    for section in sections:
        store.delete_quotes(page_id, section)
    if before_forget is not None:
        before_forget(sections)
    store.forget_page(page_id)
    return sections


def stray_quotes(store: VectorStore, pages: Iterable[PageText]) -> dict[str, tuple[int, ...]]:
    """Quotes that no page should have: of pages that are gone (or lost their text), and of pages in a section
    other than their own (a move cut short). Page id -> the sections holding them."""
    home = {page.page_id: page.section for page in pages}
    return {page_id: tuple(sorted(s for s in sections if s != home.get(page_id)))
            for page_id, sections in store.embedded_page_ids().items()
            if page_id not in home or sections - {home[page_id]}}


def rebuild_sections(store: VectorStore, sections: Iterable[int], directory: Path,
                     trees: int = DEFAULT_TREES) -> dict[int, int]:
    return {section: build_shard(directory, section, store.section_quotes(section), trees)
            for section in sorted(set(sections))}


def pages_to_index(session: Session, keyspace: str, *, page_id: str | None = None,
                   section: int | None = None) -> list[PageText]:
    """Pages as stored in Cassandra (canon and generated), optionally one page or one section."""
    query = f"SELECT page_id, section, page_num, char_hex, text FROM {keyspace}.pages"
    if page_id is not None:
        rows = session.execute(query + " WHERE page_id = %s", (page_id,))
    else:
        rows = session.execute(query)
    return [PageText(r.page_id, r.section, r.page_num, r.char_hex, r.text or "") for r in rows
            if r.text and (section is None or r.section == section)]
