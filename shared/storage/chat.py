"""What a chat turn reads and writes in Cassandra: the character, canon page texts, the session's turns."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Sequence

from cassandra.cluster import Session
from cassandra.util import uuid_from_time

from shared.chat.grounding import CanonPageText
from shared.summaries.store import SummaryStore
from shared.storage.aio import execute
from shared.symbols import CHARACTERS, Provenance


@dataclass(frozen=True)
class Persona:
    char_id: str
    display_name: str
    colour: str
    system_prompt: str


@dataclass(frozen=True)
class Turn:
    role: str
    content: str


class ChatStore:
    def __init__(self, session: Session, keyspace: str) -> None:
        self._session = session
        p = session.prepare
        self._character = p(f"SELECT display_name, colour, system_prompt FROM {keyspace}.characters "
                            f"WHERE character_id = ?")
        self._page = p(f"SELECT page_id, page_num, section, title, char_hex, provenance, text FROM {keyspace}.pages "
                       f"WHERE page_id = ?")
        self._turns = p(f"SELECT role, content FROM {keyspace}.chat_turns WHERE session_id = ? AND char_id = ? "
                        f"LIMIT ?")
        self._summaries = SummaryStore(session, keyspace)
        self._notes_run: str | None = None  # the summary run whose notes `_notes_by_page` holds
        self._notes_by_page: dict[str, dict] = {}
        self._add_turn = p(f"INSERT INTO {keyspace}.chat_turns (session_id, char_id, turn_at, role, content, "
                           f"request_id, generator) VALUES (?, ?, ?, ?, ?, ?, ?)")

    async def persona(self, char_id: str) -> Persona | None:
        rows = await execute(self._session, self._character, (char_id,))
        if not rows:
            return None
        row = rows[0]
        return Persona(char_id, row.display_name, row.colour, row.system_prompt or "")

    async def canon_pages(self, page_ids: Sequence[str]) -> dict[int, CanonPageText]:
        """The canon pages among `page_ids`, by page number (generated pages are not quotable canon)."""
        results = await asyncio.gather(*(execute(self._session, self._page, (pid,)) for pid in dict.fromkeys(page_ids)))
        pages = {}
        for rows in results:
            for r in rows:
                if r.provenance == Provenance.CANON.value and r.page_num and r.text:
                    pages[r.page_num] = CanonPageText(r.page_id, r.page_num, r.section, r.title or "",
                                                      CHARACTERS[r.char_hex].id, r.text)
        return pages

    async def cluster_note(self, page_id: str) -> dict | None:
        """The latest nightly summary of the cluster the page belongs to (None before the first run, or for a
        page newer than the run). A turn reads only the run pointer; the run's notes are read once per run."""
        run_id = (await asyncio.to_thread(self._summaries.pointer)).run_id
        if run_id is None:
            return None
        if self._notes_run != run_id:
            self._notes_run, self._notes_by_page = await asyncio.to_thread(self._summaries.notes_by_page)
        return self._notes_by_page.get(page_id)

    async def recent_turns(self, session_id: str, char_id: str, limit: int) -> list[Turn]:
        rows = await execute(self._session, self._turns, (session_id, char_id, limit))
        return [Turn(r.role, r.content) for r in reversed(rows)]

    async def add_exchange(self, session_id: str, char_id: str, question: str, answer: str, request_id: str,
                           generator: str) -> None:
        now = time.time()
        asked, answered = uuid_from_time(now), uuid_from_time(now + 0.001)  # the answer sorts after the question
        await asyncio.gather(
            execute(self._session, self._add_turn, (session_id, char_id, asked, "user", question, request_id, None)),
            execute(self._session, self._add_turn, (session_id, char_id, answered, "assistant", answer, request_id,
                                                    generator)))
