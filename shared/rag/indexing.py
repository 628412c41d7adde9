"""Embedding pages into quote vectors and rebuilding section shards: the one code path shared by the CDC
embedder, the indexer and `gibsey reindex`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from cassandra.cluster import Session

from shared.rag.embedding import Embedder
from shared.rag.quotes import page_label, split_quotes
from shared.rag.shards import DEFAULT_TREES, build_shard
from shared.storage.vectors import VectorStore, text_hash
from shared.symbols import CHARACTERS


@dataclass(frozen=True)
class PageText:
    page_id: str
    section: int
    page_num: int | None
    char_hex: int
    text: str


def embed_pages(store: VectorStore, embedder: Embedder, pages: Sequence[PageText], *,
                force: bool = False) -> list[PageText]:
    """Quotes + vectors for the pages whose text changed since they were last embedded (all with `force`);
    every quote of the batch goes to the model in one call. Returns the pages it (re)embedded."""
    todo = [p for p in pages if force or store.stored_hash(p.page_id) != text_hash(p.text)]
    quotes = [split_quotes(p.text, page_label(p.page_id, p.page_num)) for p in todo]
    vectors = embedder.encode([q.text for page_quotes in quotes for q in page_quotes])
    start = 0
    for page, page_quotes in zip(todo, quotes):
        store.replace_page(page_id=page.page_id, section=page.section, page_num=page.page_num,
                           character_id=CHARACTERS[page.char_hex].id, text=page.text, quotes=page_quotes,
                           vectors=vectors[start:start + len(page_quotes)])
        start += len(page_quotes)
    return todo


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
