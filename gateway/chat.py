"""The gateway's chat collaborator: a ChatTurn wired to Cassandra (connected on first use, like the page
source, on the gateway's shared session), the ledger and retrieval functions over RPC, and Ollama (or no LLM, with GIBSEY_CHAT_LLM=off)."""

from __future__ import annotations

import os
from typing import AsyncIterator

from gateway.cassandra import CassandraConnection, Lazy
from gateway.rpc import ServiceCaller
from shared.chat.model import OllamaChat
from shared.chat.request import ChatRequest
from shared.chat.turn import ChatEvent, ChatTurn, Paid
from shared.config import Settings, positive_seconds
from shared.qdpi.lm import llm_timeout_s
from shared.storage.chat import ChatStore


class RpcLedger:
    def __init__(self, caller: ServiceCaller) -> None:
        self._caller = caller

    async def debit(self, user_id: str, amount: int, request_id: str, reason: str, session_id: str) -> dict:
        return await self._caller.call("ledger", "debit", user_id=user_id, amount=amount, request_id=request_id,
                                       reason=reason, session_id=session_id)

    async def refund(self, request_id: str, reason: str) -> dict:
        return await self._caller.call("ledger", "refund", request_id=request_id, reason=reason)


class RpcMemory:
    def __init__(self, caller: ServiceCaller) -> None:
        self._caller = caller

    async def recall(self, query: str, k: int, character: str) -> tuple[list[dict], list[dict]]:
        found = await self._caller.call("retrieval", "recall", query=query, k=k, character=character)
        return found["own"], found["book"]


def chat_model(settings: Settings, env=os.environ) -> OllamaChat | None:
    if env.get("GIBSEY_CHAT_LLM", "ollama").strip().lower() == "off":
        return None
    return OllamaChat(settings.ollama_base_url, settings.ollama_model,
                      first_token_s=positive_seconds(env, "GIBSEY_CHAT_FIRST_TOKEN_S", 8.0),
                      total_s=llm_timeout_s(env))


class CassandraChat:
    def __init__(self, connection: CassandraConnection, settings: Settings, caller: ServiceCaller) -> None:
        self._store = Lazy(connection, ChatStore)
        self._settings, self._caller = settings, caller
        self._turn: ChatTurn | None = None

    async def _ready(self) -> ChatTurn:
        if self._turn is None:
            self._turn = ChatTurn(await self._store.get(), RpcLedger(self._caller), RpcMemory(self._caller),
                                  chat_model(self._settings), cost=self._settings.chat_cost)
        return self._turn

    async def begin(self, request: ChatRequest) -> Paid:
        return await (await self._ready()).begin(request)

    async def events(self, request: ChatRequest, paid: Paid) -> AsyncIterator[ChatEvent]:
        async for event in (await self._ready()).events(request, paid):
            yield event

    async def close(self) -> None:
        self._turn = None
        await self._store.close()
