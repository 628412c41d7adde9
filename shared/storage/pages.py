"""Reading pages for readers: by global number, or by id with edges and index signals (async, prepared)."""

from __future__ import annotations

import asyncio
from typing import Any

from cassandra.cluster import Session

from shared.canon.model import CANON_BOOK
from shared.events.payloads import check_page_id
from shared.storage.aio import execute
from shared.symbols import CHARACTERS


class PageNotFound(LookupError):
    """No page answers to that number or id; the message says which and, for numbers, the book's range."""


class InvalidPageReference(ValueError):
    """A page number or id that could never name a page (not a number, not an id)."""


def parse_page_number(raw: str) -> int:
    text = raw.strip()
    if not text.isdigit() or len(text) > 9:
        raise InvalidPageReference(f"page number must be a positive whole number, got {raw!r}")
    return int(text)


def parse_page_id(raw: str) -> str:
    try:
        return check_page_id(raw)
    except ValueError as exc:
        raise InvalidPageReference(str(exc)) from None


class PageReader:
    """Prepared statements over one keyspace; every method is a coroutine that never blocks the loop."""

    def __init__(self, session: Session, keyspace: str):
        self._session = session
        prepare = session.prepare
        self._by_id = prepare(
            "SELECT page_id, page_num, title, text, section, char_hex, symbol_code, orientation, provenance, "
            f"trajectory FROM {keyspace}.pages WHERE page_id = ?")
        self._number = prepare(f"SELECT page_id FROM {keyspace}.page_numbers WHERE book = ? AND page_num = ?")
        self._last = prepare(
            f"SELECT page_num FROM {keyspace}.page_numbers WHERE book = ? ORDER BY page_num DESC LIMIT 1")
        self._edges = prepare(f"SELECT edge_type, target_id FROM {keyspace}.page_edges WHERE page_id = ?")
        self._signals = prepare(
            "SELECT entities, motifs, unresolved_anchors, novelty, coherence, updated_at "
            f"FROM {keyspace}.page_index_signals WHERE page_id = ?")

    async def max_page_number(self) -> int:
        rows = await execute(self._session, self._last, (CANON_BOOK,))
        return rows[0].page_num if rows else 0

    async def by_number(self, number: int) -> dict[str, Any]:
        rows, last = await asyncio.gather(execute(self._session, self._number, (CANON_BOOK, number)),
                                          self.max_page_number())
        if not rows:
            raise PageNotFound(f"no page {number}; the book has pages 1..{last}" if last else
                               "the book is empty: no corpus has been ingested")
        page = await self._page_row(rows[0].page_id)
        return _summary(page, last)

    async def by_id(self, page_id: str) -> dict[str, Any]:
        page, edges, signals, last = await asyncio.gather(
            self._page_row(page_id),
            execute(self._session, self._edges, (page_id,)),
            execute(self._session, self._signals, (page_id,)),
            self.max_page_number(),
        )
        return {
            **_summary(page, last),
            "symbol_code": page.symbol_code,
            "orientation": page.orientation,
            "provenance": page.provenance,
            "trajectory": page.trajectory,
            "edges": _edges(edges),
            "index_signals": _signals(signals[0]) if signals else {},
        }

    async def _page_row(self, page_id: str) -> Any:
        rows = await execute(self._session, self._by_id, (page_id,))
        if not rows:
            raise PageNotFound(f"no page with id {page_id}")
        return rows[0]


def _summary(page: Any, last: int) -> dict[str, Any]:
    character = CHARACTERS[page.char_hex]
    return {
        "page_id": page.page_id,
        "page_number": page.page_num,
        "title": page.title,
        "text": page.text,
        "section": page.section,
        "character": character.id,
        "character_name": character.display_name,
        "colour": character.colour,
        "max_page_number": last,
    }


def _edges(rows: list[Any]) -> dict[str, Any]:
    """Rows come in clustering order (edge_type, then time), so the last LOOP is the most recent."""
    by_type: dict[str, list[str]] = {}
    for row in rows:
        by_type.setdefault(row.edge_type, []).append(row.target_id)
    return {
        "next": (by_type.get("NEXT") or [None])[0],
        "loop_back_to": (by_type.get("LOOP") or [None])[-1],
        "forks": by_type.get("FORK", []),
        "mirrors": by_type.get("MIRROR", []),
    }


def _signals(row: Any) -> dict[str, Any]:
    return {
        "entities": sorted(row.entities or ()),
        "motifs": sorted(row.motifs or ()),
        "unresolved_anchors": sorted(row.unresolved_anchors or ()),
        "novelty": row.novelty,
        "coherence": row.coherence,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }
