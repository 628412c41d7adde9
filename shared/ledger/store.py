"""The credits ledger in Cassandra (blocking; used from the `ledger` Nameko workers and from tests).

Why a balance can neither go negative nor be charged twice (schema: 0009_ledger_vault.cql):

* An account is one partition: the balance and its `version` are static columns, the history and the
  request rows live beside them. Every change is ONE conditional batch on that partition,
  `IF version = v` (the version just read) plus `IF NOT EXISTS` on the request's row, which sets the new
  balance and version v+1, writes the history entry seq v+1 and the request row. Cassandra applies a
  single-partition conditional batch atomically under Paxos, so balance, history and "this request was
  applied" change together or not at all, and two writers that read the same version cannot both win.
* The balance is checked against the amount before the batch; a writer that lost the race re-reads and
  decides again, so a debit is only ever applied to the balance it was checked against.
* A retry finds its request row and is not applied again. A call whose write timed out (Paxos outcome
  unknown) re-reads: its own `attempt` id on the request row tells it the write did land.
* Every request_id is first claimed in `credit_requests` (IF NOT EXISTS), so one id cannot be a debit of
  5 for one user and a credit for another, and `refund(request_id)` can find the debit's account.

Within one process, changes to the same account also queue on a local lock (striped by user) so the
process does not contend with itself; across processes the conditions above are what keeps it right.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

from cassandra import ConsistencyLevel, OperationTimedOut, Timeout, Unavailable
from cassandra.cluster import Session
from cassandra.protocol import ErrorMessage
from cassandra.query import BatchStatement
from cassandra.util import uuid_from_time

from shared.ledger.contracts import (MAX_BALANCE, CreditResult, DebitResult, GiftResult, HistoryEntry,
                                     RefundResult)
from shared.ledger.errors import LedgerBusy, LedgerInputError, RequestIdConflict

log = logging.getLogger(__name__)

GRANT_REQUEST_ID = "grant"  # the request id of an account's first entry
CAS_WRITE_UNKNOWN = 0x1700  # protocol v5's "the Paxos outcome is unknown" (this driver has no class for it)
LOCK_STRIPES = 64


def _outcome_unknown(exc: BaseException) -> bool:
    """A timeout or a CAS-unknown: the write may or may not have landed, so re-read and decide again."""
    if isinstance(exc, (Timeout, OperationTimedOut, Unavailable)):
        return True
    return isinstance(exc, ErrorMessage) and getattr(exc, "code", None) == CAS_WRITE_UNKNOWN


def _utc(ts: datetime | None) -> str:
    return ts.replace(tzinfo=timezone.utc).isoformat(timespec="milliseconds") if ts else ""


@dataclass(frozen=True)
class _State:
    balance: int
    version: int | None  # None: the account has not been opened
    request: Any | None  # the request's row here (delta, attempt, refunded_by), if it was applied


@dataclass(frozen=True)
class _Done:
    result: Any


@dataclass(frozen=True)
class _Write:
    batch: BatchStatement
    result: Any  # what to answer if the batch applies


class LedgerStore:
    def __init__(self, session: Session, keyspace: str, *, grant: int, deadline_s: float = 20.0,
                 serialise_locally: bool = True):
        self._s = session
        self._grant = grant
        self._deadline_s = deadline_s
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)] if serialise_locally else None
        ks = keyspace

        def prepare(cql: str):
            statement = session.prepare(cql)
            statement.consistency_level = ConsistencyLevel.LOCAL_QUORUM
            return statement

        self._statics = prepare(f"SELECT balance, version FROM {ks}.credit_accounts WHERE user_id = ? LIMIT 1")
        self._request_row = prepare(
            f"SELECT delta, attempt, refunded_by FROM {ks}.credit_accounts "
            f"WHERE user_id = ? AND row_kind = 'request' AND seq = 0 AND request_id = ?")
        self._history = prepare(
            f"SELECT seq, request_id, delta, reason, ts, balance_after FROM {ks}.credit_accounts "
            f"WHERE user_id = ? AND row_kind = 'entry' LIMIT ?")
        self._open = prepare(
            f"UPDATE {ks}.credit_accounts SET balance = ?, version = 1, opened_at = ? WHERE user_id = ? "
            f"IF version = null")
        self._move = prepare(
            f"UPDATE {ks}.credit_accounts SET balance = ?, version = ? WHERE user_id = ? IF version = ?")
        self._mark = prepare(
            f"INSERT INTO {ks}.credit_accounts (user_id, row_kind, seq, request_id, delta, reason, ts, "
            f"balance_after, attempt) VALUES (?, 'request', 0, ?, ?, ?, ?, ?, ?) IF NOT EXISTS")
        self._mark_refunded = prepare(
            f"UPDATE {ks}.credit_accounts SET refunded_by = ? WHERE user_id = ? AND row_kind = 'request' "
            f"AND seq = 0 AND request_id = ? IF delta = ? AND refunded_by = null")
        self._entry = prepare(
            f"INSERT INTO {ks}.credit_accounts (user_id, row_kind, seq, request_id, delta, reason, ts, "
            f"balance_after) VALUES (?, 'entry', ?, ?, ?, ?, ?, ?)")
        self._claim = prepare(
            f"INSERT INTO {ks}.credit_requests (request_id, kind, user_id, to_user, amount, reason, created_at) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS")
        self._claimed = prepare(f"SELECT kind, user_id, to_user, amount FROM {ks}.credit_requests "
                                f"WHERE request_id = ?")
        self._pending_add = prepare(
            f"INSERT INTO {ks}.credit_gifts_pending (hour, request_id, from_user, to_user, amount, created_at) "
            f"VALUES (?, ?, ?, ?, ?, ?)")
        self._pending_in = prepare(f"SELECT request_id, from_user, to_user, amount, created_at "
                                   f"FROM {ks}.credit_gifts_pending WHERE hour = ?")
        self._pending_done = prepare(f"DELETE FROM {ks}.credit_gifts_pending WHERE hour = ? AND request_id = ?")

    # -- the RPC operations ----------------------------------------------------------------------------------

    def balance(self, user_id: str) -> int:
        """The balance; an account that does not exist yet is opened (with the grant) first."""
        return self._transact(user_id, None, lambda state, attempt: _Done(state.balance))

    def history(self, user_id: str, limit: int) -> list[HistoryEntry]:
        """The newest `limit` entries, newest first (opening the account, so a balance always has a history)."""
        self.balance(user_id)
        return [{"ts": _utc(row.ts), "delta": row.delta, "reason": row.reason or "", "request_id": row.request_id,
                 "balance_after": row.balance_after}
                for row in self._s.execute(self._history, (user_id, limit))]

    def debit(self, user_id: str, amount: int, request_id: str, reason: str) -> DebitResult:
        """Take `amount` unless the balance is short (then nothing is taken and ok is False)."""
        self._claim_request(request_id, "debit", user_id, amount, reason=reason)
        return self._debit(user_id, amount, request_id, reason)

    def credit(self, user_id: str, amount: int, request_id: str, reason: str) -> CreditResult:
        self._claim_request(request_id, "credit", user_id, amount, reason=reason)
        return self._credit(user_id, amount, request_id, reason)

    def refund(self, request_id: str, reason: str) -> RefundResult:
        """Give back a debit that was charged and not yet refunded; anything else refunds nothing.

        The refund sets `refunded_by` on the debit's request row in the same conditional batch that moves
        the balance (IF delta = -amount AND refunded_by = null), so a debit is refunded at most once.
        """
        claimed = self._s.execute(self._claimed, (request_id,)).one()
        if claimed is None or claimed.kind != "debit":
            what = f"a {claimed.kind}" if claimed else "unknown"
            return {"refunded": False, "balance": None, "user_id": claimed.user_id if claimed else None,
                    "detail": f"request_id {request_id!r} is {what}, not a debit"}
        user_id, amount = claimed.user_id, claimed.amount

        def step(state: _State, attempt) -> _Done | _Write:
            if state.request is None:
                return _Done({"refunded": False, "balance": state.balance, "user_id": user_id,
                              "detail": f"debit {request_id!r} was never charged"})
            if state.request.refunded_by is not None:
                return _Done({"refunded": state.request.refunded_by == attempt, "balance": state.balance,
                              "user_id": user_id, **({} if state.request.refunded_by == attempt else
                                                     {"detail": f"debit {request_id!r} was already refunded"})})
            new, now = state.balance + amount, _now()
            batch = self._batch()
            batch.add(self._move, (new, state.version + 1, user_id, state.version))
            batch.add(self._mark_refunded, (attempt, user_id, request_id, -amount))
            batch.add(self._entry, (user_id, state.version + 1, request_id, amount, reason, now, new))
            return _Write(batch, {"refunded": True, "balance": new, "user_id": user_id})

        result = self._transact(user_id, request_id, step)
        log.info("refund", extra={"user_id": user_id, "request_id": request_id, "amount": amount,
                                  "refunded": result["refunded"], "balance": result["balance"]})
        return result

    def gift(self, from_user: str, to_user: str, amount: int, request_id: str) -> GiftResult:
        """Move `amount` from one account to another: debit the giver (LWT, never below zero), then credit
        the receiver, both idempotent under the same request_id.

        Cassandra has no transaction across two partitions, so the gift is two steps, and a crash between
        them leaves the giver debited and the receiver not yet credited. Recovery, without anyone having to
        notice: (1) before the debit the gift is written to `credit_gifts_pending`; it is deleted only after
        the credit. (2) A retry of the same gift (same request_id) skips the debit, whose request row it
        finds, and applies the credit. (3) Without a retry, the ledger's sweeper (`settle_pending_gifts`,
        a timer in functions/ledger) finds the pending row, sees the giver's request row, and applies the
        credit itself. The credit is idempotent, so a retry, the sweeper and the original call may all race.
        A reader may therefore see, for at most a sweep interval, a gift that has left one account and not
        yet arrived in the other; credits are never created or lost, and never applied twice.
        """
        self._claim_request(request_id, "gift", from_user, amount, to_user=to_user, reason=f"gift to {to_user}")
        hour = self._pending(request_id, from_user, to_user, amount)
        debited = self._debit(from_user, amount, request_id, f"gift to {to_user}")
        base = {"request_id": request_id, "from_user": from_user, "to_user": to_user, "amount": amount,
                "needed": amount, "available": debited["available"]}
        if not debited["ok"]:
            self._s.execute(self._pending_done, (hour, request_id))
            return {"ok": False, "gifted": False, "from_balance": debited["balance"], "to_balance": None, **base}
        credited = self._credit(to_user, amount, request_id, f"gift from {from_user}")
        self._s.execute(self._pending_done, (hour, request_id))
        return {"ok": True, "gifted": debited["charged"] or credited["credited"], "from_balance": debited["balance"],
                "to_balance": credited["balance"], **base}

    def settle_pending_gifts(self, *, older_than_s: float = 30.0, abandon_after_s: float = 3600.0,
                             hours: int = 24) -> int:
        """Finish gifts whose giver was debited but whose receiver was never credited (a crashed call);
        drop pending rows whose giver was never debited once they are `abandon_after_s` old. Returns how
        many gifts it finished."""
        now = datetime.now(timezone.utc)
        settled = 0
        for bucket in (_hour(now - timedelta(hours=back)) for back in range(hours)):
            for row in self._s.execute(self._pending_in, (bucket,)):
                age = (now - row.created_at.replace(tzinfo=timezone.utc)).total_seconds()
                if age < older_than_s:
                    continue
                if self._read(row.from_user, row.request_id).request is not None:
                    result = self._credit(row.to_user, row.amount, row.request_id, f"gift from {row.from_user}")
                    settled += result["credited"]
                    log.warning("gift finished by the sweeper", extra={
                        "request_id": row.request_id, "from_user": row.from_user, "to_user": row.to_user,
                        "amount": row.amount, "credited": result["credited"]})
                elif age < abandon_after_s:
                    continue
                self._s.execute(self._pending_done, (bucket, row.request_id))
        return settled

    # -- the steps -------------------------------------------------------------------------------------------

    def _debit(self, user_id: str, amount: int, request_id: str, reason: str) -> DebitResult:
        def step(state: _State, attempt) -> _Done | _Write:
            if state.request is not None and state.request.refunded_by is not None:
                # charged, then given back (the turn failed): answering it again for free would make a refunded
                # request_id a free pass, and charging it again would break "never twice"
                raise RequestIdConflict(f"request_id: {request_id} was charged and refunded; a new attempt "
                                        f"needs a new request_id")
            if state.request is not None:  # applied before: by this call (a timed-out write) or an earlier one
                return _Done({"ok": True, "balance": state.balance, "charged": state.request.attempt == attempt,
                              "needed": amount, "available": state.balance})
            if state.balance < amount:
                return _Done({"ok": False, "balance": state.balance, "charged": False, "needed": amount,
                              "available": state.balance})
            new = state.balance - amount
            return _Write(self._change(user_id, state, -amount, request_id, reason, attempt),
                          {"ok": True, "balance": new, "charged": True, "needed": amount, "available": new})

        result = self._transact(user_id, request_id, step)
        log.info("debit", extra={"user_id": user_id, "request_id": request_id, "amount": amount,
                                 "ok": result["ok"], "charged": result["charged"], "balance": result["balance"]})
        return result

    def _credit(self, user_id: str, amount: int, request_id: str, reason: str) -> CreditResult:
        def step(state: _State, attempt) -> _Done | _Write:
            if state.request is not None:
                return _Done({"balance": state.balance, "credited": state.request.attempt == attempt})
            new = state.balance + amount
            if new > MAX_BALANCE:
                raise LedgerInputError([f"amount: would take {user_id}'s balance past {MAX_BALANCE}"])
            return _Write(self._change(user_id, state, amount, request_id, reason, attempt),
                          {"balance": new, "credited": True})

        result = self._transact(user_id, request_id, step)
        log.info("credit", extra={"user_id": user_id, "request_id": request_id, "amount": amount,
                                  "credited": result["credited"], "balance": result["balance"]})
        return result

    def _change(self, user_id: str, state: _State, delta: int, request_id: str, reason: str,
                attempt) -> BatchStatement:
        """One history entry, one request row, one balance move: applied together or not at all."""
        new, version, now = state.balance + delta, state.version + 1, _now()
        batch = self._batch()
        batch.add(self._move, (new, version, user_id, state.version))
        batch.add(self._mark, (user_id, request_id, delta, reason, now, new, attempt))
        batch.add(self._entry, (user_id, version, request_id, delta, reason, now, new))
        return batch

    def _open_account(self, user_id: str) -> None:
        """The grant as the account's first change (version null -> 1); loses harmlessly to a concurrent open."""
        now = _now()
        batch = self._batch()
        batch.add(self._open, (self._grant, now, user_id))
        batch.add(self._entry, (user_id, 1, GRANT_REQUEST_ID, self._grant, "new user grant", now, self._grant))
        try:
            if self._s.execute(batch).was_applied:
                log.info("account opened", extra={"user_id": user_id, "balance": self._grant})
        except Exception as exc:  # noqa: BLE001 - an unknown outcome is settled by the next read
            if not _outcome_unknown(exc):
                raise

    def _transact(self, user_id: str, request_id: str | None,
                  step: Callable[[_State, Any], _Done | _Write]) -> Any:
        """Read, decide, write conditionally; on a lost race or an unknown outcome, read and decide again."""
        attempt = uuid_from_time(time.time())  # this call's id, written on the request row it applies
        with self._lock(user_id):
            for pause in self._pauses():
                try:
                    state = self._read(user_id, request_id)
                    if state.version is None:
                        self._open_account(user_id)
                        continue
                    decision = step(state, attempt)
                    if isinstance(decision, _Done):
                        return decision.result
                    if self._s.execute(decision.batch).was_applied:
                        return decision.result
                except Exception as exc:  # noqa: BLE001 - only outcome-unknown errors are retried
                    if not _outcome_unknown(exc):
                        raise
                    log.info("ledger write outcome unknown; re-reading", extra={"user_id": user_id,
                                                                                 "error": repr(exc)})
                time.sleep(pause)
        raise AssertionError("unreachable: _pauses raises when the deadline passes")

    def _read(self, user_id: str, request_id: str | None) -> _State:
        statics = self._s.execute_async(self._statics, (user_id,))
        request = self._s.execute_async(self._request_row, (user_id, request_id)) if request_id else None
        row = statics.result().one()
        found = request.result().one() if request is not None else None
        if row is None or row.version is None:
            return _State(0, None, None)
        return _State(row.balance or 0, row.version, found)

    def _claim_request(self, request_id: str, kind: str, user_id: str, amount: int, *, to_user: str | None = None,
                       reason: str = "") -> None:
        """Record what this request_id means, once; the same id for anything else is a `RequestIdConflict`."""
        for pause in self._pauses():
            try:
                result = self._s.execute(self._claim, (request_id, kind, user_id, to_user, amount, reason, _now()))
            except Exception as exc:  # noqa: BLE001
                if not _outcome_unknown(exc):
                    raise
                time.sleep(pause)
                continue
            if result.was_applied:
                return
            row = result.one()
            if (row.kind, row.user_id, row.to_user, row.amount) != (kind, user_id, to_user, amount):
                target = f"{row.user_id} -> {row.to_user}" if row.to_user else row.user_id
                raise RequestIdConflict(f"request_id {request_id!r} was already used for a {row.kind} of "
                                        f"{row.amount} ({target}); use a new request_id for a new request")
            return

    def _pending(self, request_id: str, from_user: str, to_user: str, amount: int) -> str:
        now = _now()
        self._s.execute(self._pending_add, (_hour(now), request_id, from_user, to_user, amount, now))
        return _hour(now)

    def _batch(self) -> BatchStatement:
        return BatchStatement(consistency_level=ConsistencyLevel.LOCAL_QUORUM)

    def _lock(self, user_id: str):
        if self._locks is None:
            return _NoLock()
        return self._locks[zlib.crc32(user_id.encode()) % LOCK_STRIPES]

    def _pauses(self) -> Iterator[float]:
        """Jittered, growing pauses between tries until the deadline; then `LedgerBusy`."""
        deadline = time.monotonic() + self._deadline_s
        ceiling = 0.004
        while time.monotonic() < deadline:
            yield random.uniform(0, ceiling)
            ceiling = min(ceiling * 2, 0.25)
        raise LedgerBusy(f"the ledger could not settle this within {self._deadline_s:.0f} s (contention or "
                         "Cassandra undecided); nothing is applied twice, so retry with the same request_id")


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _hour(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H")
