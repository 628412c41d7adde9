"""Turning a reader's symbol into a placed, planned page request (pure logic over a store)."""

from __future__ import annotations

import uuid

from shared.events import Envelope, PageRequested, SymbolSelected
from shared.qdpi.policy import choose_trajectory, wanted_trajectory
from shared.storage.pipeline import GIBSEY_NAMESPACE, PipelineStore
from shared.symbols import symbol


class UnknownLocus(LookupError):
    """The reader stood on a page that does not exist; retrying cannot help."""


def request_event_id(selected_event_id: str) -> uuid.UUID:
    """One request per selection, however often the selection is delivered."""
    return uuid.uuid5(GIBSEY_NAMESPACE, f"request:{selected_event_id}")


def enrich(event: Envelope[SymbolSelected], store: PipelineStore) -> Envelope[PageRequested]:
    selected = event.payload
    sym = symbol(selected.symbol_code)
    character = sym.character
    locus_id = (selected.page_id
                or store.latest_session_page(event.session_id, character.id)
                or store.first_page_of(character.id, character.section))
    locus = store.page(locus_id) if locus_id else None
    if selected.page_id and locus is None:
        raise UnknownLocus(f"page {selected.page_id} does not exist")
    context = store.previous_pages(locus, 3) if locus else []
    choice = choose_trajectory(
        wanted_trajectory(sym, has_intent=bool(selected.user_intent.strip())),
        branch_depth=locus.branch_depth if locus else 0,
        counters=store.counters(character.section),
        has_earlier_page=bool(context),
    )
    request = PageRequested(
        char_hex=character.index, behavior=sym.behaviour.index, symbol_code=sym.code, section=character.section,
        page_id=locus.page_id if locus else None, trajectory_hint=choice.trajectory,
        user_intent=selected.user_intent, context_ids=tuple(p.page_id for p in context),
    )
    return Envelope.wrap(request, session_id=event.session_id, event_id=request_event_id(str(event.event_id)))
