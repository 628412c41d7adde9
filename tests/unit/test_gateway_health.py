"""The /health resource's logic, with probes injected (the live servers are covered in tests/integration)."""

import falcon
import falcon.testing

from gateway.app import create_app
from shared.config import Settings
from shared.health import Check
from shared.probes import ProbeResult


def _check(name, ok, required=True, version="1.0"):
    result = ProbeResult(name=name, ok=ok, latency_ms=1.5, version=version if ok else None,
                         detail="ok" if ok else "connection refused")
    return Check(name, required, "127.0.0.1:1", lambda: result)


def _client(*checks):
    return falcon.testing.TestClient(create_app(Settings(), health_checks=tuple(checks)))


def test_all_required_up_is_200_even_when_optional_is_down():
    resp = _client(_check("kafka", True), _check("cassandra", True), _check("ollama", False, required=False)).get("/health")
    assert resp.status == falcon.HTTP_200
    assert resp.json["status"] == "degraded"
    assert resp.json["dependencies"]["kafka"] == {
        "name": "kafka", "required": True, "up": True, "status": "up", "address": "127.0.0.1:1",
        "latency_ms": 1.5, "version": "1.0", "detail": "ok"}
    assert resp.json["dependencies"]["ollama"]["status"] == "down"


def test_a_required_dependency_down_is_503():
    resp = _client(_check("kafka", True), _check("rabbitmq", False)).get("/health")
    assert resp.status == falcon.HTTP_503
    assert resp.json["status"] == "down"
    assert resp.json["dependencies"]["rabbitmq"]["detail"] == "connection refused"
    assert resp.headers["cache-control"] == "no-store"


def test_unknown_route_is_json_404_with_cors():
    resp = _client().get("/nowhere", headers={"Origin": "http://reader.example"})
    assert resp.status == falcon.HTTP_404
    assert set(resp.json) == {"error", "detail"}
    assert resp.headers["access-control-allow-origin"] == "*"


def test_unexpected_errors_become_json_500():
    def boom():
        raise RuntimeError("secret internals")

    resp = _client(Check("kafka", True, "x", boom)).get("/health")
    assert resp.status == falcon.HTTP_500
    assert resp.json["error"] == "Internal Server Error"
    assert "secret" not in resp.text
