"""The ledger function over real RPC (RabbitMQ) and Cassandra, two containers sharing its queue as two
processes would: 50 concurrent debits against 100 credits, refunds, gifts and the vault."""

from __future__ import annotations

import uuid

import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from functions.ledger.service import LedgerService

pytestmark = pytest.mark.integration


@pytest.fixture
def ledger(stack_settings, schema_applied, book, run_services):
    config = {**stack_settings.nameko_config, "GIBSEY_NEW_USER_GRANT": 100, "GIBSEY_VAULT_REWARD": 1}
    with run_services(config, LedgerService), run_services(config, LedgerService):
        with ClusterRpcProxy(config, timeout=60) as cluster:
            yield cluster.ledger


def user(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_fifty_concurrent_debits_of_five_against_a_hundred(ledger):
    reader = user("rpc-race")
    assert ledger.balance(reader) == {"user_id": reader, "balance": 100}
    calls = [ledger.debit.call_async(user_id=reader, amount=5, request_id=f"{reader}-{i}", reason="chat turn")
             for i in range(50)]
    results = [call.result() for call in calls]
    assert sum(r["ok"] for r in results) == 20
    assert sum(r["charged"] for r in results) == 20
    assert all(r == {"ok": False, "balance": 0, "charged": False, "needed": 5, "available": 0}
               for r in results if not r["ok"])
    assert ledger.balance(reader)["balance"] == 0
    history = ledger.history(reader, 100)
    assert sum(e["delta"] for e in history) == 0 and len(history) == 21
    assert history[0]["balance_after"] == 0 and history[-1]["request_id"] == "grant"


def test_a_retried_debit_is_charged_once_and_refunded_once(ledger):
    reader = user("rpc-retry")
    first = ledger.debit(user_id=reader, amount=5, request_id=f"{reader}-t", reason="chat turn")
    again = ledger.debit(user_id=reader, amount=5, request_id=f"{reader}-t", reason="chat turn")
    assert (first["charged"], again["ok"], again["charged"], again["balance"]) == (True, True, False, 95)
    assert ledger.refund(request_id=f"{reader}-t", reason="llm failed mid-stream") == {
        "refunded": True, "balance": 100, "user_id": reader}
    assert ledger.refund(request_id=f"{reader}-t", reason="llm failed mid-stream")["refunded"] is False


def test_gift_and_its_retry(ledger):
    giver, receiver = user("rpc-giver"), user("rpc-receiver")
    gift = ledger.gift(from_user=giver, to_user=receiver, amount=40, request_id=f"{giver}-g")
    assert (gift["ok"], gift["gifted"], gift["from_balance"], gift["to_balance"]) == (True, True, 60, 140)
    assert ledger.gift(from_user=giver, to_user=receiver, amount=40, request_id=f"{giver}-g")["gifted"] is False
    short = ledger.gift(from_user=giver, to_user=receiver, amount=61, request_id=f"{giver}-g2")
    assert (short["ok"], short["needed"], short["available"]) == (False, 61, 60)


def test_vault_saves_once_and_pays_once(ledger):
    reader, session = user("rpc-vault"), user("session")
    saved = ledger.vault_save(session_id=session, page_id="S01-P0001", label="opening", user_id=reader)
    assert (saved["new"], saved["credited"], saved["earned"], saved["balance"]) == (True, True, 1, 101)
    again = ledger.vault_save(session_id=session, page_id="S01-P0001", notes="still good", user_id=reader)
    assert (again["new"], again["credited"], again["balance"], again["label"]) == (False, False, 101, "opening")
    anonymous = ledger.vault_save(session_id=session, page_id="S02-P0004")
    assert (anonymous["credited"], anonymous["user_id"]) == (False, None)
    listed = ledger.vault_list(session_id=session)
    assert [p["page_id"] for p in listed["pages"]] == ["S02-P0004", "S01-P0001"]


def test_a_save_naming_only_its_session_pays_the_reader_who_paid_in_it(ledger):
    reader, session = user("rpc-session-reader"), user("session")
    unbound = ledger.vault_save(session_id=session, page_id="S01-P0001")
    assert (unbound["user_id"], unbound["credited"]) == (None, False)  # nobody has paid in this session yet
    ledger.debit(user_id=reader, amount=5, request_id=f"{reader}-turn", reason="chat", session_id=session)
    ledger.debit(user_id=user("interloper"), amount=5, request_id=f"{reader}-other", reason="chat",
                 session_id=session)  # a second payer does not take the session over
    saved = ledger.vault_save(session_id=session, page_id="S02-P0004", label="the issue's body: no user_id")
    assert (saved["user_id"], saved["reader_from"], saved["credited"], saved["earned"], saved["balance"]) == (
        reader, "session", True, 1, 96)


def test_refusals_cross_the_wire_with_their_type(ledger):
    with pytest.raises(RemoteError) as unknown_page:
        ledger.vault_save(session_id="s", page_id="S01-P0999")
    assert unknown_page.value.exc_type == "PageNotFound"
    with pytest.raises(RemoteError) as bad_amount:
        ledger.debit(user_id="u", amount=-5, request_id="r", reason="x")
    assert bad_amount.value.exc_type == "LedgerInputError"
    assert "amount: must be a whole number 1..10000 (got -5)" in bad_amount.value.value
    reader = user("rpc-conflict")
    ledger.debit(user_id=reader, amount=5, request_id=f"{reader}-r", reason="x")
    with pytest.raises(RemoteError) as conflict:
        ledger.credit(user_id=reader, amount=5, request_id=f"{reader}-r", reason="x")
    assert conflict.value.exc_type == "RequestIdConflict"
