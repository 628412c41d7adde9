"""The ledger's contracts, its configuration, its migration, and the service's own logic (vault rewards)
with the storage replaced (nameko.testing's worker_factory; the storage itself is tested on Cassandra)."""

from __future__ import annotations

import pytest
from nameko.testing.services import worker_factory

from functions.ledger.service import LedgerService
from shared.config import ConfigError, Settings
from shared.ledger import contracts as c
from shared.ledger.errors import InsufficientCredits, LedgerInputError, RequestIdConflict
from shared.ledger.vault import reward_request_id
from shared.storage.pages import PageNotFound
from shared.storage.schema import load_migrations


@pytest.mark.parametrize("value", ["reader-7", "a", "x" * 128, "sess.1:2_3"])
def test_ids_that_are_accepted(value):
    assert c.check_user_id(value) == value


@pytest.mark.parametrize("value", ["", "x" * 129, "a b", "a/b", None, 7, "ü"])
def test_ids_that_are_refused_name_the_field(value):
    with pytest.raises(LedgerInputError, match=r"^from_user: must be 1-128"):
        c.check_user_id(value, "from_user")


@pytest.mark.parametrize("value", [0, -1, 10_001, 1.0, "1", True, None])
def test_amounts_are_whole_positive_and_bounded(value):
    with pytest.raises(LedgerInputError, match=r"^amount: must be a whole number 1\.\.10000"):
        c.check_amount(value)


def test_gift_checks_report_every_problem():
    with pytest.raises(LedgerInputError) as caught:
        c.check_gift("", "b c", 0, None)
    assert [p.split(":")[0] for p in caught.value.problems] == ["from_user", "to_user", "amount", "request_id"]
    with pytest.raises(LedgerInputError, match="to_user: must differ"):
        c.check_gift("a", "a", 5, "r")
    assert c.check_gift("a", "b", 5, "r") == ("a", "b", 5, "r")


def test_text_fields():
    assert c.check_text(None, "label", 5) is None
    assert c.check_reason("chat turn") == "chat turn"
    with pytest.raises(LedgerInputError, match="reason: must be text"):
        c.check_reason(None)
    with pytest.raises(LedgerInputError, match="label: must be text of at most 5"):
        c.check_text("toolong", "label", 5)


def test_insufficient_credits_from_a_debit_result():
    accepted = {"ok": True, "balance": 45, "charged": True, "needed": 5, "available": 45}
    assert InsufficientCredits.raise_if_short(accepted) is accepted
    with pytest.raises(InsufficientCredits) as caught:
        InsufficientCredits.raise_if_short({"ok": False, "balance": 3, "charged": False, "needed": 5, "available": 3})
    assert (caught.value.needed, caught.value.available) == (5, 3)


def test_config_knobs_default_and_parse():
    defaults = Settings.from_env({})
    assert (defaults.chat_cost, defaults.vault_reward, defaults.new_user_grant) == (5, 1, 50)
    custom = Settings.from_env({"GIBSEY_CHAT_COST": "7", "GIBSEY_VAULT_REWARD": "0", "GIBSEY_NEW_USER_GRANT": "100"})
    assert (custom.chat_cost, custom.vault_reward, custom.new_user_grant) == (7, 0, 100)
    back = Settings.from_nameko_config(custom.nameko_config)
    assert (back.chat_cost, back.vault_reward, back.new_user_grant) == (7, 0, 100)


@pytest.mark.parametrize("env, named", [({"GIBSEY_CHAT_COST": "0"}, "GIBSEY_CHAT_COST"),
                                        ({"GIBSEY_VAULT_REWARD": "-1"}, "GIBSEY_VAULT_REWARD"),
                                        ({"GIBSEY_NEW_USER_GRANT": "lots"}, "GIBSEY_NEW_USER_GRANT")])
def test_bad_knobs_name_their_variable(env, named):
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_the_migration_creates_the_ledger_tables():
    created = " ".join(s for m in load_migrations() for s in m.statements)
    for table in ("credit_accounts", "credit_requests", "credit_gifts_pending", "vault_pages"):
        assert f"CREATE TABLE IF NOT EXISTS {table} (" in created
    assert "balance INT STATIC" in created and "version BIGINT STATIC" in created


class FakeBooks:
    """What the service's Books dependency hands a worker, with recording stores."""

    def __init__(self, reward: int = 1, pages: tuple[str, ...] = ("S01-P0001",)):
        self.settings = Settings(vault_reward=reward)
        self.credits: list[tuple] = []
        self.conflict = False
        self.ledger = self
        self.vault = self
        self.readers = self
        self.bound: dict[str, str] = {}  # session_id -> user_id
        self._pages = pages
        self._saved: set[tuple[str, str]] = set()

    def page_exists(self, page_id):
        return page_id in self._pages

    def bind(self, session_id, user_id):
        return self.bound.setdefault(session_id, user_id)

    def reader_of(self, session_id):
        return self.bound.get(session_id)

    def save(self, session_id, page_id, label, notes):
        new = (session_id, page_id) not in self._saved
        self._saved.add((session_id, page_id))
        return {"session_id": session_id, "page_id": page_id, "label": label, "notes": notes,
                "saved_at": "2026-11-21T10:00:00.000+00:00"}, new

    def credit(self, user_id, amount, request_id, reason):
        if self.conflict:
            raise RequestIdConflict("used before")
        first = all(rid != request_id for _, _, rid, _ in self.credits)
        self.credits.append((user_id, amount, request_id, reason))
        return {"balance": 50 + amount, "credited": first}

    def balance(self, user_id):
        return 50

    def debit(self, *args):
        raise AssertionError("input should have been refused before the store")

    history = debit


def test_vault_save_pays_the_user_once_per_page():
    books = FakeBooks()
    service = worker_factory(LedgerService, books=books)
    first = service.vault_save("s-1", "S01-P0001", label="opening", user_id="reader-7")
    assert (first["new"], first["credited"], first["earned"], first["balance"]) == (True, True, 1, 51)
    assert books.credits == [("reader-7", 1, reward_request_id("reader-7", "S01-P0001"), "vault: saved S01-P0001")]
    in_another_session = service.vault_save("s-2", "S01-P0001", user_id="reader-7")
    assert (in_another_session["new"], in_another_session["credited"], in_another_session["earned"]) == (
        True, False, 0)


def test_vault_save_in_a_session_nobody_paid_in_pays_nobody():
    books = FakeBooks()
    saved = worker_factory(LedgerService, books=books).vault_save("s-1", "S01-P0001")
    assert (saved["user_id"], saved["reader_from"], saved["credited"], saved["earned"], saved["balance"]) == (
        None, None, False, 0, None)
    assert books.credits == []


def test_vault_save_without_a_user_pays_the_sessions_reader():
    books = FakeBooks()
    books.bound["s-1"] = "reader-7"
    saved = worker_factory(LedgerService, books=books).vault_save("s-1", "S01-P0001")
    assert (saved["user_id"], saved["reader_from"], saved["credited"], saved["earned"]) == (
        "reader-7", "session", True, 1)
    assert books.credits == [("reader-7", 1, reward_request_id("reader-7", "S01-P0001"), "vault: saved S01-P0001")]
    named = worker_factory(LedgerService, books=books).vault_save("s-1", "S01-P0001", user_id="reader-8")
    assert (named["user_id"], named["reader_from"]) == ("reader-8", "request")  # a named user wins


def test_debit_binds_its_session_to_the_payer_before_charging():
    books = FakeBooks()
    books.debit = lambda user_id, amount, request_id, reason: {"ok": True, "bound": dict(books.bound)}
    service = worker_factory(LedgerService, books=books)
    assert service.debit("reader-7", 5, "r-1", "chat", session_id="s-1")["bound"] == {"s-1": "reader-7"}
    service.debit("reader-8", 5, "r-2", "chat", session_id="s-1")
    assert books.bound == {"s-1": "reader-7"}  # the first payer keeps the session
    with pytest.raises(LedgerInputError, match="session_id"):
        service.debit("reader-7", 5, "r-3", "chat", session_id=" ")


def test_vault_reward_switched_off_or_changed_pays_nothing_more():
    off = FakeBooks(reward=0)
    assert worker_factory(LedgerService, books=off).vault_save("s", "S01-P0001", user_id="u")["balance"] == 50
    assert off.credits == []
    changed = FakeBooks(reward=2)
    changed.conflict = True  # rewarded before, under another GIBSEY_VAULT_REWARD
    saved = worker_factory(LedgerService, books=changed).vault_save("s", "S01-P0001", user_id="u")
    assert (saved["credited"], saved["earned"], saved["balance"]) == (False, 0, 50)


def test_vault_save_refuses_unknown_pages_and_bad_input():
    service = worker_factory(LedgerService, books=FakeBooks())
    with pytest.raises(PageNotFound, match="no page with id S01-P0999"):
        service.vault_save("s-1", "S01-P0999")
    with pytest.raises(LedgerInputError, match="page_id"):
        service.vault_save("s-1", "page-1")
    with pytest.raises(LedgerInputError, match="amount"):
        service.debit("u", 0, "r", "chat")
    with pytest.raises(LedgerInputError, match="limit"):
        service.history("u", 0)
