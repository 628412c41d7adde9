"""The gateway's page source: Cassandra, through the gateway's shared session (gateway/cassandra.py)."""

from __future__ import annotations

from typing import Any, Protocol

from gateway.cassandra import CassandraConnection, Lazy
from shared.storage.pages import PageReader


class PageSource(Protocol):
    async def by_number(self, number: int) -> dict[str, Any]: ...

    async def by_id(self, page_id: str) -> dict[str, Any]: ...

    async def events_after(self, session_id: str, last_event_id: str, types: tuple[str, ...]) -> list: ...

    async def section_stats(self, section: int) -> dict[str, int]: ...

    async def close(self) -> None: ...


class CassandraPages:
    def __init__(self, connection: CassandraConnection):
        self._reader = Lazy(connection, PageReader)

    async def by_number(self, number: int) -> dict[str, Any]:
        return await (await self._reader.get()).by_number(number)

    async def by_id(self, page_id: str) -> dict[str, Any]:
        return await (await self._reader.get()).by_id(page_id)

    async def events_after(self, session_id: str, last_event_id: str, types: tuple[str, ...]) -> list:
        return await (await self._reader.get()).events_after(session_id, last_event_id, types)

    async def section_stats(self, section: int) -> dict[str, int]:
        return await (await self._reader.get()).section_stats(section)

    async def close(self) -> None:
        await self._reader.close()
