"""`GET /health`: each dependency with status, latency and version; 200 when the required ones are up."""

from __future__ import annotations

import falcon
import falcon.asgi

from shared.health import Check, check_async


class HealthResource:
    def __init__(self, checks: tuple[Check, ...]):
        self._checks = checks

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        report = await check_async(self._checks)
        resp.media = report.as_dict()
        resp.status = falcon.HTTP_200 if report.healthy else falcon.HTTP_503
        resp.cache_control = ["no-store"]
