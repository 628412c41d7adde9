"""`create_app(settings)`: the gateway's routes, with collaborators injected so tests can supply their own."""

from __future__ import annotations

from typing import Any

import falcon.asgi

from gateway import errors
from gateway.bus import EventProducer
from gateway.cassandra import CassandraConnection
from gateway.openapi import openapi_document
from gateway.pages import CassandraPages, PageSource
from gateway.chat import CassandraChat
from gateway.resources.chat import AskResource, Chat, ChatResource
from gateway.resources.credits import GiftResource, UserCreditsResource, UserLedgerCsvResource
from gateway.resources.events import EventStreamResource, SymbolEventResource
from gateway.resources.health import HealthResource
from gateway.resources.pages import PageByIdResource, PageByNumberResource
from gateway.resources.pipeline import BranchResource, RunSymbolResource, SectionStatsResource
from gateway.resources.qdpi import StaticDocumentResource, characters_document, manifest_document
from gateway.resources.retrieve import RetrieveResource
from gateway.resources.summaries import (CassandraSummaries, SummariesResource, SummaryByClusterResource,
                                         SummarySource)
from gateway.resources.vault import VaultResource
from gateway.rpc import ServiceCaller
from gateway.stream import StreamHub
from shared.config import Settings
from shared.health import Check, default_checks


class CloseOnShutdown:
    """ASGI lifespan hook: release the collaborators' connections when the worker stops."""

    def __init__(self, *closables: Any):
        self._closables = closables

    async def process_shutdown(self, scope: dict, event: dict) -> None:
        for closable in self._closables:
            await closable.close()


def create_app(
    settings: Settings,
    *,
    health_checks: tuple[Check, ...] | None = None,
    pages: PageSource | None = None,
    producer: EventProducer | None = None,
    hub: StreamHub | None = None,
    caller: ServiceCaller | None = None,
    chat: Chat | None = None,
    summaries: SummarySource | None = None,
) -> falcon.asgi.App:
    cassandra = CassandraConnection(settings)  # opened only when a default source below first needs it
    pages = pages if pages is not None else CassandraPages(cassandra)
    producer = producer if producer is not None else EventProducer(settings.kafka_bootstrap,
                                                                   topic_prefix=settings.topic_prefix)
    hub = hub if hub is not None else StreamHub(settings.kafka_bootstrap, heartbeat_s=settings.sse_heartbeat_s,
                                                topic_prefix=settings.topic_prefix)
    caller = caller if caller is not None else ServiceCaller(settings.nameko_config)
    chat = chat if chat is not None else CassandraChat(cassandra, settings, caller)
    summaries = summaries if summaries is not None else CassandraSummaries(cassandra)
    app = falcon.asgi.App(cors_enable=True,
                          middleware=[CloseOnShutdown(pages, producer, hub, caller, chat, summaries)])
    errors.install(app)
    app.add_route("/health", HealthResource(health_checks if health_checks is not None else default_checks(settings),
                                            summaries))
    app.add_route("/pages/{number}", PageByNumberResource(pages))
    app.add_route("/api/v1/page/{page_id}", PageByIdResource(pages))
    app.add_route("/api/v1/qdpi/characters", StaticDocumentResource(characters_document()))
    app.add_route("/api/v1/qdpi/manifest", StaticDocumentResource(manifest_document()))
    app.add_route("/api/v1/event/ui/symbol", SymbolEventResource(producer, pages))
    app.add_route("/api/v1/event/stream", EventStreamResource(hub, pages))
    app.add_route("/api/v1/pipeline/run/symbol/{code}", RunSymbolResource(caller))
    app.add_route("/api/v1/branch/{page_id}", BranchResource(producer, pages))
    app.add_route("/api/v1/pipeline/stats/section/{section}", SectionStatsResource(pages))
    app.add_route("/api/v1/retrieve", RetrieveResource(caller))
    app.add_route("/api/v1/users/{user_id}/credits", UserCreditsResource(caller))
    app.add_route("/api/v1/users/{user_id}/ledger.csv", UserLedgerCsvResource(caller))
    app.add_route("/api/v1/credits/gift", GiftResource(caller))
    app.add_route("/api/v1/vault", VaultResource(caller))
    app.add_route("/api/v1/chat", ChatResource(chat, settings.sse_heartbeat_s))
    app.add_route("/api/v1/ask", AskResource(chat))
    app.add_route("/api/v1/summaries", SummariesResource(summaries))
    app.add_route("/api/v1/summaries/{cluster_id}", SummaryByClusterResource(summaries))
    app.add_route("/openapi.json", StaticDocumentResource(openapi_document()))
    return app
