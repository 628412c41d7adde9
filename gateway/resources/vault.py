"""The reader's vault: `POST /api/v1/vault` saves a page (201 the first time, 200 when it was already
saved) and `GET /api/v1/vault?session_id=` lists a session's pages, newest first (RPC to the ledger
function, which owns the vault and pays the reward)."""

from __future__ import annotations

import falcon
import falcon.asgi

from gateway.resources.credits import int_param, refuse_unknown_fields
from gateway.resources.events import read_json_object
from gateway.rpc import ServiceCaller
from shared.ledger import contracts as c
from shared.ledger.errors import LedgerInputError

SAVE_FIELDS = {"session_id", "page_id", "label", "notes", "user_id"}
DEFAULT_LIST = 100


def check_save(body: dict) -> dict:
    """Every fault at once, each naming its field."""
    refuse_unknown_fields(body, SAVE_FIELDS)
    checks = {
        "session_id": lambda v: c.check_session_id(v),
        "page_id": lambda v: c.check_page(v),
        "label": lambda v: c.check_text(v, "label", c.MAX_LABEL),
        "notes": lambda v: c.check_text(v, "notes", c.MAX_NOTES),
        "user_id": lambda v: None if v is None else c.check_user_id(v),
    }
    checked, problems = {}, []
    for field, check in checks.items():
        try:
            checked[field] = check(body.get(field))
        except LedgerInputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise LedgerInputError(problems)
    return checked


class VaultResource:
    def __init__(self, caller: ServiceCaller):
        self._caller = caller

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        saved = await self._caller.call("ledger", "vault_save", **check_save(await read_json_object(req)))
        resp.status = falcon.HTTP_201 if saved["new"] else falcon.HTTP_200
        resp.media = saved

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        session_id = c.check_session_id(req.get_param("session_id"))
        limit = int_param(req, "limit", DEFAULT_LIST, c.MAX_VAULT_LIST)
        resp.media = await self._caller.call("ledger", "vault_list", session_id=session_id, limit=limit)
