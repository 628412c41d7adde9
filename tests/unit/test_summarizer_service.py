"""The summarizer's schedule loop (its managed thread) with an injected clock fires at the configured time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import eventlet

from functions.summarizer.service import NightlyRunner


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
