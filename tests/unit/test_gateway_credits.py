"""Credits and vault routes with an in-memory ledger behind a fake ServiceCaller: parsing, validation,
status codes (402 with {needed, available}, 409, 404, 503) and the OpenAPI contracts of the answers."""

from __future__ import annotations

import csv
import io

import falcon
import falcon.testing
import jsonschema
import pytest

from gateway.app import create_app
from gateway.openapi import openapi_document
from gateway.resources.credits import ledger_csv
from gateway.rpc import RemoteRejected
from shared.config import Settings

ENTRIES = [
    {"ts": "2026-11-21T10:00:02.000+00:00", "delta": -5, "reason": "=HYPERLINK(\"x\")", "request_id": "r2",
     "balance_after": 45},
    {"ts": "2026-11-21T10:00:01.000+00:00", "delta": 50, "reason": "new user grant", "request_id": "grant",
     "balance_after": 50},
]


class FakeLedger:
    """Answers like functions/ledger would; `refuse` makes the next call fail as a remote error would."""

    def __init__(self):
        self.calls: list[tuple[str, str, dict]] = []
        self.refuse: RemoteRejected | None = None
        self.saved: set[tuple[str, str]] = set()

    async def call(self, service: str, method: str, **kwargs):
        self.calls.append((service, method, kwargs))
        if self.refuse:
            raise self.refuse
        if method == "balance":
            return {"user_id": kwargs["user_id"], "balance": 50}
        if method == "history":
            return ENTRIES
        if method == "gift":
            ok = kwargs["amount"] <= 50
            return {"ok": ok, "gifted": ok, **kwargs, "from_balance": 50 - kwargs["amount"] if ok else 50,
                    "to_balance": 50 + kwargs["amount"] if ok else None, "needed": kwargs["amount"], "available": 50}
        if method == "vault_save":
            new = (kwargs["session_id"], kwargs["page_id"]) not in self.saved
            self.saved.add((kwargs["session_id"], kwargs["page_id"]))
            user = kwargs["user_id"]
            return {"session_id": kwargs["session_id"], "page_id": kwargs["page_id"], "label": kwargs["label"],
                    "notes": kwargs["notes"], "saved_at": "2026-11-21T10:00:00.000+00:00", "new": new,
                    "user_id": user, "reader_from": "request" if user else None, "credited": bool(user and new), "earned": 1 if user and new else 0,
                    "balance": 51 if user else None}
        if method == "vault_list":
            return {"session_id": kwargs["session_id"], "pages": [
                {"session_id": kwargs["session_id"], "page_id": "S01-P0001", "label": None, "notes": None,
                 "saved_at": "2026-11-21T10:00:00.000+00:00"}]}
        raise AssertionError(method)

    async def close(self):
        pass


@pytest.fixture
def ledger():
    return FakeLedger()


@pytest.fixture
def client(ledger):
    return falcon.testing.TestClient(create_app(Settings(), health_checks=(), caller=ledger))


def valid(instance, name):
    doc = openapi_document()
    jsonschema.validate(instance, {**doc["components"]["schemas"][name], "components": doc["components"]},
                        cls=jsonschema.Draft202012Validator)


def test_credits_of_a_user(client, ledger):
    resp = client.get("/api/v1/users/reader-7/credits")
    assert resp.status == falcon.HTTP_200
    assert resp.json == {"user_id": "reader-7", "balance": 50}
    valid(resp.json, "Credits")
    assert ledger.calls == [("ledger", "balance", {"user_id": "reader-7"})]


@pytest.mark.parametrize("path", ["/api/v1/users/no%20spaces/credits", "/api/v1/users/" + "x" * 129 + "/credits",
                                  "/api/v1/users/a%40b/ledger.csv"])
def test_a_malformed_user_id_is_422_before_any_rpc(client, ledger, path):
    resp = client.get(path)
    assert resp.status == falcon.HTTP_422
    assert resp.json["detail"].startswith("user_id: must be 1-128 letters")
    assert ledger.calls == []


def test_ledger_csv_is_newest_first_and_safe_for_spreadsheets(client, ledger):
    resp = client.get("/api/v1/users/reader-7/ledger.csv", query_string="limit=20")
    assert resp.status == falcon.HTTP_200
    assert resp.headers["content-type"].startswith("text/csv")
    assert 'filename="ledger-reader-7.csv"' in resp.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(resp.text)))
    assert rows[0] == ["ts", "delta", "reason", "request_id", "balance_after"]
    assert rows[1] == ["2026-11-21T10:00:02.000+00:00", "-5", "'=HYPERLINK(\"x\")", "r2", "45"]
    assert rows[2][1:] == ["50", "new user grant", "grant", "50"]
    assert ledger.calls[-1] == ("ledger", "history", {"user_id": "reader-7", "limit": 20})


@pytest.mark.parametrize("query, detail", [("limit=0", "limit: must be a whole number 1..10000"),
                                           ("limit=ten", "limit: must be a whole number"),
                                           ("limit=10001", "limit: must be a whole number 1..10000")])
def test_ledger_csv_limit_is_checked(client, query, detail):
    resp = client.get("/api/v1/users/reader-7/ledger.csv", query_string=query)
    assert resp.status == falcon.HTTP_422 and detail in resp.json["detail"]


def test_ledger_csv_of_nothing_is_a_header():
    assert ledger_csv([]) == "ts,delta,reason,request_id,balance_after\r\n"


def test_gift(client, ledger):
    resp = client.post("/api/v1/credits/gift", json={"from_user": "a", "to_user": "b", "amount": 20,
                                                     "request_id": "g-1"})
    assert resp.status == falcon.HTTP_200
    valid(resp.json, "Gift")
    assert (resp.json["from_balance"], resp.json["to_balance"]) == (30, 70)
    assert ledger.calls == [("ledger", "gift", {"from_user": "a", "to_user": "b", "amount": 20, "request_id": "g-1"})]


def test_a_gift_without_request_id_gets_one(client, ledger):
    resp = client.post("/api/v1/credits/gift", json={"from_user": "a", "to_user": "b", "amount": 1})
    assert resp.status == falcon.HTTP_200
    assert resp.json["request_id"].startswith("gift-")


def test_a_gift_the_giver_cannot_afford_is_402_with_needed_and_available(client):
    resp = client.post("/api/v1/credits/gift", json={"from_user": "a", "to_user": "b", "amount": 80,
                                                     "request_id": "g-2"})
    assert resp.status == falcon.HTTP_402
    valid(resp.json, "InsufficientCredits")
    assert resp.json == {"error": "Payment Required", "detail": "this needs 80 credits and the account has 50",
                         "needed": 80, "available": 50}


@pytest.mark.parametrize("body, problems", [
    ({"from_user": "a", "to_user": "b", "amount": 0}, ["amount: must be a whole number 1..10000 (got 0)"]),
    ({"from_user": "a", "to_user": "b", "amount": "5"}, ["amount: must be a whole number 1..10000 (got '5')"]),
    ({"from_user": "a", "to_user": "b", "amount": 5.5}, ["amount: must be a whole number"]),
    ({"from_user": "a", "to_user": "b", "amount": True}, ["amount: must be a whole number"]),
    ({"from_user": "a", "to_user": "b", "amount": 10_001}, ["amount: must be a whole number 1..10000"]),
    ({"from_user": "a", "to_user": "a", "amount": 5}, ["to_user: must differ from from_user"]),
    ({"to_user": "b b", "amount": -1}, ["from_user: must be", "to_user: must be", "amount: must be"]),
    ({"from_user": "a", "to_user": "b", "amount": 5, "request_id": "x/y"}, ["request_id: must be"]),
    ({"from_user": "a", "to_user": "b", "amount": 5, "memo": "hi"}, ["memo: not a field of this request"]),
])
def test_bad_gifts_are_422_naming_every_field(client, ledger, body, problems):
    resp = client.post("/api/v1/credits/gift", json=body)
    assert resp.status == falcon.HTTP_422
    valid(resp.json, "Error")
    for problem in problems:
        assert problem in resp.json["detail"]
    assert ledger.calls == []


def test_a_body_that_is_not_an_object_is_400(client):
    assert client.post("/api/v1/credits/gift", json=[1, 2]).status == falcon.HTTP_400
    assert client.post("/api/v1/vault", body=b"{not json", headers={"content-type": "application/json"}).status == (
        falcon.HTTP_400)


@pytest.mark.parametrize("exc_type, status", [("RequestIdConflict", falcon.HTTP_409), ("LedgerBusy", falcon.HTTP_503),
                                              ("LedgerInputError", falcon.HTTP_422), ("PageNotFound", falcon.HTTP_404)])
def test_remote_refusals_keep_their_meaning(client, ledger, exc_type, status):
    ledger.refuse = RemoteRejected(exc_type, "what the ledger said")
    resp = client.post("/api/v1/credits/gift", json={"from_user": "a", "to_user": "b", "amount": 5,
                                                     "request_id": "g-3"})
    assert resp.status == status
    assert resp.json == {"error": status.split(" ", 1)[1], "detail": "what the ledger said"}


def test_vault_save_then_save_again(client, ledger):
    body = {"session_id": "s-1", "page_id": "S01-P0001", "label": "opening", "user_id": "reader-7"}
    first = client.post("/api/v1/vault", json=body)
    assert first.status == falcon.HTTP_201
    valid(first.json, "VaultSaved")
    assert (first.json["credited"], first.json["earned"], first.json["balance"]) == (True, 1, 51)
    again = client.post("/api/v1/vault", json=body)
    assert again.status == falcon.HTTP_200
    assert (again.json["new"], again.json["credited"], again.json["earned"]) == (False, False, 0)
    assert ledger.calls[0] == ("ledger", "vault_save", {"session_id": "s-1", "page_id": "S01-P0001",
                                                        "label": "opening", "notes": None, "user_id": "reader-7"})


def test_vault_save_in_a_session_nobody_paid_in_earns_nothing(client):
    resp = client.post("/api/v1/vault", json={"session_id": "s-2", "page_id": "S01-P0001"})
    assert resp.status == falcon.HTTP_201
    valid(resp.json, "VaultSaved")
    assert (resp.json["user_id"], resp.json["credited"], resp.json["balance"]) == (None, False, None)


@pytest.mark.parametrize("body, problems", [
    ({}, ["session_id: must be", "page_id: None is not a canon id"]),
    ({"session_id": "s", "page_id": "page-7"}, ["page_id: 'page-7' is not a canon id like S01-P0007"]),
    ({"session_id": "s", "page_id": "S01-P0001", "label": "x" * 201}, ["label: must be text of at most 200"]),
    ({"session_id": "s", "page_id": "S01-P0001", "notes": 7}, ["notes: must be text"]),
    ({"session_id": "s", "page_id": "S01-P0001", "user_id": ""}, ["user_id: must be"]),
    ({"session_id": "s", "page_id": "S01-P0001", "colour": "red"}, ["colour: not a field of this request"]),
])
def test_bad_vault_saves_are_422(client, ledger, body, problems):
    resp = client.post("/api/v1/vault", json=body)
    assert resp.status == falcon.HTTP_422
    for problem in problems:
        assert problem in resp.json["detail"]
    assert ledger.calls == []


def test_an_unknown_page_is_404(client, ledger):
    ledger.refuse = RemoteRejected("PageNotFound", "no page with id S01-P0999")
    resp = client.post("/api/v1/vault", json={"session_id": "s", "page_id": "S01-P0999"})
    assert resp.status == falcon.HTTP_404
    assert resp.json["detail"] == "no page with id S01-P0999"


def test_vault_list(client, ledger):
    resp = client.get("/api/v1/vault", query_string="session_id=s-1&limit=5")
    assert resp.status == falcon.HTTP_200
    valid(resp.json, "VaultList")
    assert ledger.calls == [("ledger", "vault_list", {"session_id": "s-1", "limit": 5})]


@pytest.mark.parametrize("query, detail", [("", "session_id: must be"), ("session_id=s&limit=501", "limit: must be")])
def test_vault_list_needs_a_session(client, query, detail):
    resp = client.get("/api/v1/vault", query_string=query)
    assert resp.status == falcon.HTTP_422 and detail in resp.json["detail"]
