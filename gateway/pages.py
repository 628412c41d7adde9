"""The gateway's page source: Cassandra, connected on first use so the gateway starts (and /health
answers) even while Cassandra is still booting or down."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from shared.config import Settings
from shared.storage.cassandra import close_session, open_session
from shared.storage.pages import PageReader


class PageSource(Protocol):
    async def by_number(self, number: int) -> dict[str, Any]: ...

    async def by_id(self, page_id: str) -> dict[str, Any]: ...

    async def events_after(self, session_id: str, last_event_id: str, types: tuple[str, ...]) -> list: ...

    async def section_stats(self, section: int) -> dict[str, int]: ...

    async def close(self) -> None: ...


class CassandraPages:
    def __init__(self, settings: Settings):
        self._settings = settings
        self._reader: PageReader | None = None
        self._session = None
        self._lock = asyncio.Lock()

    async def _ready(self) -> PageReader:
        if self._reader is None:
            async with self._lock:
                if self._reader is None:  # connecting and preparing block, so they run in a thread, once
                    session = await asyncio.to_thread(open_session, self._settings, connect_timeout=5.0)
                    self._reader = await asyncio.to_thread(PageReader, session, self._settings.cassandra_keyspace)
                    self._session = session
        return self._reader

    async def by_number(self, number: int) -> dict[str, Any]:
        return await (await self._ready()).by_number(number)

    async def by_id(self, page_id: str) -> dict[str, Any]:
        return await (await self._ready()).by_id(page_id)

    async def events_after(self, session_id: str, last_event_id: str, types: tuple[str, ...]) -> list:
        return await (await self._ready()).events_after(session_id, last_event_id, types)

    async def section_stats(self, section: int) -> dict[str, int]:
        return await (await self._ready()).section_stats(section)

    async def close(self) -> None:
        if self._session is not None:
            await asyncio.to_thread(close_session, self._session)
            self._session, self._reader = None, None
