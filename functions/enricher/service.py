"""enricher: decodes a reader's symbol and places it in the book.

Owns:   gibsey.ui.symbol (SymbolSelected), consumer group "enricher".
Writes: events_log (the selection).
Emits:  gibsey.generate.page.request (PageRequested, event id derived from the selection: redelivery-safe),
        gibsey.audit (StepAudited).
"""

from __future__ import annotations

import time

from functions.enricher.enrich import enrich
from shared.bus.audit import audit
from shared.bus.entrypoint import consume
from shared.bus.publisher import EventPublisher
from shared.events import Envelope, SymbolSelected
from shared.storage.dependency import PipelineStorage
from shared.topics import UI_SYMBOL


class EnricherService:
    name = "enricher"

    store = PipelineStorage()
    events = EventPublisher()

    @consume(UI_SYMBOL, group_id="enricher")
    def on_symbol_selected(self, event: Envelope[SymbolSelected]) -> str:
        started = time.monotonic()
        self.store.log_event(event)
        request = enrich(event, self.store)
        self.store.log_event(request)
        self.events.publish(request)
        audit(self.events, self.name, event, "ok", started,
              f"locus {request.payload.page_id}, {request.payload.trajectory_hint.value}")
        return str(request.event_id)
