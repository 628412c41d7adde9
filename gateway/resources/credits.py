"""Credits: `GET /api/v1/users/{user_id}/credits`, `GET /api/v1/users/{user_id}/ledger.csv` and
`POST /api/v1/credits/gift` (RPC to the ledger function; input is checked here first, so a malformed
request is a 422 naming the field without a round trip)."""

from __future__ import annotations

import csv
import io
import uuid

import falcon
import falcon.asgi

from gateway.resources.events import read_json_object
from gateway.rpc import ServiceCaller
from shared.ledger import contracts as c
from shared.ledger.errors import InsufficientCredits, LedgerInputError
from shared.numbers import ascii_whole_number

CSV_COLUMNS = ("ts", "delta", "reason", "request_id", "balance_after")
DEFAULT_CSV_ROWS = 1000
GIFT_FIELDS = {"from_user", "to_user", "amount", "request_id"}


def int_param(req: falcon.asgi.Request, name: str, default: int, maximum: int) -> int:
    raw = req.get_param(name)
    if raw is None or raw == "":
        return default
    number = ascii_whole_number(raw)
    if number is None:
        raise LedgerInputError([f"{name}: must be a whole number 1..{maximum} (got {raw!r})"])
    return c.check_limit(number, maximum, name)


def refuse_unknown_fields(body: dict, known: set[str]) -> None:
    unknown = set(body) - known
    if unknown:
        raise LedgerInputError([f"{name}: not a field of this request" for name in sorted(unknown)])


def _cell(value: object) -> object:
    """Text a spreadsheet would run as a formula (=, +, -, @ first) is quoted with a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def ledger_csv(entries: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow([entry["ts"], entry["delta"], _cell(entry["reason"]), _cell(entry["request_id"]),
                         entry["balance_after"]])
    return out.getvalue()


class UserCreditsResource:
    def __init__(self, caller: ServiceCaller):
        self._caller = caller

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, user_id: str) -> None:
        resp.media = await self._caller.call("ledger", "balance", user_id=c.check_user_id(user_id))


class UserLedgerCsvResource:
    """The account's history as CSV, newest first (`?limit=`, default 1000)."""

    def __init__(self, caller: ServiceCaller):
        self._caller = caller

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, user_id: str) -> None:
        user_id = c.check_user_id(user_id)
        limit = int_param(req, "limit", DEFAULT_CSV_ROWS, c.MAX_HISTORY)
        entries = await self._caller.call("ledger", "history", user_id=user_id, limit=limit)
        resp.content_type = "text/csv; charset=utf-8"
        resp.set_header("Content-Disposition", f'attachment; filename="ledger-{user_id}.csv"')
        resp.text = ledger_csv(entries)


class GiftResource:
    """`{from_user, to_user, amount, request_id?}`: 200 with both balances, 402 when the giver is short.
    Send a request_id to be able to retry safely; without one the gateway makes one up (and returns it)."""

    def __init__(self, caller: ServiceCaller):
        self._caller = caller

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        body = await read_json_object(req)
        refuse_unknown_fields(body, GIFT_FIELDS)
        from_user, to_user, amount, request_id = c.check_gift(
            body.get("from_user"), body.get("to_user"), body.get("amount"),
            body.get("request_id", f"gift-{uuid.uuid4()}"))
        result = await self._caller.call("ledger", "gift", from_user=from_user, to_user=to_user, amount=amount,
                                         request_id=request_id)
        resp.media = InsufficientCredits.raise_if_short(result)
