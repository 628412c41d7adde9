"""Writing one requested page and placing it in the graph (logic over a store and a writer).

Edges, by final trajectory (each generated page B is reached from its locus L):
  T0 continuation  L -MIRROR-> B,  B -NEXT-> the page after L      (B rejoins the book where L goes on)
  T1 loop back     L -MIRROR-> B,  B -LOOP-> the earliest context page
  T2 fork          L -FORK->   B   (a new branch: takes a fork slot; open_branches +1, return_debt +1)
  T3 TTL return    L -MIRROR-> B,  B -LOOP-> the branch's canon root; stored and emitted as T1
                   (closes every still-open branch on the way home, each once: open_branches -1,
                   return_debt -1 per branch, its slot freed; see shared/storage/branches.py)

A placement is decided once per request and stored before any edge is written: a redelivery reuses it, so
it writes the same edges even if the counters or the graph moved in between.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Callable

from shared.events import Envelope, PageEdges, PageGenerated, PageRequested, PageValidation
from shared.qdpi.contract import GeneratedPage, GenerationRequest, SourcePage
from shared.qdpi.policy import (MAX_OPEN_BRANCHES_PER_SECTION, TrajectoryChoice, branch_continuity,
                                choose_trajectory)
from shared.storage.branches import close_branch, closed_by, counter_deltas
from shared.storage.pipeline import GIBSEY_NAMESPACE, NewPage, PipelineStore, StoredPage, generated_page_id
from shared.symbols import CHARACTERS, Character, Trajectory, symbol

Writer = Callable[[GenerationRequest], GeneratedPage]
Edge = tuple[str, str, str]  # (from, type, to)


@dataclass(frozen=True)
class Placement:
    trajectory: Trajectory  # as stored and emitted (T3 becomes T1)
    edges: tuple[Edge, ...]
    branch_root: str | None
    branch_depth: int
    counter_deltas: dict[str, int]
    reason: str
    closes: tuple[str, ...] = ()  # fork pages whose branches this page brings home
    fork_slot: int | None = None
    continuity: float | None = None  # the locus's branch continuity the chooser read

    def to_dict(self) -> dict:
        return {**asdict(self), "trajectory": self.trajectory.value, "edges": [list(e) for e in self.edges],
                "closes": list(self.closes)}

    @classmethod
    def from_dict(cls, data: dict) -> Placement:
        return cls(**{**data, "trajectory": Trajectory(data["trajectory"]),
                      "edges": tuple(tuple(e) for e in data["edges"]), "closes": tuple(data["closes"])})


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


def continuity_of(locus: StoredPage, context: list[StoredPage], store: PipelineStore) -> float | None:
    """The index score the chooser reads for a locus inside a branch: how much of it still comes from the canon
    it grew from (its branch root and the canon pages among its context). None outside a branch."""
    if locus.branch_root is None:
        return None
    canon = [p for p in context if p.is_canon]
    if locus.branch_root not in {p.page_id for p in canon}:
        root = store.page(locus.branch_root)
        canon += [root] if root else []
    return branch_continuity(locus.text, [p.text for p in canon])


def forks_on_the_way_home(locus: StoredPage, store: PipelineStore) -> tuple[str, ...]:
    """The fork (T2) pages between `locus` and the canon, nearest first. Inside a branch each page is one
    deeper than its locus (`return_to`), and depth 1 is the fork that opened the outermost branch."""
    forks: list[str] = []
    here: StoredPage | None = locus
    while here is not None and here.branch_root is not None and here.branch_depth >= 1:
        if here.trajectory == Trajectory.FORK.value:
            forks.append(here.page_id)
        if here.branch_depth == 1 or not here.return_to:
            break
        parent = store.page(here.return_to)
        here = parent if parent is not None and parent.branch_depth < here.branch_depth else None
    return tuple(forks)


def place(page_id: str, requested: Trajectory, locus: StoredPage | None, context: list[StoredPage],
          store: PipelineStore, section: int) -> Placement:
    """Apply the policy again at write time (counters may have moved since enrichment) and draw the edges.
    A fork takes a fork slot here: the only step that can refuse a fork race-free."""
    if locus is None:
        return Placement(Trajectory.CONTINUE, (), None, 0, {"pages_generated": 1}, "no locus: a free page")
    depth = locus.branch_depth
    continuity = continuity_of(locus, context, store)
    choice = choose_trajectory(requested, branch_depth=depth, counters=store.counters(section),
                               has_earlier_page=bool(context), continuity_score=continuity)
    in_branch = locus.branch_root is not None
    root = locus.branch_root if in_branch else locus.page_id
    deltas = {"pages_generated": 1}
    if choice.trajectory is Trajectory.FORK:
        slot = store.branches.claim_fork_slot(section, page_id)
        if slot is not None:
            return Placement(Trajectory.FORK, ((locus.page_id, "FORK", page_id),), root, depth + 1,
                             {**deltas, "open_branches": 1, "return_debt": 1}, choice.reason, fork_slot=slot,
                             continuity=continuity)
        choice = TrajectoryChoice(Trajectory.CONTINUE, f"fork refused: all {MAX_OPEN_BRANCHES_PER_SECTION} fork "
                                                       f"slots of section {section} are held by open branches")
    if choice.trajectory is Trajectory.RETURN:
        edges = ((locus.page_id, "MIRROR", page_id), (page_id, "LOOP", root))
        return Placement(Trajectory.LOOP_BACK, edges, None, 0, deltas, f"T3 return -> T1: {choice.reason}",
                         closes=forks_on_the_way_home(locus, store), continuity=continuity)
    next_depth = depth + (1 if in_branch else 0)
    if choice.trajectory is Trajectory.LOOP_BACK:
        edges = ((locus.page_id, "MIRROR", page_id), (page_id, "LOOP", context[-1].page_id))
        return Placement(Trajectory.LOOP_BACK, edges, locus.branch_root, next_depth, deltas, choice.reason,
                         continuity=continuity)
    next_of_locus = (store.edges(locus.page_id).get("NEXT") or [None])[0]
    edges = ((locus.page_id, "MIRROR", page_id),) + (((page_id, "NEXT", next_of_locus),) if next_of_locus else ())
    return Placement(Trajectory.CONTINUE, edges, locus.branch_root, next_depth, deltas, choice.reason,
                     continuity=continuity)


def settled_placement(request_id: str, page_id: str, requested: Trajectory, locus: StoredPage | None,
                      context: list[StoredPage], store: PipelineStore, section: int) -> Placement:
    """This request's placement: the one an earlier attempt stored, else a new one, stored (conditionally,
    so concurrent attempts agree) before any edge is written."""
    stored = store.branches.placement(request_id)
    if stored is not None:
        return Placement.from_dict(stored)
    fresh = place(page_id, requested, locus, context, store, section)
    held = Placement.from_dict(store.branches.save_placement(request_id, fresh.to_dict()))
    if fresh.fork_slot is not None and held.fork_slot is None:  # a concurrent attempt decided otherwise
        store.branches.release_fork_slot(section, page_id)
    return held


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
    placement = settled_placement(request_id, page_id, req.trajectory_hint, locus, context, store, req.section)
    voice_locus, voice_context = _in_voice(sym.character, locus, context, store)
    written = writer(GenerationRequest(
        request_event_id=request_id, symbol=sym, character=sym.character,
        system_prompt=store.system_prompt(sym.character.id) or "", trajectory=placement.trajectory,
        locus=voice_locus, context=voice_context, user_intent=req.user_intent,
    ))
    created = event.ts.astimezone(timezone.utc)
    validation = {"style_ok": written.style_ok, "continuity_score": round(written.continuity_score, 4),
                  "generator": written.generator, "counters": placement.counter_deltas,
                  "placement": placement.reason, "closes": list(placement.closes)}
    if placement.continuity is not None:
        validation["branch_continuity"] = placement.continuity
    store.write_page(NewPage(
        page_id=page_id, section=req.section, char_hex=sym.character.index, behaviour=sym.behaviour.index,
        symbol_code=sym.code, orientation=sym.orientation.value, provenance=sym.provenance.value,
        trajectory=placement.trajectory.value, title=written.title, text=written.text,
        return_to=locus.page_id if locus else None, branch_root=placement.branch_root,
        branch_depth=placement.branch_depth, session_id=event.session_id, source_event_id=request_id,
        author=written.generator, validation=validation,
    ), list(placement.edges), created)
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
    """Everything but emitting: log the request, write (or find) the page, log the done event, update the
    section's counters exactly once per request and close the branches the page brings home (each once).
    Safe to run again for the same request."""
    store.log_event(event)
    page, new = generate(event, store, writer)
    done = done_event(event, page, store)
    store.log_event(done)
    if store.claim(str(event.event_id), consumer, page.page_id):
        store.bump(event.payload.section, **counter_deltas(page))
    for fork_page_id in closed_by(page):
        close_branch(store, fork_page_id, page.page_id, consumer)
    return done, page, new
