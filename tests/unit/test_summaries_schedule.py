"""The nightly schedule with an injected clock: it fires at the configured time, and a failed run leaves the
previous run visible (and the schedule alive for the next night)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from shared.summaries.clock import NightlySchedule
from shared.summaries.run import run_recorded
from shared.summaries.settings import SummarySettings
from tests.unit.summaries_support import MemoryStore, synthetic_quotes


class FakeClock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def test_fires_at_the_configured_time_in_the_configured_zone():
    paris = ZoneInfo("Europe/Paris")
    clock = FakeClock(datetime(2026, 11, 21, 12, 0, tzinfo=paris))
    fired: list[datetime] = []
    nightly = NightlySchedule("03:00", lambda: fired.append(clock()), zone=paris, clock=clock)
    assert nightly.next_run == datetime(2026, 11, 22, 3, 0)
    assert nightly.idle_seconds() == 15 * 3600
    clock.now = datetime(2026, 11, 22, 2, 59, 59, tzinfo=paris)
    nightly.run_pending()
    assert fired == []
    clock.now = datetime(2026, 11, 22, 2, 0, 0, tzinfo=timezone.utc)  # = 03:00 in Paris
    nightly.run_pending()
    assert len(fired) == 1
    nightly.run_pending()
    assert len(fired) == 1  # once per night
    assert nightly.next_run == datetime(2026, 11, 23, 3, 0)


def test_a_failed_night_keeps_the_previous_run_and_the_next_night_runs_again():
    utc = ZoneInfo("UTC")
    store = MemoryStore(synthetic_quotes())
    clock = FakeClock(datetime(2026, 11, 21, 2, 0, tzinfo=utc))
    outcomes: list[str] = []

    def job() -> None:
        try:
            run_recorded(store, SummarySettings(k=3), now=clock, on_outcome=lambda r, o, s, d: outcomes.append(o))
        except Exception:  # noqa: BLE001 - the service logs; the schedule must survive
            pass

    nightly = NightlySchedule("03:00", job, zone=utc, clock=clock)
    clock.advance(hours=1)
    nightly.run_pending()  # night 1: succeeds
    first, rows = store.latest()
    assert outcomes == ["ok"] and len(rows) == 3 and first.run_id.startswith("20261121-")

    store.fail_quotes = RuntimeError("Cassandra timed out")
    clock.advance(days=1)
    nightly.run_pending()  # night 2: fails
    pointer, rows = store.latest()
    assert outcomes == ["ok", "failed"]
    assert pointer.run_id == first.run_id and len(rows) == 3  # readers still see night 1
    assert pointer.last_failed_run.startswith("20261122") and "timed out" in pointer.last_error

    store.fail_quotes = None
    clock.advance(days=1)
    nightly.run_pending()  # night 3: a new complete run replaces it
    assert outcomes == ["ok", "failed", "ok"]
    assert store.latest()[0].run_id.startswith("20261123-")


def test_the_real_datetime_is_restored():
    import schedule

    before = schedule.datetime
    NightlySchedule("03:00", lambda: None, clock=lambda: datetime(2026, 1, 1, tzinfo=timezone.utc)).run_pending()
    assert schedule.datetime is before
