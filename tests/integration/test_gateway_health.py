"""`GET /health` from the real gateway process (gunicorn -k asgi) against the live servers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest

from shared.config import Settings
from tests.env import child_env
from tests.servers import ServerProvider, SpareRabbitmq

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=15) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def start_gateway(settings: Settings) -> tuple[subprocess.Popen, str]:
    """The gateway as its own process, configured by `settings` alone (plus a free port and one worker)."""
    port = _free_port()
    env = child_env(settings, GIBSEY_HTTP_PORT=str(port), GIBSEY_HTTP_WORKERS="1")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "-c", "gateway/gunicorn_conf.py", "gateway.asgi:app"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gateway did not listen within 60 s")


def stop_gateway(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def gateway(stack_settings) -> Iterator[str]:
    proc, url = start_gateway(stack_settings)
    yield url
    stop_gateway(proc)


def test_health_reports_all_three_servers_up_with_versions(gateway):
    status, body = _get(f"{gateway}/health")
    assert status == 200, body
    deps = body["dependencies"]
    for name in ("kafka", "cassandra", "rabbitmq"):
        assert deps[name]["status"] == "up", deps[name]
        assert deps[name]["required"] is True
        assert deps[name]["latency_ms"] >= 0
    assert deps["kafka"]["version"].startswith("4.")
    assert deps["cassandra"]["version"].startswith("5.0.")
    assert deps["rabbitmq"]["version"]
    assert deps["ollama"]["required"] is False
    assert body["status"] in ("ok", "degraded")


@pytest.fixture
def throwaway_rabbitmq(server_provider: ServerProvider, tmp_path) -> Iterator[SpareRabbitmq]:
    """A second, real RabbitMQ of our own from the server layer, which the test may stop."""
    rabbit = server_provider.spare_rabbitmq(tmp_path)
    yield rabbit
    rabbit.stop()  # a no-op when the test already stopped it


def test_health_reports_a_stopped_server_as_down(stack_settings, throwaway_rabbitmq):
    proc, url = start_gateway(replace(stack_settings, amqp_uri=throwaway_rabbitmq.amqp_uri))
    try:
        status, body = _get(f"{url}/health")
        assert status == 200, body
        assert body["dependencies"]["rabbitmq"]["status"] == "up"

        throwaway_rabbitmq.stop()  # raises if the server or any of its processes is still there

        status, body = _get(f"{url}/health")
        assert status == 503
        assert body["status"] == "down"
        assert body["dependencies"]["rabbitmq"]["status"] == "down"
        assert body["dependencies"]["rabbitmq"]["detail"]
        assert body["dependencies"]["kafka"]["status"] == "up"
        assert body["dependencies"]["cassandra"]["status"] == "up"
    finally:
        stop_gateway(proc)
