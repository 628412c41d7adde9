"""The local Cassandra's rendered config: the commit-log sync period the CDC lag depends on."""

from __future__ import annotations

from pathlib import Path

import pytest

from localstack.stack.cassandra import Cassandra
from localstack.stack.errors import StackError
from localstack.stack.render import render
from localstack.stack.settings import load_settings


def _server(env: dict[str, str]) -> Cassandra:
    return Cassandra(load_settings(env), reporter=None)


def _rendered(tmp_path: Path, period_ms: int) -> str:
    values = {"cluster_name": "c", "storage_port": 7000, "native_port": 9042, "data_dir": tmp_path,
              "commitlog_sync_period_ms": period_ms}
    return render("cassandra.yaml", tmp_path / "cassandra.yaml", values).read_text()


def test_the_sync_period_is_short_by_default_and_overridable(tmp_path):
    assert _server({}).commitlog_sync_period_ms == 100
    assert _server({"CASSANDRA_COMMITLOG_SYNC_PERIOD_MS": "1000"}).commitlog_sync_period_ms == 1000
    text = _rendered(tmp_path, 1000)
    assert "\ncommitlog_sync: periodic\n" in text and "\ncommitlog_sync_period: 1000ms\n" in text
    assert "\ncdc_enabled: true\n" in text


@pytest.mark.parametrize("raw", ["0", "5", "20000", "1s", "-100", "１００"])
def test_a_bad_sync_period_is_refused_with_its_name(raw):
    with pytest.raises(StackError, match="CASSANDRA_COMMITLOG_SYNC_PERIOD_MS must be 10..10000"):
        _server({"CASSANDRA_COMMITLOG_SYNC_PERIOD_MS": raw}).commitlog_sync_period_ms


@pytest.mark.parametrize("raw", ["abc", "0", "65536", "９０９２", "²"])
def test_a_bad_port_is_refused_with_its_name(raw):
    with pytest.raises(StackError, match="KAFKA_PORT="):
        load_settings({"KAFKA_PORT": raw}).port("KAFKA_PORT", 9092)


def test_milliseconds_have_a_floor_and_an_optional_ceiling():
    settings = load_settings({"CDC_IDX_POLL_MS": "0"})
    with pytest.raises(StackError, match="CDC_IDX_POLL_MS must be at least 1 \\(ms\\), got '0'"):
        settings.millis("CDC_IDX_POLL_MS", 50)
    assert load_settings({}).millis("CDC_IDX_POLL_MS", 50) == 50
