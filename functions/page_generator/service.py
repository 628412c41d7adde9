"""page_generator: writes the requested page in the character's voice and places it in the graph.

Owns:   gibsey.generate.page.request (PageRequested), consumer group "page_generator".
Writes: the request's placement (before anything else, reused on redelivery), page_edges then pages (edges
        first, page last), events_log, section_counters (once per request; once per branch on its return).
Emits:  gibsey.generate.page.done (PageGenerated, event id derived from the request), gibsey.audit.
Also:   RPC `page_generator.run(symbol_code, session_id, page_id, user_intent)` runs the same program
        synchronously for `POST /api/v1/pipeline/run/symbol/{code}` and `gibsey run-symbol`.
"""

from __future__ import annotations

import time

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from functions.enricher.enrich import enrich
from functions.page_generator.generate import complete
from shared.bus.audit import audit
from shared.bus.entrypoint import consume
from shared.bus.publisher import EventPublisher
from shared.config import Settings
from shared.events import Envelope, PageRequested, SymbolSelected
from shared.qdpi.writer import write_page
from shared.storage.dependency import PipelineStorage
from shared.storage.pipeline import GENERATOR
from shared.topics import GENERATE_PAGE_REQUEST
from shared.rpc import rpc_service


class PageWriter(DependencyProvider):
    """Hands workers `write(request)`: the LLM program when reachable, else the canon composer."""

    def setup(self) -> None:
        self._settings = Settings.from_nameko_config(self.container.config)

    def get_dependency(self, worker_ctx):
        return lambda request: write_page(request, self._settings)


class PageGeneratorService:
    name = rpc_service(GENERATOR)  # also the name requests are claimed under (see generator_consumer)

    store = PipelineStorage()
    events = EventPublisher()
    writer = PageWriter()

    @consume(GENERATE_PAGE_REQUEST, group_id="page_generator")
    def on_page_requested(self, event: Envelope[PageRequested]) -> str:
        started = time.monotonic()
        done, page, new = complete(event, self.store, self.writer, self.name)
        self.events.publish(done)
        audit(self.events, self.name, event, "ok" if new else "duplicate", started,
              f"page {page.page_id} {page.trajectory} by {page.author}")
        return page.page_id

    @rpc
    def run(self, symbol_code: int, session_id: str, page_id: str | None = None, user_intent: str = "") -> dict:
        """The whole cycle without Kafka in between (the direct, synchronous path); still logged and audited."""
        selected = Envelope.wrap(SymbolSelected(symbol_code=symbol_code, page_id=page_id, user_intent=user_intent),
                                 session_id=session_id)
        self.store.log_event(selected)
        done, _, _ = complete(enrich(selected, self.store), self.store, self.writer, self.name)
        return done.to_json_dict()
