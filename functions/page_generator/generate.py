"""Writing one requested page and placing it in the graph (logic over a store and a writer).

Edges, by final trajectory (each generated page B is reached from its locus L):
  T0 continuation  L -MIRROR-> B,  B -NEXT-> the page after L      (B rejoins the book where L goes on)
  T1 loop back     L -MIRROR-> B,  B -LOOP-> the earliest context page
  T2 fork          L -FORK->   B   (a new branch: open_branches +1, return_debt +1)
  T3 TTL return    L -MIRROR-> B,  B -LOOP-> the branch's canon root; stored and emitted as T1
                   (closes the branch: open_branches -1, return_debt -1)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from shared.events import Envelope, PageEdges, PageGenerated, PageRequested, PageValidation
from shared.qdpi.contract import GeneratedPage, GenerationRequest, SourcePage
from shared.qdpi.policy import choose_trajectory
from shared.storage.pipeline import GIBSEY_NAMESPACE, NewPage, PipelineStore, StoredPage, generated_page_id
from shared.symbols import CHARACTERS, Character, Trajectory, symbol

Writer = Callable[[GenerationRequest], GeneratedPage]


@dataclass(frozen=True)
class Placement:
    trajectory: Trajectory  # as stored and emitted (T3 becomes T1)
    edges: list[tuple[str, str, str]]  # (from, type, to)
    branch_root: str | None
    branch_depth: int
    counter_deltas: dict[str, int]
    reason: str


def done_event_id(request_event_id: str) -> uuid.UUID:
    return uuid.uuid5(GIBSEY_NAMESPACE, f"done:{request_event_id}")


def _source(page: StoredPage) -> SourcePage:
    return SourcePage(page.page_id, page.title, page.text, page.section, CHARACTERS[page.char_hex].id)


def _in_voice(character: Character, locus: StoredPage | None, context: list[StoredPage],
              store: PipelineStore) -> tuple[SourcePage | None, tuple[SourcePage, ...]]:
    """The sources a page is written from: only pages of the character's own section (their voice); when
    the reader stands elsewhere, the character's own first page stands in."""
    own = [p for p in context if p.section == character.section]
    voice_locus = locus if locus is not None and locus.section == character.section else None
    if voice_locus is None and not own:
        first_id = store.first_page_of(character.id, character.section)
        first = store.page(first_id) if first_id else None
        own = [first] if first else []
    return (_source(voice_locus) if voice_locus else None), tuple(_source(p) for p in own)


def place(page_id: str, requested: Trajectory, locus: StoredPage | None, context: list[StoredPage],
          store: PipelineStore, section: int) -> Placement:
    """Apply the policy again at write time (counters may have moved since enrichment) and draw the edges."""
    depth = locus.branch_depth if locus else 0
    choice = choose_trajectory(requested, branch_depth=depth, counters=store.counters(section),
                               has_earlier_page=bool(context))
    if locus is None:
        return Placement(Trajectory.CONTINUE, [], None, 0, {"pages_generated": 1}, "no locus: a free page")
    in_branch = locus.branch_root is not None
    root = locus.branch_root if in_branch else locus.page_id
    deltas = {"pages_generated": 1}
    if choice.trajectory is Trajectory.FORK:
        deltas.update(open_branches=1, return_debt=1)
        return Placement(Trajectory.FORK, [(locus.page_id, "FORK", page_id)], root, depth + 1, deltas, choice.reason)
    if choice.trajectory is Trajectory.RETURN:
        deltas.update(open_branches=-1, return_debt=-1)
        edges = [(locus.page_id, "MIRROR", page_id), (page_id, "LOOP", root)]
        return Placement(Trajectory.LOOP_BACK, edges, None, 0, deltas, f"T3 return -> T1: {choice.reason}")
    if choice.trajectory is Trajectory.LOOP_BACK:
        edges = [(locus.page_id, "MIRROR", page_id), (page_id, "LOOP", context[-1].page_id)]
        return Placement(Trajectory.LOOP_BACK, edges, locus.branch_root, depth + (1 if in_branch else 0), deltas,
                         choice.reason)
    next_of_locus = (store.edges(locus.page_id).get("NEXT") or [None])[0]
    edges = [(locus.page_id, "MIRROR", page_id)] + ([(page_id, "NEXT", next_of_locus)] if next_of_locus else [])
    return Placement(Trajectory.CONTINUE, edges, locus.branch_root, depth + (1 if in_branch else 0), deltas,
                     choice.reason)


def counter_deltas(page: StoredPage) -> dict[str, int]:
    """What writing this page does to its section's counters (kept with the page for redeliveries)."""
    return dict((page.validation or {}).get("counters", {"pages_generated": 1}))


def generate(event: Envelope[PageRequested], store: PipelineStore, writer: Writer) -> tuple[StoredPage, bool]:
    """Write the page unless this request already wrote it; return the stored page and whether it is new."""
    request_id = str(event.event_id)
    page_id = generated_page_id(request_id)
    existing = store.page(page_id)
    if existing is not None:
        return existing, False
    req = event.payload
    sym = symbol(req.symbol_code)
    locus = store.page(req.page_id) if req.page_id else None
    context = [p for p in (store.page(pid) for pid in req.context_ids) if p is not None]
    placement = place(page_id, req.trajectory_hint, locus, context, store, req.section)
    voice_locus, voice_context = _in_voice(sym.character, locus, context, store)
    written = writer(GenerationRequest(
        request_event_id=request_id, symbol=sym, character=sym.character,
        system_prompt=store.system_prompt(sym.character.id) or "", trajectory=placement.trajectory,
        locus=voice_locus, context=voice_context, user_intent=req.user_intent,
    ))
    created = event.ts.astimezone(timezone.utc)
    validation = {"style_ok": written.style_ok, "continuity_score": round(written.continuity_score, 4),
                  "generator": written.generator, "counters": placement.counter_deltas,
                  "placement": placement.reason}
    store.write_page(NewPage(
        page_id=page_id, section=req.section, char_hex=sym.character.index, behaviour=sym.behaviour.index,
        symbol_code=sym.code, orientation=sym.orientation.value, provenance=sym.provenance.value,
        trajectory=placement.trajectory.value, title=written.title, text=written.text,
        return_to=locus.page_id if locus else None, branch_root=placement.branch_root,
        branch_depth=placement.branch_depth, session_id=event.session_id, source_event_id=request_id,
        author=written.generator, validation=validation,
    ), placement.edges, created)
    return store.page(page_id), True


def done_event(event: Envelope[PageRequested], page: StoredPage, store: PipelineStore) -> Envelope[PageGenerated]:
    """The done event, built from what is stored, so a redelivery re-emits exactly the same event."""
    edges = store.edges(page.page_id)
    stored = page.validation or {}
    validation = {key: stored[key] for key in ("style_ok", "continuity_score", "generator") if key in stored}
    payload = PageGenerated(
        page_id=page.page_id, character=CHARACTERS[page.char_hex].id, symbol_code=page.symbol_code,
        trajectory=Trajectory(page.trajectory), title=page.title, text=page.text,
        edges=PageEdges(next_within=(edges.get("NEXT") or [None])[0], loop_back_to=(edges.get("LOOP") or [None])[-1],
                        forks=tuple(edges.get("FORK", ()))),
        validation=PageValidation(**validation),
    )
    ts = page.created_at.replace(tzinfo=timezone.utc) if page.created_at else datetime.now(timezone.utc)
    return Envelope.wrap(payload, session_id=event.session_id, event_id=done_event_id(str(event.event_id)), ts=ts)


def complete(event: Envelope[PageRequested], store: PipelineStore, writer: Writer,
             consumer: str) -> tuple[Envelope[PageGenerated], StoredPage, bool]:
    """Everything but emitting: log the request, write (or find) the page, log the done event, and update
    the section's counters exactly once per request. Safe to run again for the same request."""
    store.log_event(event)
    page, new = generate(event, store, writer)
    done = done_event(event, page, store)
    store.log_event(done)
    if store.claim(str(event.event_id), consumer, page.page_id):
        store.bump(event.payload.section, **counter_deltas(page))
    return done, page, new
