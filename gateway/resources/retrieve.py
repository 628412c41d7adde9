"""`GET /api/v1/retrieve?q=&k=&character=&section=`: the quotes closest to a query (RPC to retrieval)."""

from __future__ import annotations

import falcon.asgi

from gateway.rpc import ServiceCaller
from shared.events import EventValidationError
from shared.numbers import ascii_whole_number
from shared.rag.query import check_query


def _int_param(req: falcon.asgi.Request, name: str, default: int | None) -> int | None:
    raw = req.get_param(name)
    if raw is None or raw == "":
        return default
    number = ascii_whole_number(raw)
    if number is None:
        raise EventValidationError([f"{name}: must be a whole number, got {raw!r}"])
    return number


class RetrieveResource:
    def __init__(self, caller: ServiceCaller):
        self._caller = caller

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        query = req.get_param("q") or ""
        k = _int_param(req, "k", 12)
        section = _int_param(req, "section", None)
        character = req.get_param("character") or None
        try:
            check_query(query, k, character, section)
        except ValueError as exc:
            raise EventValidationError([str(exc)]) from None
        resp.media = await self._caller.call("retrieval", "search", query=query, k=k, character=character,
                                             section=section)
