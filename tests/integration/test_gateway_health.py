"""`GET /health` from the real gateway process (gunicorn -k asgi) against the live servers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

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


def start_gateway(env_overrides: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "GIBSEY_HTTP_PORT": str(port), "GIBSEY_HTTP_WORKERS": "1", **env_overrides}
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
    proc, url = start_gateway({})
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
def throwaway_rabbitmq(tmp_path) -> Iterator[tuple[int, dict[str, str]]]:
    """A second, real RabbitMQ node of our own (own state dir, ports and node name) that a test may stop."""
    port, dist_port = _free_port(), _free_port()
    env = {**os.environ, "GIBSEY_STATE_DIR": str(tmp_path / "state"), "AMQP_PORT": str(port),
           "RABBITMQ_DIST_PORT": str(dist_port), "RABBITMQ_NODENAME": f"gibsey-it-{port}@localhost"}
    up = subprocess.run([str(REPO / "localstack" / "up"), "rabbitmq"], env=env, capture_output=True, text=True,
                        timeout=300)
    assert up.returncode == 0, up.stderr or up.stdout
    yield port, env
    subprocess.run([str(REPO / "localstack" / "down"), "rabbitmq"], env=env, capture_output=True, timeout=120)


def test_health_reports_a_stopped_server_as_down(stack_settings, throwaway_rabbitmq):
    port, rabbit_env = throwaway_rabbitmq
    proc, url = start_gateway({"AMQP_URI": f"amqp://guest:guest@127.0.0.1:{port}/"})
    try:
        status, body = _get(f"{url}/health")
        assert status == 200, body
        assert body["dependencies"]["rabbitmq"]["status"] == "up"

        down = subprocess.run([str(REPO / "localstack" / "down"), "rabbitmq"], env=rabbit_env,
                              capture_output=True, text=True, timeout=120)
        assert down.returncode == 0, down.stderr
        leftover = subprocess.run(["pgrep", "-f", rabbit_env["RABBITMQ_NODENAME"]], capture_output=True, text=True)
        assert leftover.stdout == "", f"localstack/down left processes running: {leftover.stdout}"

        status, body = _get(f"{url}/health")
        assert status == 503
        assert body["status"] == "down"
        assert body["dependencies"]["rabbitmq"]["status"] == "down"
        assert body["dependencies"]["rabbitmq"]["detail"]
        assert body["dependencies"]["kafka"]["status"] == "up"
        assert body["dependencies"]["cassandra"]["status"] == "up"
    finally:
        stop_gateway(proc)
