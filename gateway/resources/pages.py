"""`GET /pages/{n}` (a page by its global number) and `GET /api/v1/page/{page_id}` (hydrated)."""

from __future__ import annotations

import falcon.asgi

from gateway.pages import PageSource
from shared.storage.pages import parse_page_id, parse_page_number


class PageByNumberResource:
    def __init__(self, pages: PageSource):
        self._pages = pages

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, number: str) -> None:
        resp.media = await self._pages.by_number(parse_page_number(number))


class PageByIdResource:
    def __init__(self, pages: PageSource):
        self._pages = pages

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, page_id: str) -> None:
        resp.media = await self._pages.by_id(parse_page_id(page_id))
