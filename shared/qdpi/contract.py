"""What page generation takes and returns: the one interface between the pipeline and any writer
(the DSPy program over an LLM, or the deterministic canon composer)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.symbols import Character, Symbol, Trajectory


@dataclass(frozen=True)
class SourcePage:
    """A page the writer may draw on: the locus or one of its context pages."""

    page_id: str
    title: str
    text: str
    section: int
    character_id: str


@dataclass(frozen=True)
class GenerationRequest:
    """Everything a writer needs for one page; built by the page_generator from the enriched event."""

    request_event_id: str  # makes deterministic writers reproducible per request
    symbol: Symbol
    character: Character
    system_prompt: str  # the character's voice (characters.system_prompt)
    trajectory: Trajectory
    locus: SourcePage | None
    context: tuple[SourcePage, ...] = ()
    user_intent: str = ""
    max_words: int = 220


@dataclass(frozen=True)
class GeneratedPage:
    """The page text, a title, and how it was produced."""

    title: str
    text: str
    generator: str  # "llm:<model>" or "canon-composer"
    style_ok: bool
    continuity_score: float  # 0..1
    notes: dict[str, str] = field(default_factory=dict)
