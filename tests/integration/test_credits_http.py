"""Credits and the vault end to end: HTTP -> gateway (gunicorn) -> RPC -> the ledger function (nameko run)
-> Cassandra, as separate processes."""

from __future__ import annotations

import csv
import io
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import httpx
import pytest

from tests.integration.flow_support import BIN, Process, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(env) -> Iterator[str]:
    env = {**env, "GIBSEY_NEW_USER_GRANT": "100", "GIBSEY_VAULT_REWARD": "1"}
    ledger = Process([str(BIN / "nameko"), "run", "--config", "functions/nameko.yaml", "functions.ledger.service"],
                     {**env, "GIBSEY_SERVICE_NAME": "ledger"})
    port = free_port()
    gateway = Process([str(BIN / "gunicorn"), "-c", "gateway/gunicorn_conf.py", "gateway.asgi:app"],
                      {**env, "GIBSEY_HTTP_PORT": str(port)})
    try:
        ledger.wait_for("ledger ready")
        gateway.wait_for("ASGI server listening")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/api/v1/users/warm-up/credits", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "the ledger never answered"
            time.sleep(0.5)
        yield url
    finally:
        gateway.stop()
        ledger.stop()


def user(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_fifty_concurrent_gifts_of_five_from_a_hundred(api):
    giver = user("http-giver")
    assert httpx.get(f"{api}/api/v1/users/{giver}/credits").json() == {"user_id": giver, "balance": 100}

    def gift(i: int) -> httpx.Response:
        return httpx.post(f"{api}/api/v1/credits/gift", timeout=60, json={
            "from_user": giver, "to_user": f"{giver}-friend-{i}", "amount": 5, "request_id": f"{giver}-{i}"})

    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(gift, range(50)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 20 + [402] * 30
    assert all(r.json()["needed"] == 5 and r.json()["available"] == 0 for r in responses if r.status_code == 402)
    assert httpx.get(f"{api}/api/v1/users/{giver}/credits").json()["balance"] == 0
    rows = list(csv.DictReader(io.StringIO(httpx.get(f"{api}/api/v1/users/{giver}/ledger.csv").text)))
    assert len(rows) == 21 and sum(int(r["delta"]) for r in rows) == 0
    assert rows[0]["balance_after"] == "0" and rows[-1]["reason"] == "new user grant"


def test_a_retried_gift_moves_credits_once(api):
    giver, friend = user("http-a"), user("http-b")
    body = {"from_user": giver, "to_user": friend, "amount": 30, "request_id": f"{giver}-once"}
    first, again = (httpx.post(f"{api}/api/v1/credits/gift", json=body, timeout=60) for _ in range(2))
    assert (first.status_code, first.json()["gifted"]) == (200, True)
    assert (again.status_code, again.json()["gifted"], again.json()["to_balance"]) == (200, False, 130)
    reused = httpx.post(f"{api}/api/v1/credits/gift", json={**body, "amount": 31}, timeout=60)
    assert reused.status_code == 409 and "already used for a gift of 30" in reused.json()["detail"]


def test_vault_save_list_and_reward(api):
    reader, session = user("http-reader"), user("http-session")
    body = {"session_id": session, "page_id": "S01-P0001", "label": "opening", "user_id": reader}
    first = httpx.post(f"{api}/api/v1/vault", json=body, timeout=60)
    assert first.status_code == 201 and (first.json()["earned"], first.json()["balance"]) == (1, 101)
    again = httpx.post(f"{api}/api/v1/vault", json=body, timeout=60)
    assert again.status_code == 200 and (again.json()["earned"], again.json()["balance"]) == (0, 101)
    httpx.post(f"{api}/api/v1/vault", json={"session_id": session, "page_id": "S03-P0007"}, timeout=60)
    listed = httpx.get(f"{api}/api/v1/vault", params={"session_id": session}).json()
    assert [p["page_id"] for p in listed["pages"]] == ["S03-P0007", "S01-P0001"]
    missing = httpx.post(f"{api}/api/v1/vault", json={"session_id": session, "page_id": "S01-P0999"}, timeout=60)
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found",
                                                             "detail": "no page with id S01-P0999"}
    bad = httpx.post(f"{api}/api/v1/vault", json={"session_id": session, "page_id": "S01-P0001", "user_id": 7})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("user_id: must be")
