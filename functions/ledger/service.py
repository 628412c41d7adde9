"""ledger: credits per user and the reader's vault, over Nameko RPC.

Owns:   RPC `ledger.debit / refund / credit / gift / balance / history` and `ledger.vault_save / vault_list`;
        a timer that finishes gifts a crashed call left half done (`GIBSEY_LEDGER_SWEEP_S`, default 60).
Writes: credit_accounts, credit_requests, credit_gifts_pending, vault, vault_pages, session_readers (a
        debit that names its session binds it to the payer, so a vault save naming only the session earns
        that reader the reward).  Emits: nothing.
Reads:  pages (does a saved page exist).
Every write is idempotent by request_id and guarded by lightweight transactions (shared/ledger/store.py),
so a caller may retry anything with the same request_id. Results are plain JSON dicts; bad input raises
`LedgerInputError`, which reaches the caller as a RemoteError of that type (the gateway answers 422).
"""

from __future__ import annotations

import logging
import os

from cassandra import DriverException
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.timer import timer

from shared.config import Settings, positive_seconds
from shared.ledger import contracts as c
from shared.ledger.errors import RequestIdConflict
from shared.ledger.readers import SessionReaders
from shared.ledger.store import LedgerStore
from shared.ledger.vault import VaultStore, reward_request_id
from shared.storage.cassandra import StorageUnavailable, close_session, open_session
from shared.storage.pages import PageNotFound
from shared.rpc import rpc_service

log = logging.getLogger(__name__)
SWEEP_S = positive_seconds(os.environ, "GIBSEY_LEDGER_SWEEP_S", 60.0)


class Books(DependencyProvider):
    """One Cassandra session per container, and the two stores over it."""

    def setup(self) -> None:
        self.settings = Settings.from_nameko_config(self.container.config)
        self._session = None
        self.ledger: LedgerStore | None = None
        self.vault: VaultStore | None = None
        self.readers: SessionReaders | None = None

    def start(self) -> None:
        self._session = open_session(self.settings)
        keyspace = self.settings.cassandra_keyspace
        self.ledger = LedgerStore(self._session, keyspace, grant=self.settings.new_user_grant)
        self.vault = VaultStore(self._session, keyspace)
        self.readers = SessionReaders(self._session, keyspace)
        log.info("ledger ready", extra={"keyspace": keyspace, "grant": self.settings.new_user_grant,
                                        "vault_reward": self.settings.vault_reward})

    def stop(self) -> None:
        if self._session is not None:
            close_session(self._session)

    def get_dependency(self, worker_ctx) -> "Books":
        return self


class LedgerService:
    name = rpc_service("ledger")
    books = Books()

    @rpc
    def debit(self, user_id: str, amount: int, request_id: str, reason: str,
              session_id: str | None = None) -> c.DebitResult:
        """Charge `amount` (ok False and nothing charged when short; a repeated request_id is not charged
        again: ok True, charged False). A new user gets the grant first. With a session_id, the session is
        bound to this user if it is not bound yet (see shared/ledger/readers.py)."""
        user_id, amount = c.check_user_id(user_id), c.check_amount(amount)
        request_id, reason = c.check_request_id(request_id), c.check_reason(reason)
        if session_id is not None:
            self.books.readers.bind(c.check_session_id(session_id), user_id)
        return self.books.ledger.debit(user_id, amount, request_id, reason)

    @rpc
    def refund(self, request_id: str, reason: str) -> c.RefundResult:
        """Give back the debit made under `request_id`, once; refunded False if it was never charged,
        was already refunded, or `request_id` is not a debit."""
        return self.books.ledger.refund(c.check_request_id(request_id), c.check_reason(reason))

    @rpc
    def credit(self, user_id: str, amount: int, request_id: str, reason: str) -> c.CreditResult:
        return self.books.ledger.credit(c.check_user_id(user_id), c.check_amount(amount),
                                        c.check_request_id(request_id), c.check_reason(reason))

    @rpc
    def gift(self, from_user: str, to_user: str, amount: int, request_id: str) -> c.GiftResult:
        """Debit the giver (never below zero), then credit the receiver; see LedgerStore.gift for what
        happens when a crash falls between the two."""
        return self.books.ledger.gift(*c.check_gift(from_user, to_user, amount, request_id))

    @rpc
    def balance(self, user_id: str) -> dict:
        user_id = c.check_user_id(user_id)
        return {"user_id": user_id, "balance": self.books.ledger.balance(user_id)}

    @rpc
    def history(self, user_id: str, limit: int = 100) -> list[c.HistoryEntry]:
        """Newest first: {ts, delta, reason, request_id, balance_after}."""
        return self.books.ledger.history(c.check_user_id(user_id), c.check_limit(limit, c.MAX_HISTORY))

    @rpc
    def vault_save(self, session_id: str, page_id: str, label: str | None = None, notes: str | None = None,
                   user_id: str | None = None) -> dict:
        """Save a page to the session's vault. Its reader (`user_id`, or else the user the session is bound
        to) earns GIBSEY_VAULT_REWARD credits the first time they save that page (in any session); a session
        nobody has paid in yet, with no user_id, saves the page and earns nobody anything (`reader_from` null).
        An unknown page raises PageNotFound (404 at the gateway)."""
        session_id = c.check_session_id(session_id)
        page_id = c.check_page(page_id)
        label = c.check_text(label, "label", c.MAX_LABEL)
        notes = c.check_text(notes, "notes", c.MAX_NOTES)
        user_id = c.check_user_id(user_id) if user_id is not None else None
        if not self.books.vault.page_exists(page_id):
            raise PageNotFound(f"no page with id {page_id}")
        reader_from = "request" if user_id is not None else None
        if user_id is None:
            user_id = self.books.readers.reader_of(session_id)
            reader_from = "session" if user_id is not None else None
        entry, new = self.books.vault.save(session_id, page_id, label, notes)
        reward = {"user_id": user_id, "reader_from": reader_from, "credited": False, "earned": 0, "balance": None}
        amount = self.books.settings.vault_reward
        if user_id is not None and amount > 0:
            try:
                paid = self.books.ledger.credit(user_id, amount, reward_request_id(user_id, page_id),
                                                f"vault: saved {page_id}")
                reward.update(credited=paid["credited"], earned=amount if paid["credited"] else 0,
                              balance=paid["balance"])
            except RequestIdConflict:  # rewarded before under another GIBSEY_VAULT_REWARD: still once
                reward["balance"] = self.books.ledger.balance(user_id)
        elif user_id is not None:
            reward["balance"] = self.books.ledger.balance(user_id)
        return {**entry, "new": new, **reward}

    @rpc
    def vault_list(self, session_id: str, limit: int = 100) -> dict:
        session_id = c.check_session_id(session_id)
        return {"session_id": session_id,
                "pages": self.books.vault.list(session_id, c.check_limit(limit, c.MAX_VAULT_LIST))}

    @timer(interval=SWEEP_S)
    def settle_gifts(self) -> None:
        try:
            settled = self.books.ledger.settle_pending_gifts()
        except (StorageUnavailable, DriverException) as exc:
            log.warning("pending gifts not swept", extra={"error": repr(exc)})
            return
        if settled:
            log.warning("pending gifts finished", extra={"settled": settled})
