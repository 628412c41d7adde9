"""The credits ledger and the vault against the real Cassandra: concurrency, idempotency, refunds, gifts
(including a crash between a gift's debit and its credit) and a write whose outcome was unknown."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from cassandra import WriteTimeout, WriteType
from cassandra.query import BatchStatement

from shared.ledger.errors import LedgerInputError, RequestIdConflict
from shared.ledger.store import LedgerStore
from shared.ledger.vault import VaultStore, reward_request_id
from shared.storage.cassandra import close_session, open_session

pytestmark = pytest.mark.integration
GRANT = 100


def new_user(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def ledger(cassandra_session, stack_settings, schema_applied) -> LedgerStore:
    return LedgerStore(cassandra_session, stack_settings.cassandra_keyspace, grant=GRANT)


@pytest.fixture(scope="module")
def processes(stack_settings, schema_applied):
    """Five stores on five sessions with no local lock: five ledger processes, as far as Cassandra can tell."""
    sessions = [open_session(stack_settings) for _ in range(5)]
    yield [LedgerStore(s, stack_settings.cassandra_keyspace, grant=GRANT, serialise_locally=False) for s in sessions]
    for session in sessions:
        close_session(session)


def assert_consistent(ledger: LedgerStore, user: str) -> list[dict]:
    """History sums to the balance, seqs have no gaps, and each balance_after follows from the one before."""
    balance = ledger.balance(user)
    history = ledger.history(user, 10_000)
    assert sum(e["delta"] for e in history) == balance
    running = 0
    for entry in reversed(history):
        running += entry["delta"]
        assert entry["balance_after"] == running >= 0
    assert history[0]["balance_after"] == balance
    return history


def test_fifty_concurrent_debits_across_five_processes_charge_exactly_twenty(processes):
    user = new_user("race")
    assert processes[0].balance(user) == GRANT
    barrier = threading.Barrier(50)

    def debit(i: int) -> dict:
        barrier.wait()
        return processes[i % 5].debit(user, 5, f"{user}-turn-{i}", "chat turn")

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(debit, range(50)))
    ok = [r for r in results if r["ok"]]
    short = [r for r in results if not r["ok"]]
    assert len(ok) == 20 and all(r["charged"] for r in ok)
    assert len(short) == 30 and all(r["charged"] is False and r["needed"] == 5 and r["available"] < 5 for r in short)
    assert processes[1].balance(user) == 0
    history = assert_consistent(processes[2], user)
    assert len(history) == 21  # the grant and twenty debits
    assert len({e["request_id"] for e in history if e["delta"] == -5}) == 20


def test_fifty_concurrent_debits_in_one_process(ledger):
    user = new_user("race1")
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda i: ledger.debit(user, 5, f"{user}-{i}", "chat turn"), range(50)))
    assert sum(r["ok"] for r in results) == 20
    assert ledger.balance(user) == 0
    assert_consistent(ledger, user)


def test_a_retried_request_is_not_charged_again_even_concurrently(processes):
    user = new_user("retry")
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda i: processes[i % 5].debit(user, 5, f"{user}-once", "chat turn"), range(10)))
    assert all(r["ok"] for r in results)
    assert sum(r["charged"] for r in results) == 1
    assert processes[0].balance(user) == GRANT - 5
    assert len(assert_consistent(processes[0], user)) == 2


def test_a_new_user_is_granted_once_however_many_first_touches(processes):
    user = new_user("grant")
    with ThreadPoolExecutor(10) as pool:
        balances = list(pool.map(lambda i: processes[i % 5].balance(user), range(10)))
    assert balances == [GRANT] * 10
    history = processes[0].history(user, 10)
    assert [(e["delta"], e["request_id"], e["reason"]) for e in history] == [(GRANT, "grant", "new user grant")]


def test_short_of_credits_nothing_is_charged_and_the_same_request_may_try_again(ledger):
    user = new_user("short")
    assert ledger.debit(user, 60, f"{user}-a", "x")["ok"]
    refused = ledger.debit(user, 60, f"{user}-b", "x")
    assert refused == {"ok": False, "balance": 40, "charged": False, "needed": 60, "available": 40}
    ledger.credit(user, 30, f"{user}-topup", "top-up")
    assert ledger.debit(user, 60, f"{user}-b", "x")["charged"]  # the refused request, retried once funded
    assert ledger.balance(user) == 10
    assert_consistent(ledger, user)


def test_refund_returns_a_debit_once(processes, ledger):
    user = new_user("refund")
    ledger.debit(user, 5, f"{user}-turn", "chat turn")
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda i: processes[i % 5].refund(f"{user}-turn", "llm failed"), range(10)))
    assert sum(r["refunded"] for r in results) == 1
    assert ledger.balance(user) == GRANT
    history = assert_consistent(ledger, user)
    assert [(e["delta"], e["reason"]) for e in history[:2]] == [(5, "llm failed"), (-5, "chat turn")]
    with pytest.raises(RequestIdConflict, match="charged and refunded; a new attempt needs a new request_id"):
        ledger.debit(user, 5, f"{user}-turn", "chat turn")  # neither charged twice nor answered for free
    assert ledger.balance(user) == GRANT


def test_refund_refuses_what_was_never_charged(ledger):
    user = new_user("norefund")
    ledger.debit(user, GRANT + 1, f"{user}-short", "too much")
    assert ledger.refund(f"{user}-short", "r")["refunded"] is False
    assert ledger.refund(f"{user}-never", "r") == {
        "refunded": False, "balance": None, "user_id": None,
        "detail": f"request_id '{user}-never' is unknown, not a debit"}
    ledger.credit(user, 3, f"{user}-credit", "vault")
    assert "is a credit, not a debit" in ledger.refund(f"{user}-credit", "r")["detail"]
    assert ledger.balance(user) == GRANT + 3


def test_a_request_id_means_one_thing(ledger):
    user = new_user("conflict")
    ledger.debit(user, 5, f"{user}-r", "chat")
    with pytest.raises(RequestIdConflict, match="already used for a debit of 5"):
        ledger.debit(user, 7, f"{user}-r", "chat")
    with pytest.raises(RequestIdConflict):
        ledger.credit(new_user(), 5, f"{user}-r", "chat")
    assert ledger.balance(user) == GRANT - 5


def test_credit_is_idempotent_and_bounded(ledger, monkeypatch):
    user = new_user("credit")
    assert ledger.credit(user, 10, f"{user}-c", "vault") == {"balance": GRANT + 10, "credited": True}
    assert ledger.credit(user, 10, f"{user}-c", "vault") == {"balance": GRANT + 10, "credited": False}
    monkeypatch.setattr("shared.ledger.store.MAX_BALANCE", GRANT + 15)
    with pytest.raises(LedgerInputError, match="past 115"):
        ledger.credit(user, 10, f"{user}-big", "x")
    assert ledger.balance(user) == GRANT + 10


def test_gift_moves_credits_once(ledger):
    giver, receiver = new_user("giver"), new_user("receiver")
    gift = ledger.gift(giver, receiver, 30, f"{giver}-g")
    assert (gift["ok"], gift["gifted"], gift["from_balance"], gift["to_balance"]) == (True, True, 70, 130)
    again = ledger.gift(giver, receiver, 30, f"{giver}-g")
    assert (again["ok"], again["gifted"], again["from_balance"], again["to_balance"]) == (True, False, 70, 130)
    short = ledger.gift(giver, receiver, 71, f"{giver}-g2")
    assert (short["ok"], short["needed"], short["available"], short["to_balance"]) == (False, 71, 70, None)
    assert ledger.balance(receiver) == GRANT + 30
    assert_consistent(ledger, giver)
    assert_consistent(ledger, receiver)


def test_a_gift_cut_off_after_its_debit_is_finished_by_the_sweeper(ledger, monkeypatch):
    giver, receiver = new_user("crash-giver"), new_user("crash-receiver")
    real_credit = ledger._credit

    def crash(*args, **kwargs):
        raise SystemExit("process killed between the debit and the credit")

    monkeypatch.setattr(ledger, "_credit", crash)
    with pytest.raises(SystemExit):
        ledger.gift(giver, receiver, 20, f"{giver}-g")
    monkeypatch.setattr(ledger, "_credit", real_credit)
    assert (ledger.balance(giver), ledger.balance(receiver)) == (GRANT - 20, GRANT)  # in flight
    assert ledger.settle_pending_gifts(older_than_s=3600) == 0  # too young to be called stuck
    assert ledger.settle_pending_gifts(older_than_s=0) == 1
    assert (ledger.balance(giver), ledger.balance(receiver)) == (GRANT - 20, GRANT + 20)
    assert ledger.settle_pending_gifts(older_than_s=0) == 0  # settled once, and the pending row is gone
    retry = ledger.gift(giver, receiver, 20, f"{giver}-g")  # a late client retry changes nothing
    assert (retry["gifted"], retry["from_balance"], retry["to_balance"]) == (False, GRANT - 20, GRANT + 20)


def test_a_retry_after_a_crash_finishes_the_gift_too(ledger, monkeypatch):
    giver, receiver = new_user("retry-giver"), new_user("retry-receiver")
    real_credit = ledger._credit
    monkeypatch.setattr(ledger, "_credit", lambda *a, **k: (_ for _ in ()).throw(SystemExit("killed")))
    with pytest.raises(SystemExit):
        ledger.gift(giver, receiver, 20, f"{giver}-g")
    monkeypatch.setattr(ledger, "_credit", real_credit)
    retry = ledger.gift(giver, receiver, 20, f"{giver}-g")
    assert (retry["gifted"], retry["from_balance"], retry["to_balance"]) == (True, GRANT - 20, GRANT + 20)


class TimesOutAfterWriting:
    """A session whose first conditional batch is applied and then reported as a CAS write timeout."""

    def __init__(self, session):
        self._session = session
        self.fired = False

    def __getattr__(self, name):
        return getattr(self._session, name)

    def execute(self, statement, *args, **kwargs):
        result = self._session.execute(statement, *args, **kwargs)
        if isinstance(statement, BatchStatement) and result.was_applied and not self.fired:
            self.fired = True
            raise WriteTimeout("simulated: Paxos outcome unknown", write_type=WriteType.CAS)
        return result


def test_a_write_whose_outcome_was_unknown_is_recognised_not_repeated(cassandra_session, stack_settings, ledger):
    user = new_user("unknown")
    ledger.balance(user)
    flaky = TimesOutAfterWriting(cassandra_session)
    store = LedgerStore(flaky, stack_settings.cassandra_keyspace, grant=GRANT)
    result = store.debit(user, 5, f"{user}-t", "chat")
    assert flaky.fired
    assert result == {"ok": True, "balance": GRANT - 5, "charged": True, "needed": 5, "available": GRANT - 5}
    assert len(assert_consistent(ledger, user)) == 2


def test_vault_saves_a_page_once_and_lists_newest_first(cassandra_session, stack_settings, book):
    vault = VaultStore(cassandra_session, stack_settings.cassandra_keyspace)
    session = f"s-{uuid.uuid4().hex[:8]}"
    assert vault.page_exists("S01-P0001") and not vault.page_exists("S01-P0999")
    first, new = vault.save(session, "S01-P0001", "opening", None)
    assert new and first["label"] == "opening" and first["notes"] is None
    vault.save(session, "S02-P0004", None, "second")
    again, new = vault.save(session, "S01-P0001", None, "with a note")
    assert not new and again["saved_at"] == first["saved_at"]
    assert (again["label"], again["notes"]) == ("opening", "with a note")  # kept what it was not given
    listed = vault.list(session, 10)
    assert [e["page_id"] for e in listed] == ["S02-P0004", "S01-P0001"]
    assert listed[1]["notes"] == "with a note"
    assert reward_request_id("u1", "S01-P0001") == reward_request_id("u1", "S01-P0001") != reward_request_id(
        "u2", "S01-P0001")
