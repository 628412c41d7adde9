"""The QDPI program over an LLM: Read → Index → Ask → Receive for one `GenerationRequest`.

The trajectory arrives in the request (the caller's policy chose it); the program only follows it.

Validation (`check_page`) is cheap and deterministic, no second model involved:
- style_ok: the text is non-empty, has between min(20, max_words // 4) and max_words words (after the
  program trims an over-long reply at a sentence end), and leaks no DSPy field marker (`[[ ##`);
- continuity_score: the share of the text's distinct content words (4+ letters, not stop words) that
  also occur in the locus and context pages: 1.0 stays within the canon's vocabulary, 0.0 shares none.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import dspy

from shared.qdpi.composer import grounding_score, source_pages
from shared.qdpi.contract import GeneratedPage, GenerationRequest, SourcePage
from shared.qdpi.signatures import Ask, Index, Read, Receive
from shared.symbols import Trajectory

log = logging.getLogger("gibsey.qdpi")

PAGE_CHARS = 2000  # per source page handed to the model: keeps four pages inside an 8k-token context
_TRAJECTORIES = {
    Trajectory.CONTINUE: "T0 continue: pick up where the locus ends and move forward",
    Trajectory.LOOP_BACK: "T1 loop back: return to an earlier page's opening and see it again",
    Trajectory.FORK: "T2 fork: open a different thread, taken from the context pages",
    Trajectory.RETURN: "T3 return: bring the branch home to the locus",
}
_SENTENCE_END = re.compile(r"[.!?…][\"”’')\]]*(?=\s|$)")


class EmptyGeneration(ValueError):
    """The model answered in the right format but wrote no page text."""


class QDPIProgram(dspy.Module):
    """Read the locus, index the reading, plan along the request's trajectory, then write the page."""

    def __init__(self) -> None:
        super().__init__()
        self.read = dspy.Predict(Read)
        self.index = dspy.Predict(Index)
        self.ask = dspy.Predict(Ask)
        self.receive = dspy.Predict(Receive)

    def forward(self, request: GenerationRequest) -> GeneratedPage:
        pages = source_pages(request)
        locus = _page_block(request.locus) if request.locus else "(no locus page: the reader stands at the start)"
        symbol = f"{request.character.display_name}, {request.symbol.notation} ({request.symbol.behaviour.label})"
        x = self.read(symbol=symbol, locus=locus)
        y = self.index(text=x.render or locus)
        motifs = [str(m) for m in (y.motifs or [])]
        state: dict[str, Any] = {
            "summary": x.summary or "",
            "entities": list(y.entities or []),
            "motifs": motifs,
            "anchors": list(y.anchors or []),
            "pages": [p.title for p in pages],
        }
        constraints = {
            "max_words": request.max_words,
            "behaviour": f"{request.symbol.notation}: {request.symbol.behaviour.label}",
            "section": request.character.section,
            "grounding": "invent no names, places or events that the sources do not contain",
        }
        plan = self.ask(state=state, user_intent=request.user_intent, trajectory=_TRAJECTORIES[request.trajectory],
                        voice=request.system_prompt, constraints=constraints).plan or ""
        z = self.receive(plan=plan, voice=request.system_prompt, sources=_sources_block(pages) or locus)
        text, trimmed = trim_to_words((z.page_text or "").strip(), request.max_words)
        if not text:
            raise EmptyGeneration("the Receive step returned an empty page_text")
        style_ok, continuity = check_page(text, request)
        lm = dspy.settings.lm
        log.debug("qdpi page for %s: %d words, style_ok=%s, continuity=%.2f", request.request_event_id,
                  len(text.split()), style_ok, continuity)
        notes = {"trajectory": request.trajectory.value, "behaviour": request.symbol.notation,
                 "motifs": ", ".join(motifs[:6]), "plan": plan[:500]}
        if trimmed:
            notes["trimmed"] = f"cut to {request.max_words} words"
        return GeneratedPage(_title(z.title, request), text, f"llm:{getattr(lm, 'model', 'unknown')}",
                             style_ok, continuity, notes)


def run_program(request: GenerationRequest, lm: dspy.BaseLM, program: QDPIProgram | None = None) -> GeneratedPage:
    """Run the program with `lm` bound for this call only (dspy.context, never dspy.configure), so
    concurrent workers share no LM. ChatAdapter's JSON retry is off: a parse failure costs one call."""
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter(use_json_adapter_fallback=False)):
        return (program or QDPIProgram())(request)


def check_page(text: str, request: GenerationRequest) -> tuple[bool, float]:
    """(style_ok, continuity_score) as described in the module docstring."""
    words = len(text.split())
    low = min(20, max(1, request.max_words // 4))
    style_ok = bool(text.strip()) and low <= words <= request.max_words and "[[ ##" not in text
    return style_ok, grounding_score(text, source_pages(request))


def trim_to_words(text: str, max_words: int) -> tuple[str, bool]:
    """Cut to max_words, back to the last sentence end when that keeps at least half; (text, was cut)."""
    spans = list(re.finditer(r"\S+", text))
    if len(spans) <= max_words:
        return text, False
    cut = text[: spans[max(1, max_words) - 1].end()]
    ends = [m.end() for m in _SENTENCE_END.finditer(cut)]
    if ends and len(cut[: ends[-1]].split()) >= max_words // 2:
        cut = cut[: ends[-1]]
    return cut.strip(), True


def _title(raw: str | None, request: GenerationRequest) -> str:
    title = " ".join((raw or "").replace("#", " ").split()).strip("\"'“”*` ")
    if title:
        return " ".join(title.split()[:12])
    where = request.locus.title if request.locus else f"section {request.character.section}"
    return f"{request.character.display_name}: {where}"


def _page_block(page: SourcePage) -> str:
    return f"{page.title}\n\n{page.text[:PAGE_CHARS]}"


def _sources_block(pages: tuple[SourcePage, ...]) -> str:
    return "\n\n---\n\n".join(_page_block(p) for p in pages)
