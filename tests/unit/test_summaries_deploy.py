"""deploy/: the cron backup of the nightly summaries runs in the summarizer's zone, 30 minutes after its
time, and gibsey.env.example lists (valid values for) every GIBSEY_SUMMARY_* setting."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import shared.summaries.settings as settings_module
from shared.summaries.settings import SummarySettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
BACKUP_DELAY = timedelta(minutes=30)


def _env_example() -> dict[str, str]:
    lines = (DEPLOY / "gibsey.env.example").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#"))


def _cron() -> tuple[dict[str, str], list[list[str]]]:
    """(variables, job lines split into 5 time fields, user, command)."""
    variables, jobs = {}, []
    for line in (DEPLOY / "cron" / "gibsey-summaries").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if re.match(r"^[A-Z_]+=", line):
            name, value = line.split("=", 1)
            variables[name] = value
        else:
            fields = line.split(None, 6)
            jobs.append(fields)
    return variables, jobs


def test_every_summary_setting_is_in_the_env_example_with_a_valid_value():
    env = _env_example()
    documented = set(re.findall(r"GIBSEY_SUMMARY_\w+", settings_module.__doc__))
    assert documented and documented <= set(env), documented - set(env)
    SummarySettings.from_env(env)  # raises ConfigError on a bad value


def test_the_cron_backup_runs_in_the_summary_zone_half_an_hour_after_the_summary_time():
    env, (variables, jobs) = _env_example(), _cron()
    assert variables.get("CRON_TZ") == env["GIBSEY_SUMMARY_TZ"]
    assert len(jobs) == 1
    minute, hour, day, month, weekday, user, command = jobs[0]
    at = datetime.strptime(env["GIBSEY_SUMMARY_AT"], "%H:%M")
    backup = at + BACKUP_DELAY
    assert (int(hour), int(minute)) == (backup.hour, backup.minute)
    assert (day, month, weekday, user) == ("*", "*", "*", "gibsey")
    assert "gibsey summaries run" in command and "/etc/gibsey/gibsey.env" in command
