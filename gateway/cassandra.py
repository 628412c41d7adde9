"""One Cassandra session per gateway process, opened on first use and shared by every source (pages, chat,
summaries), so the gateway starts, and /health answers, while Cassandra is still booting or down.

Connecting and preparing statements block, so both run in a thread, once: `build(factory)` opens the
session if needed and returns `factory(session, keyspace)` (a store of prepared statements), built once
per factory by the `Lazy` holder each source keeps.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Generic, TypeVar

from cassandra.cluster import Session

from shared.config import Settings
from shared.storage.cassandra import close_session, open_session

T = TypeVar("T")


class CassandraConnection:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._session: Session | None = None
        self._lock = asyncio.Lock()

    async def session(self) -> Session:
        if self._session is None:
            async with self._lock:
                if self._session is None:
                    self._session = await asyncio.to_thread(open_session, self._settings, connect_timeout=5.0)
        return self._session

    @property
    def keyspace(self) -> str:
        return self._settings.cassandra_keyspace

    async def close(self) -> None:
        """Idempotent: every source sharing the session may call it."""
        session, self._session = self._session, None
        if session is not None:
            await asyncio.to_thread(close_session, session)


class Lazy(Generic[T]):
    """`factory(session, keyspace)` built on the shared session the first time it is needed."""

    def __init__(self, connection: CassandraConnection, factory: Callable[[Session, str], T]) -> None:
        self._connection, self._factory = connection, factory
        self._value: T | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> T:
        if self._value is None:
            async with self._lock:
                if self._value is None:
                    session = await self._connection.session()
                    self._value = await asyncio.to_thread(self._factory, session, self._connection.keyspace)
        return self._value

    async def close(self) -> None:
        self._value = None
        await self._connection.close()
