"""`/api/v1/summaries` routes over an in-memory summary source, validated against the OpenAPI schemas."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import falcon
import falcon.testing
import jsonschema
import pytest

from gateway.app import create_app
from gateway.openapi import openapi_document
from shared.config import ConfigError, Settings
from shared.storage.cassandra import StorageUnavailable
from shared.summaries.freshness import run_state
from shared.summaries.store import EMPTY_POINTER, RunPointer
from tests.unit.test_gateway_routes import BookInMemory

ROW = {"cluster_id": 3, "run_id": "20261121-abc", "center_page": "S03-P0042", "member_pages": ["S03-P0042"],
       "page_labels": ["p.42"], "keywords": ["tide"], "summary": "word " * 250 + "(p.42)", "generator": "extractive",
       "words": 251, "updated_at": "2026-11-21T03:00:01+00:00"}
RUN = {"run_id": "20261121-abc", "clusters": 1, "pages": 1, "generator": "extractive",
       "completed_at": "2026-11-21T03:00:02+00:00", "age_s": 12.0, "duration_ms": 900.0,
       "last_failure_at": None, "last_failed_run": None, "last_error": None}


class SummariesInMemory:
    def __init__(self, fail: Exception | None = None, run: dict | None = None):
        self.fail, self.run = fail, run or RUN

    async def latest(self):
        if self.fail:
            raise self.fail
        return {"run": RUN, "clusters": [ROW]}

    async def cluster(self, cluster_id):
        return ROW if cluster_id == 3 else None

    async def last_run(self):
        if self.fail:
            raise self.fail
        return self.run

    async def close(self):
        pass


def _client(source) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(Settings(), health_checks=(), pages=BookInMemory(), summaries=source))


def _valid(instance, name):
    doc = openapi_document()
    jsonschema.validate(instance, {**doc["components"]["schemas"][name], "components": doc["components"]},
                        cls=jsonschema.Draft202012Validator)


def test_latest_run():
    resp = _client(SummariesInMemory()).get("/api/v1/summaries")
    assert resp.status == falcon.HTTP_200
    _valid(resp.json, "SummaryRun")
    assert resp.json["clusters"][0]["cluster_id"] == 3


def test_one_cluster():
    resp = _client(SummariesInMemory()).get("/api/v1/summaries/3")
    assert resp.status == falcon.HTTP_200
    _valid(resp.json, "ClusterSummary")


@pytest.mark.parametrize("path, status", [("/api/v1/summaries/4", falcon.HTTP_404),
                                          ("/api/v1/summaries/three", falcon.HTTP_422),
                                          ("/api/v1/summaries/-1", falcon.HTTP_422)])
def test_unknown_or_malformed_cluster(path, status):
    resp = _client(SummariesInMemory()).get(path)
    assert resp.status == status and "detail" in resp.json


def test_store_down_is_503():
    resp = _client(SummariesInMemory(fail=StorageUnavailable("Cassandra at 10.0.0.7 down"))).get("/api/v1/summaries")
    assert resp.status == falcon.HTTP_503 and "10.0.0.7" not in resp.text


def test_health_shows_the_last_run_and_its_age_without_failing_on_it():
    health = _client(SummariesInMemory()).simulate_get("/health")
    assert health.status_code == 200
    assert health.json["summaries"] == {"status": "ok", "max_age_s": 26 * 3600.0, **RUN}
    down = _client(SummariesInMemory(fail=StorageUnavailable("no Cassandra"))).simulate_get("/health")
    assert down.status_code == 200  # no required dependency is checked here; the summaries are informational
    assert down.json["summaries"]["status"] == "unknown" and "no Cassandra" in down.json["summaries"]["detail"]


NOW = datetime(2026, 11, 22, 5, 0, tzinfo=timezone.utc)


def _pointer(**fields) -> RunPointer:
    return replace(EMPTY_POINTER, **fields)


def test_pointer_age_is_measured_from_completion_to_now():
    done = _pointer(run_id="r1", completed_at=datetime(2026, 11, 22, 3, 0, 30))  # Cassandra gives naive UTC
    assert done.as_dict(now=NOW)["age_s"] == 2 * 3600 - 30
    aware = _pointer(run_id="r1", completed_at=datetime(2026, 11, 22, 4, 0, tzinfo=timezone(timedelta(hours=1))))
    assert aware.as_dict(now=NOW)["age_s"] == 2 * 3600.0
    assert aware.as_dict(now=NOW)["completed_at"] == "2026-11-22T04:00:00+01:00"
    assert EMPTY_POINTER.as_dict(now=NOW)["age_s"] is None


@pytest.mark.parametrize("fields, state", [
    ({}, "none yet"),
    ({"run_id": "r1", "completed_at": datetime(2026, 11, 22, 3, 0)}, "ok"),
    ({"run_id": "r1", "completed_at": datetime(2026, 11, 21, 2, 59)}, "stale"),  # 26 h 1 min
    ({"run_id": "r1", "completed_at": datetime(2026, 11, 21, 3, 1)}, "ok"),  # 25 h 59 min
    ({"run_id": "r1", "completed_at": datetime(2026, 11, 22, 3, 0), "last_failure_at": datetime(2026, 11, 22, 3, 30),
      "last_failed_run": "20261122-failed"}, "failing"),
    ({"run_id": "r1", "completed_at": datetime(2026, 11, 22, 3, 30), "last_failure_at": datetime(2026, 11, 22, 3, 0)},
     "ok"),  # the 03:30 backup succeeded after the 03:00 run failed
    ({"run_id": "r1", "completed_at": datetime(2026, 11, 19, 3, 0), "last_failure_at": datetime(2026, 11, 22, 3, 0)},
     "failing"),  # stale too, but failing says why
    ({"last_failure_at": datetime(2026, 11, 22, 3, 0)}, "failing"),  # no run has ever completed
])
def test_run_state_from_the_pointer(fields, state):
    assert run_state(_pointer(**fields).as_dict(now=NOW), 26 * 3600) == state


def _run(**fields) -> dict:
    return _pointer(**{"run_id": "r1", **fields}).as_dict()


def test_health_says_stale_and_failing_but_stays_200(monkeypatch):
    old = _run(completed_at=datetime.now(timezone.utc) - timedelta(hours=30))
    stale = _client(SummariesInMemory(run=old)).simulate_get("/health")
    assert stale.status_code == 200 and stale.json["summaries"]["status"] == "stale"
    failed = _run(completed_at=datetime.now(timezone.utc) - timedelta(hours=2),
                  last_failure_at=datetime.now(timezone.utc) - timedelta(minutes=5), last_error="Cassandra timed out")
    failing = _client(SummariesInMemory(run=failed)).simulate_get("/health")
    assert failing.status_code == 200 and failing.json["summaries"]["status"] == "failing"
    assert failing.json["summaries"]["last_error"] == "Cassandra timed out"


def test_the_max_age_comes_from_the_environment(monkeypatch):
    recent = _run(completed_at=datetime.now(timezone.utc) - timedelta(hours=3))
    assert _client(SummariesInMemory(run=recent)).simulate_get("/health").json["summaries"]["status"] == "ok"
    monkeypatch.setenv("GIBSEY_SUMMARY_MAX_AGE_H", "2")
    health = _client(SummariesInMemory(run=recent)).simulate_get("/health").json["summaries"]
    assert (health["status"], health["max_age_s"]) == ("stale", 7200.0)
    monkeypatch.setenv("GIBSEY_SUMMARY_MAX_AGE_H", "a day")
    with pytest.raises(ConfigError, match="GIBSEY_SUMMARY_MAX_AGE_H"):
        _client(SummariesInMemory())
