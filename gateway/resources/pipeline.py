"""The synchronous and operator routes of the pipeline:
`POST /api/v1/pipeline/run/symbol/{code}`, `POST /api/v1/branch/{page_id}`,
`GET /api/v1/pipeline/stats/section/{n}`."""

from __future__ import annotations

import uuid

import falcon
import falcon.asgi

from gateway.bus import EventProducer
from gateway.pages import PageSource
from gateway.resources.events import check_session_id, read_json_object
from gateway.rpc import ServiceCaller
from shared import symbols
from shared.events import Envelope, SymbolSelected
from shared.qdpi.policy import SectionCounters, fork_refusal
from shared.storage.pages import parse_page_id, parse_whole_number
from shared.symbols import behaviour_by_notation

FORK_BEHAVIOUR = behaviour_by_notation("ZP")  # Receive, Parallel: the behaviour that opens a branch


class RunSymbolResource:
    def __init__(self, caller: ServiceCaller):
        self._caller = caller

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, code: str) -> None:
        symbol_code = symbols.check_code(parse_whole_number(code, "symbol_code"))
        body = await read_json_object(req)
        session_id = check_session_id(body.get("session_id") or f"direct-{uuid.uuid4()}")
        page_id = parse_page_id(body["page_id"]) if body.get("page_id") else None
        resp.media = await self._caller.call("page_generator", "run", symbol_code=symbol_code,
                                             session_id=session_id, page_id=page_id,
                                             user_intent=str(body.get("user_intent", "")))


class BranchResource:
    def __init__(self, producer: EventProducer, pages: PageSource):
        self._producer = producer
        self._pages = pages

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, page_id: str) -> None:
        locus = await self._pages.by_id(parse_page_id(page_id))
        body = await read_json_object(req)
        session_id = check_session_id(body.get("session_id"))
        character = symbols.character_by_id(locus["character"])
        stats = await self._pages.section_stats(character.section)
        # The same gate the page generator applies: a page MAX_BRANCH_DEPTH deep must return, not fork. (The
        # generator decides again, race-free, with fork slots; this is the early, explainable refusal.)
        refusal = fork_refusal(SectionCounters(max(0, stats["open_branches"]), max(0, stats["return_debt"])),
                               branch_depth=int(locus.get("branch_depth") or 0))
        if refusal:
            raise falcon.HTTPConflict(title="Conflict", description=f"cannot fork from {locus['page_id']}: {refusal}")
        selected = SymbolSelected(symbol_code=symbols.encode(character.index, FORK_BEHAVIOUR.index),
                                  page_id=locus["page_id"], user_intent=str(body.get("user_intent", "")))
        event = Envelope.wrap(selected, session_id=session_id)
        await self._producer.publish(event)
        resp.status = falcon.HTTP_202
        resp.media = {"event_id": str(event.event_id), "session_id": session_id, "locus": locus["page_id"],
                      "symbol_code": selected.symbol_code}


class SectionStatsResource:
    def __init__(self, pages: PageSource):
        self._pages = pages

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, section: str) -> None:
        number = parse_whole_number(section, "section")
        if not 1 <= number <= symbols.SECTION_COUNT:
            raise symbols.SymbolError(f"section must be 1..{symbols.SECTION_COUNT}, got {number}")
        resp.media = await self._pages.section_stats(number)
