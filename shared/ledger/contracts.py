"""The ledger's contract, once: what a user id, an amount or a request id may be, and the shapes the
`ledger` RPC service returns (plain JSON-serialisable dicts). The service checks its input with these and
the gateway checks the same way before any RPC, so both refuse bad input with the same words."""

from __future__ import annotations

import re
from typing import Any, TypedDict

from shared.events.payloads import PAGE_ID_HELP, PAGE_ID_PATTERN
from shared.ledger.errors import LedgerInputError

# The same alphabet and length as session ids (shared.events.envelope.SessionId).
ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
ID_HELP = "1-128 letters, digits, '.', '_', ':' or '-'"
MAX_AMOUNT = 10_000  # per operation
MAX_BALANCE = 1_000_000_000  # well inside Cassandra's INT
MAX_REASON = 200
MAX_LABEL = 200
MAX_NOTES = 4_000
MAX_HISTORY = 10_000
MAX_VAULT_LIST = 500


class DebitResult(TypedDict):
    ok: bool  # False: short of credits, nothing charged
    balance: int
    charged: bool  # False on a repeated request_id (already charged) and when short
    needed: int
    available: int


class CreditResult(TypedDict):
    balance: int
    credited: bool  # False on a repeated request_id


class RefundResult(TypedDict, total=False):
    refunded: bool
    balance: int | None  # None when no account is known for the request
    user_id: str | None
    detail: str  # why nothing was refunded


class GiftResult(TypedDict):
    ok: bool
    gifted: bool  # False on a repeated request_id or when short
    request_id: str
    from_user: str
    to_user: str
    amount: int
    from_balance: int
    to_balance: int | None  # None when short (the receiver was not touched)
    needed: int
    available: int


class HistoryEntry(TypedDict):
    ts: str
    delta: int
    reason: str
    request_id: str
    balance_after: int


def _id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise LedgerInputError([f"{field}: must be {ID_HELP} (got {value!r})"])
    return value


def check_user_id(value: Any, field: str = "user_id") -> str:
    return _id(value, field)


def check_request_id(value: Any, field: str = "request_id") -> str:
    return _id(value, field)


def check_session_id(value: Any, field: str = "session_id") -> str:
    return _id(value, field)


def check_amount(value: Any, field: str = "amount") -> int:
    """A whole number of credits, 1..MAX_AMOUNT (not a bool, not a float, not a numeric string)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_AMOUNT:
        raise LedgerInputError([f"{field}: must be a whole number 1..{MAX_AMOUNT} (got {value!r})"])
    return value


def check_limit(value: Any, maximum: int, field: str = "limit") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise LedgerInputError([f"{field}: must be a whole number 1..{maximum} (got {value!r})"])
    return value


def check_text(value: Any, field: str, maximum: int, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > maximum:
        raise LedgerInputError([f"{field}: must be text of at most {maximum} characters"])
    return value


def check_reason(value: Any) -> str:
    return check_text(value, "reason", MAX_REASON, optional=False) or ""


def check_page(value: Any, field: str = "page_id") -> str:
    if isinstance(value, str) and PAGE_ID_PATTERN.match(value):
        return value
    raise LedgerInputError([f"{field}: {value!r} is not {PAGE_ID_HELP}"])


def check_gift(from_user: Any, to_user: Any, amount: Any, request_id: Any) -> tuple[str, str, int, str]:
    """Every fault at once, so a client fixes its request in one go."""
    problems: list[str] = []
    checked: list[Any] = []
    for check, value, field in ((check_user_id, from_user, "from_user"), (check_user_id, to_user, "to_user"),
                                (check_amount, amount, "amount"), (check_request_id, request_id, "request_id")):
        try:
            checked.append(check(value, field))
        except LedgerInputError as exc:
            problems.extend(exc.problems)
    if not problems and from_user == to_user:
        problems.append("to_user: must differ from from_user")
    if problems:
        raise LedgerInputError(problems)
    return checked[0], checked[1], checked[2], checked[3]
