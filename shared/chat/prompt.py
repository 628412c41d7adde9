"""The messages an LLM gets for a chat turn: persona, the passages it may quote, the recent turns, the question."""

from __future__ import annotations

from typing import Sequence

from shared.chat.grounding import Citation
from shared.storage.chat import Persona, Turn

RULES = (
    "Stay in character and answer in at most 120 words. Include exactly one passage from PASSAGES, copied "
    "word for word (two or more whole sentences), inside quotation marks, followed by its citation exactly "
    "as given, like (p.12). Do not invent events that the passages do not support."
)


def chat_messages(persona: Persona, passages: Sequence[Citation], turns: Sequence[Turn], question: str,
                  book_note: str | None = None) -> list[dict[str, str]]:
    """`book_note`: the nightly summary of the cluster the best passage belongs to (background, not quotable)."""
    listed = "\n".join(f"- {c.marker} {c.quote}" for c in passages)
    system = f"{persona.system_prompt or f'You are {persona.display_name}.'}\n\n{RULES}\n\nPASSAGES:\n{listed}"
    if book_note:
        system += f"\n\nWHAT THE BOOK NOTED ABOUT THESE PAGES (background; do not quote it):\n{book_note}"
    history = [{"role": t.role, "content": t.content} for t in turns]
    return [{"role": "system", "content": system}, *history, {"role": "user", "content": question}]
