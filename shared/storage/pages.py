"""Reading pages for readers: by global number, or by id with edges and index signals (async, prepared)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timezone
from typing import Any

from cassandra.cluster import Session
from cassandra.util import datetime_from_uuid1

from shared.canon.model import CANON_BOOK
from shared.events import Envelope, Payload, decode_event
from shared.events.payloads import check_page_id
from shared.numbers import ascii_whole_number
from shared.storage.aio import execute
from shared.symbols import CHARACTERS


class PageNotFound(LookupError):
    """No page answers to that number or id; the message says which and, for numbers, the book's range."""


class InvalidPageReference(ValueError):
    """A page number or id that could never name a page (not a number, not an id)."""


def parse_whole_number(raw: str, what: str) -> int:
    """A non-negative whole number from a URL segment, or `InvalidPageReference` naming `what`."""
    number = ascii_whole_number(raw, max_digits=9)
    if number is None:
        raise InvalidPageReference(f"{what} must be a positive whole number, got {raw!r}")
    return number


def parse_page_number(raw: str) -> int:
    return parse_whole_number(raw, "page number")


def parse_page_id(raw: str) -> str:
    try:
        return check_page_id(raw)
    except ValueError as exc:
        raise InvalidPageReference(str(exc)) from None


class PageReader:
    """Prepared statements over one keyspace; every method is a coroutine that never blocks the loop.

    The book's numbering (page number -> page id, one small partition) changes only when a corpus is
    ingested, so it is cached for `numbering_ttl_s` seconds: a read by number is then one query, not three.
    """

    def __init__(self, session: Session, keyspace: str, *, numbering_ttl_s: float = 10.0):
        self._session = session
        self._numbering_ttl_s = numbering_ttl_s
        self._numbering: dict[int, str] = {}
        self._numbering_loaded_at = float("-inf")
        self._numbering_refresh: asyncio.Task | None = None
        prepare = session.prepare
        self._by_id = prepare(
            "SELECT page_id, page_num, title, text, section, char_hex, symbol_code, orientation, provenance, "
            f"trajectory, branch_depth FROM {keyspace}.pages WHERE page_id = ?")
        self._numbers = prepare(f"SELECT page_num, page_id FROM {keyspace}.page_numbers WHERE book = ?")
        self._edges = prepare(f"SELECT edge_type, target_id FROM {keyspace}.page_edges WHERE page_id = ?")
        self._session_log = prepare(
            f"SELECT ts, event_id, type, payload_json FROM {keyspace}.events_log WHERE session_id = ?")
        self._counters = prepare(
            f"SELECT open_branches, return_debt, pages_generated FROM {keyspace}.section_counters WHERE section = ?")
        self._signals = prepare(
            "SELECT entities, motifs, unresolved_anchors, novelty, coherence, updated_at "
            f"FROM {keyspace}.page_index_signals WHERE page_id = ?")

    async def numbering(self) -> dict[int, str]:
        """Page number -> page id for the canon, at most `numbering_ttl_s` old (one reload at a time)."""
        if time.monotonic() - self._numbering_loaded_at > self._numbering_ttl_s:
            if self._numbering_refresh is None:
                self._numbering_refresh = asyncio.ensure_future(self._load_numbering())
            refresh = self._numbering_refresh
            try:
                await asyncio.shield(refresh)
            finally:
                if self._numbering_refresh is refresh and refresh.done():
                    self._numbering_refresh = None
        return self._numbering

    async def _load_numbering(self) -> None:
        rows = await execute(self._session, self._numbers, (CANON_BOOK,))
        self._numbering = {row.page_num: row.page_id for row in rows}
        self._numbering_loaded_at = time.monotonic()

    async def max_page_number(self) -> int:
        return max(await self.numbering(), default=0)

    async def by_number(self, number: int) -> dict[str, Any]:
        numbering = await self.numbering()
        last = max(numbering, default=0)
        if number not in numbering:
            raise PageNotFound(f"no page {number}; the book has pages 1..{last}" if last else
                               "the book is empty: no corpus has been ingested")
        return _summary(await self._page_row(numbering[number]), last)

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
            "branch_depth": page.branch_depth or 0,
            "edges": _edges(edges),
            "index_signals": _signals(signals[0]) if signals else {},
        }

    async def events_after(self, session_id: str, last_event_id: str, types: tuple[str, ...]) -> list[Envelope[Payload]]:
        """The session's logged events of `types` after `last_event_id` (all of them if it is unknown)."""
        rows = await execute(self._session, self._session_log, (session_id,))
        position = next((i for i, row in enumerate(rows) if row.event_id == last_event_id), -1)
        return [
            decode_event({"event_id": row.event_id, "type": row.type, "version": 1,
                          "ts": datetime_from_uuid1(row.ts).replace(tzinfo=timezone.utc).isoformat(),
                          "session_id": session_id, "payload": json.loads(row.payload_json)})
            for row in rows[position + 1:] if row.type in types
        ]

    async def section_stats(self, section: int) -> dict[str, int]:
        rows = await execute(self._session, self._counters, (section,))
        row = rows[0] if rows else None
        return {"section": section, "open_branches": (row.open_branches or 0) if row else 0,
                "return_debt": (row.return_debt or 0) if row else 0,
                "pages_generated": (row.pages_generated or 0) if row else 0}

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
