"""`GET /api/v1/summaries` (the latest complete run) and `GET /api/v1/summaries/{cluster_id}`.

The source uses the gateway's shared Cassandra session (gateway/cassandra.py), opened on first use.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import falcon
import falcon.asgi

from gateway.cassandra import CassandraConnection, Lazy
from shared.events import EventValidationError
from shared.numbers import ascii_whole_number
from shared.storage.pages import PageNotFound
from shared.summaries.store import SummaryStore


class SummarySource(Protocol):
    async def latest(self) -> dict[str, Any]: ...

    async def cluster(self, cluster_id: int) -> dict[str, Any] | None: ...

    async def last_run(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...


class CassandraSummaries:
    def __init__(self, connection: CassandraConnection):
        self._store = Lazy(connection, SummaryStore)

    async def _ready(self) -> SummaryStore:
        return await self._store.get()

    async def latest(self) -> dict[str, Any]:
        pointer, rows = await asyncio.to_thread((await self._ready()).latest)
        return {"run": pointer.as_dict(), "clusters": [r.as_dict() for r in sorted(rows, key=lambda r: r.cluster_id)]}

    async def last_run(self) -> dict[str, Any]:
        """The pointer alone (one row): the last complete run, its age and the last failure, for /health."""
        return (await asyncio.to_thread((await self._ready()).pointer)).as_dict()

    async def cluster(self, cluster_id: int) -> dict[str, Any] | None:
        row = await asyncio.to_thread((await self._ready()).cluster, cluster_id)
        return row.as_dict() if row else None

    async def close(self) -> None:
        await self._store.close()


class SummariesResource:
    def __init__(self, source: SummarySource):
        self._source = source

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = await self._source.latest()


class SummaryByClusterResource:
    def __init__(self, source: SummarySource):
        self._source = source

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, cluster_id: str) -> None:
        number = ascii_whole_number(cluster_id, max_digits=6)
        if number is None:
            raise EventValidationError([f"cluster_id: must be a whole number 0..999999, got {cluster_id!r}"])
        found = await self._source.cluster(number)
        if found is None:
            raise PageNotFound(f"no cluster {cluster_id} in the latest summary run")
        resp.media = found
