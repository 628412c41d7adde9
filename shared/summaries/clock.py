"""The nightly trigger: the `schedule` package, reading time from an injectable clock in a configured zone.

Why a clock shim: `schedule` calls `datetime.datetime.now()` itself. Each call into the scheduler swaps the
module's `datetime` for one whose `now()` is the injected clock's wall time in GIBSEY_SUMMARY_TZ (naive, as
`schedule` expects), so a test moves time instead of sleeping, and the zone needs no pytz.
"""

from __future__ import annotations

import datetime as _dt
import threading
import types
from contextlib import contextmanager
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

import schedule

Clock = Callable[[], _dt.datetime]
_swap = threading.Lock()


def system_clock() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _datetime_module(wall: Callable[[], _dt.datetime]) -> types.ModuleType:
    class ClockedDatetime(_dt.datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ANN001 - the signature schedule calls
            return wall()

    module = types.ModuleType("datetime")
    module.__dict__.update({k: getattr(_dt, k) for k in dir(_dt) if not k.startswith("__")})
    module.datetime = ClockedDatetime
    return module


class NightlySchedule:
    """Runs `job` every day at `at` (HH:MM) in `zone` (None: local time) as seen by `clock`."""

    def __init__(self, at: str, job: Callable[[], object], *, zone: ZoneInfo | None = None,
                 clock: Clock = system_clock):
        self._clock, self._zone = clock, zone
        self._module = _datetime_module(self.wall_time)
        self._scheduler = schedule.Scheduler()
        with self._clocked():
            self.job = self._scheduler.every().day.at(at).do(job)

    def wall_time(self) -> _dt.datetime:
        """The clock's time on the wall of the configured zone (naive, as `schedule` works)."""
        now = self._clock()
        if now.tzinfo is None:
            return now
        return (now.astimezone(self._zone) if self._zone else now.astimezone()).replace(tzinfo=None)

    @contextmanager
    def _clocked(self) -> Iterator[None]:
        with _swap:
            real, schedule.datetime = schedule.datetime, self._module
            try:
                yield
            finally:
                schedule.datetime = real

    def run_pending(self) -> None:
        """Run the job if its time has come (a failing job is logged by the job itself; it stays scheduled)."""
        with self._clocked():
            self._scheduler.run_pending()

    @property
    def next_run(self) -> _dt.datetime | None:
        return self.job.next_run

    def idle_seconds(self) -> float:
        with self._clocked():
            return max(0.0, self._scheduler.idle_seconds or 0.0)
