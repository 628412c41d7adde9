"""The summarizer's schedule loop (its managed thread) with an injected clock fires at the configured time,
and the dependency as Nameko drives it takes that time and zone from GIBSEY_SUMMARY_AT / GIBSEY_SUMMARY_TZ."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import eventlet

from functions.summarizer.service import NightlyRunner
from shared.config import Settings
from tests.unit.summaries_support import MemoryStore, synthetic_quotes


def test_schedule_loop_runs_at_the_configured_time():
    now = [datetime(2026, 11, 21, 2, 59, 50, tzinfo=timezone.utc)]
    ran: list[datetime] = []
    runner = NightlyRunner()
    runner.summary = type("S", (), {"at": "03:00", "zone": timezone.utc})()
    from shared.summaries.clock import NightlySchedule

    runner.nightly = NightlySchedule("03:00", lambda: ran.append(now[0]), zone=timezone.utc, clock=lambda: now[0])
    runner._stopping, runner.max_nap_s = False, 0.05
    thread = eventlet.spawn(runner._schedule_loop)
    eventlet.sleep(0.05)
    assert ran == []
    now[0] += timedelta(seconds=10)
    eventlet.sleep(0.3)
    runner._stopping = True
    thread.kill()
    assert ran == [datetime(2026, 11, 21, 3, 0, tzinfo=timezone.utc)]


class FakeContainer:
    """What NightlyRunner uses of a Nameko container: its config and its managed threads."""

    def __init__(self, config: dict):
        self.config, self.threads = config, []

    def spawn_managed_thread(self, fn, identifier=None):
        thread = eventlet.spawn(fn)
        self.threads.append(thread)
        return thread


def test_setup_and_start_schedule_the_run_at_gibsey_summary_at_in_gibsey_summary_tz(monkeypatch):
    """The dependency as Nameko drives it (bind, setup, start, stop), configured only by the environment."""
    import functions.summarizer.service as service

    monkeypatch.setenv("GIBSEY_SUMMARY_AT", "04:15")
    monkeypatch.setenv("GIBSEY_SUMMARY_TZ", "Asia/Tokyo")
    monkeypatch.setenv("GIBSEY_SUMMARY_K", "3")
    monkeypatch.setenv("GIBSEY_SUMMARY_LLM", "off")
    store, audited, closed = MemoryStore(synthetic_quotes()), [], []
    monkeypatch.setattr(service, "open_session", lambda settings: "session")
    monkeypatch.setattr(service, "close_session", closed.append)
    monkeypatch.setattr(service, "SummaryStore", lambda session, keyspace: store)

    class Auditor:
        def __init__(self, settings):
            pass

        def __call__(self, run_id, outcome, started, detail):
            audited.append((run_id, outcome))

        def close(self):
            pass

    monkeypatch.setattr(service, "KafkaAuditor", Auditor)
    tokyo = ZoneInfo("Asia/Tokyo")
    now = [datetime(2026, 11, 22, 4, 0, tzinfo=tokyo)]  # 19:00 UTC the day before
    container = FakeContainer(Settings().nameko_config)  # bind keeps only a weak reference to it
    runner = NightlyRunner().bind(container, "runner")
    runner.clock, runner.max_nap_s = (lambda: now[0]), 0.02
    runner.setup()
    runner.start()
    try:
        assert runner.nightly.next_run == datetime(2026, 11, 22, 4, 15)  # Tokyo wall time, not 03:00
        now[0] = datetime(2026, 11, 21, 19, 14, 59, tzinfo=timezone.utc)  # 04:14:59 in Tokyo
        eventlet.sleep(0.2)
        assert audited == [] and store.pointer().run_id is None
        now[0] = datetime(2026, 11, 21, 19, 15, tzinfo=timezone.utc)  # 04:15 in Tokyo
        eventlet.sleep(0.2)
        pointer, rows = store.latest()
        assert audited == [(pointer.run_id, "ok")] and len(rows) == 3
        assert {r.updated_at for r in rows} == {now[0]}  # the run read the injected clock too
        eventlet.sleep(0.1)
        assert len(audited) == 1  # once that night
        assert runner.nightly.next_run == datetime(2026, 11, 23, 4, 15)
    finally:
        runner.stop()
    assert closed == ["session"]
