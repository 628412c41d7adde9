"""Awaiting cassandra-driver queries from asyncio without blocking the event loop.

The driver runs its own I/O thread and completes a `ResponseFuture` there; we hand the result to the
loop with `call_soon_threadsafe`, so a coroutine awaits a query the way it awaits anything else.
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

from cassandra.cluster import Session


def _settle(future: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
    if future.done():  # the awaiting request was cancelled (client went away)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def execute(session: Session, statement: Any, params: Sequence[Any] | None = None) -> list[Any]:
    """Run one statement and return all its rows, following the driver's result pages."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()
    response = session.execute_async(statement, params)
    rows: list[Any] = []

    def on_page(page: Any) -> None:  # runs on the driver's thread
        rows.extend(page or ())
        if response.has_more_pages:
            response.start_fetching_next_page()
        else:
            loop.call_soon_threadsafe(_settle, future, rows)

    response.add_callbacks(
        callback=on_page,
        errback=lambda exc: loop.call_soon_threadsafe(_settle, future, None, exc),
    )
    return await future
