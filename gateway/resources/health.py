"""`GET /health`: each dependency with status, latency and version; 200 when the required ones are up.
Also the nightly summaries' last complete run, its age and the last failure, with a state: ok, stale (older
than GIBSEY_SUMMARY_MAX_AGE_H), failing (a run failed after it), none yet, or unknown (the store did not
answer). Informational: a missed night does not make the gateway unhealthy (no 503), but it must be visible."""

from __future__ import annotations

import asyncio
import os

import falcon
import falcon.asgi

from shared.health import Check, check_async
from shared.summaries.freshness import run_state
from shared.summaries.settings import max_age_h_from_env

SUMMARIES_TIMEOUT_S = 1.0


class HealthResource:
    def __init__(self, checks: tuple[Check, ...], summaries=None, summaries_max_age_s: float | None = None):
        self._checks, self._summaries = checks, summaries
        self._max_age_s = (summaries_max_age_s if summaries_max_age_s is not None
                           else max_age_h_from_env(os.environ) * 3600.0)

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
            return {"status": run_state(run, self._max_age_s), "max_age_s": self._max_age_s, **run}
        except Exception as exc:  # noqa: BLE001 - reported, never fatal to /health
            return {"status": "unknown", "detail": f"{type(exc).__name__}: {exc}"[:300]}
