"""`GET /health`: each dependency with status, latency and version; 200 when the required ones are up.
Also the nightly summaries' last complete run, its age and the last failure (informational: a missed
night does not make the gateway unhealthy, but it must be visible)."""

from __future__ import annotations

import asyncio

import falcon
import falcon.asgi

from shared.health import Check, check_async

SUMMARIES_TIMEOUT_S = 1.0


class HealthResource:
    def __init__(self, checks: tuple[Check, ...], summaries=None):
        self._checks, self._summaries = checks, summaries

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        report = await check_async(self._checks)
        resp.media = report.as_dict()
        if self._summaries is not None:
            resp.media["summaries"] = await self._last_run()
        resp.status = falcon.HTTP_200 if report.healthy else falcon.HTTP_503
        resp.cache_control = ["no-store"]

    async def _last_run(self) -> dict:
        try:
            run = await asyncio.wait_for(self._summaries.last_run(), SUMMARIES_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - reported, never fatal to /health
            return {"status": "unknown", "detail": f"{type(exc).__name__}: {exc}"[:300]}
        return {"status": "ok" if run.get("run_id") else "none yet", **run}
