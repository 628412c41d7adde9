"""How /health reads the nightly summaries' pointer: ok, stale, failing or none yet.

Why a state of its own: the summaries are informational (a missed night must not take the gateway out of
a load balancer), but "a run exists" is not the same as "the runs are working". Stale: the last complete
run is older than GIBSEY_SUMMARY_MAX_AGE_H. Failing: a run failed after the last one completed (the
pointer still names the older, complete run). Failing wins over stale: it says why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

OK, STALE, FAILING, NONE_YET = "ok", "stale", "failing", "none yet"


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def run_state(run: Mapping[str, Any], max_age_s: float) -> str:
    """The state of a pointer as RunPointer.as_dict gives it (age_s, completed_at, last_failure_at)."""
    completed, failed = _time(run.get("completed_at")), _time(run.get("last_failure_at"))
    if failed is not None and (completed is None or failed > completed):
        return FAILING
    if not run.get("run_id"):
        return NONE_YET
    age = run.get("age_s")
    return STALE if age is not None and age > max_age_s else OK
