"""What the ledger refuses, as exceptions: each maps to one HTTP status in gateway/errors.py, and crosses
Nameko RPC by its type name (a remote `LedgerInputError` is a 422 too)."""

from __future__ import annotations


class LedgerInputError(ValueError):
    """Input that could never be a valid ledger request; `problems` holds one "field: why" line per fault."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class InsufficientCredits(Exception):
    """Short of credits (HTTP 402, with `needed` and `available`); nothing was charged."""

    def __init__(self, needed: int, available: int):
        self.needed = needed
        self.available = available
        super().__init__(f"this needs {needed} credits and the account has {available}")

    @classmethod
    def raise_if_short(cls, result: dict) -> dict:
        """For callers of `ledger.debit`/`ledger.gift`: pass an accepted result through, raise on ok False."""
        if not result.get("ok", True):
            raise cls(int(result["needed"]), int(result["available"]))
        return result


class RequestIdConflict(Exception):
    """The request_id was already used for a different operation (HTTP 409); nothing was changed."""


class LedgerBusy(RuntimeError):
    """The account stayed contended (or Cassandra undecided) past the deadline (HTTP 503); safe to retry
    with the same request_id."""
