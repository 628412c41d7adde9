"""One chat turn, start to finish, as a stream of events the gateway serves as SSE (or collects for /ask).

    begin():  the character exists (else UnknownCharacter) and the turn is paid for (else
              InsufficientCredits), both before any retrieval or LLM work.
    events(): retrieve (the character's own pages, favoured, and the whole book; the reader's open page too) -> canon page texts from
              Cassandra -> tokens (LLM, or the canon composer when the LLM is unreachable or too slow)
              (+ the nightly note on the best passage's cluster, as background for the LLM) -> grounding check (a verified >= 2-sentence quote with (p.N); the best retrieved one is
              added if the answer has none) + one context line -> citations -> done.
    A failure after the first token ends the stream with `error` and refunds the turn.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Protocol, Sequence

from shared.chat.compose import GENERATOR as COMPOSER, composed_reply
from shared.chat.grounding import CanonPageText, Citation, context_line, quote_around, verified_citations
from shared.chat.model import ChatModel
from shared.chat.prompt import chat_messages
from shared.chat.request import ChatRequest
from shared.ledger.errors import InsufficientCredits
from shared.storage.chat import ChatStore, Persona
from shared.symbols import character_by_id

log = logging.getLogger("gibsey.chat")
PASSAGES = 4
SEARCH_K = 6
# The character's own pages come first unless the book has a clearly better passage: a weak quote in the
# right voice reads worse than a strong one from elsewhere (the context line says whose pages it is from).
OWN_PAGE_BONUS = 0.2
# The page the reader has open (the request's page_id), when retrieval finds it, by a little less: the
# question is probably about it, but not a reason to quote it over a clearly closer passage.
READER_PAGE_BONUS = 0.1
_TOKEN = re.compile(r"\s*\S+")


class UnknownCharacter(LookupError):
    pass


class Ledger(Protocol):
    def debit(self, user_id: str, amount: int, request_id: str, reason: str, session_id: str) -> Awaitable[dict]: ...
    def refund(self, request_id: str, reason: str) -> Awaitable[dict]: ...


class Memory(Protocol):
    def recall(self, query: str, k: int, character: str) -> Awaitable[tuple[list[dict], list[dict]]]:
        """The quotes closest to `query`: (from the character's own pages, from the whole book)."""


@dataclass(frozen=True)
class ChatEvent:
    name: str  # token | citation | done | error
    data: dict[str, Any]


@dataclass(frozen=True)
class Paid:
    persona: Persona
    balance: int


class ChatTurn:
    def __init__(self, store: ChatStore, ledger: Ledger, memory: Memory, model: ChatModel | None, *,
                 cost: int, history_turns: int = 6) -> None:
        self._store, self._ledger, self._memory, self._model = store, ledger, memory, model
        self._cost, self._history_turns = cost, history_turns

    async def begin(self, request: ChatRequest) -> Paid:
        persona = await self._store.persona(request.char_id)
        if persona is None:
            raise UnknownCharacter(f"char_id: no character {request.char_id!r} in this book (was a corpus ingested?)")
        charge = await self._ledger.debit(request.user_id, self._cost, request.request_id,
                                          f"chat:{request.char_id}", request.session_id)
        InsufficientCredits.raise_if_short(charge)
        return Paid(persona, charge["balance"])

    async def events(self, request: ChatRequest, paid: Paid) -> AsyncIterator[ChatEvent]:
        persona = paid.persona

        def token(text: str) -> ChatEvent:
            return ChatEvent("token", {"char_id": persona.char_id, "color": persona.colour, "token": text})
        try:
            passages, pages = await self._passages(request)
            if not passages:
                raise LookupError("no canon passage could be retrieved for this question")
            turns, note = await asyncio.gather(
                self._store.recent_turns(request.session_id, request.char_id, self._history_turns),
                self._store.cluster_note(passages[0].page_id))
        except Exception as exc:  # noqa: BLE001 - nothing was said yet: refund and report
            async for event in self._fail(request, "retrieval", exc):
                yield event
            return
        pieces: list[str] = []
        generator = COMPOSER
        if self._model is not None:
            try:
                messages = chat_messages(persona, passages, turns, request.message, note["summary"] if note else None)
                async for piece in self._model.stream(messages):
                    pieces.append(piece)
                    yield token(piece)
                generator = self._model.name
            except Exception as exc:  # noqa: BLE001 - LMUnavailable, or anything the LLM path did not foresee
                if pieces:  # the reader has part of an answer: end it with an error and give the credits back
                    async for event in self._fail(request, "llm", exc):
                        yield event
                    return
                log.warning("llm unavailable, canon composer answers", extra={
                    "reason": getattr(exc, "reason", type(exc).__name__), "session_id": request.session_id,
                    "request_id": request.request_id})
        if generator == COMPOSER:
            best = passages[0]
            own = pages[best.page_number].character_id == persona.char_id
            for piece in _words(composed_reply(persona.display_name, best, own)):
                pieces.append(piece)
                yield token(piece)
        answer = "".join(pieces)
        citations = verified_citations(answer, pages)
        if not citations:  # the LLM did not quote verbatim: the best retrieved quote is added
            citations = [passages[0]]
            for piece in _words(f"\n\n“{passages[0].quote}” {passages[0].marker}"):
                pieces.append(piece)
                yield token(piece)
        page = pages[citations[0].page_number]
        for piece in _words("\n" + context_line(page, character_by_id(page.character_id).display_name)):
            pieces.append(piece)
            yield token(piece)
        answer = "".join(pieces)
        for citation in citations:
            yield ChatEvent("citation", citation.as_dict())
        try:
            await self._store.add_exchange(request.session_id, request.char_id, request.message, answer,
                                           request.request_id, generator)
        except Exception as exc:  # noqa: BLE001 - the reader has the answer; only the thread's memory is short
            log.error("chat turn not stored", extra={"error": repr(exc), "session_id": request.session_id,
                                                     "request_id": request.request_id})
        yield ChatEvent("done", {"answer": answer, "citations": [c.as_dict() for c in citations],
                                 "credits_left": paid.balance, "generator": generator,
                                 "book_note": _note_ref(note)})

    async def _passages(self, request: ChatRequest) -> tuple[list[Citation], dict[int, CanonPageText]]:
        own, book = await self._memory.recall(request.message, SEARCH_K, request.char_id)
        unique = {(h["page_id"], h["loc"]): h for h in [*book, *own]}
        hits = sorted(unique.values(), key=lambda h: -(h["score"] + OWN_PAGE_BONUS * (h["character"] == request.char_id)
                                                       + READER_PAGE_BONUS * (h["page_id"] == request.page_id)))
        pages = await self._store.canon_pages([h["page_id"] for h in hits])
        passages: list[Citation] = []
        for hit in hits:
            page = pages.get(hit["page_number"])
            quote = quote_around(page, hit["quote"]) if page is not None else None
            if quote and all(quote != p.quote for p in passages):
                passages.append(Citation(page.page_id, page.page_number, hit["loc"], quote))
            if len(passages) == PASSAGES:
                break
        return passages, pages

    async def _fail(self, request: ChatRequest, stage: str, exc: BaseException) -> AsyncIterator[ChatEvent]:
        log.error("chat turn failed", extra={"stage": stage, "error": str(exc), "session_id": request.session_id,
                                             "request_id": request.request_id})
        refund: dict = {}
        try:
            refund = await self._ledger.refund(request.request_id, f"refund:{stage} failed")
        except Exception as refund_exc:  # noqa: BLE001 - report both; the ledger can be repaired later
            log.error("refund failed", extra={"error": str(refund_exc), "request_id": request.request_id})
        yield ChatEvent("error", {"stage": stage, "error": str(exc), "refunded": bool(refund.get("refunded")),
                                  "credits_left": refund.get("balance")})


def _note_ref(note: dict | None) -> dict | None:
    """Which nightly note the turn drew on (readers fetch it at /api/v1/summaries/{cluster_id})."""
    return {k: note[k] for k in ("cluster_id", "run_id", "keywords")} if note else None


def _words(text: str) -> Sequence[str]:
    """Split text into stream tokens that join back to exactly the text (each word with its leading space)."""
    return _TOKEN.findall(text)
