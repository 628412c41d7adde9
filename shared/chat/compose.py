"""What a character says when no LLM is reachable: the canon composer for chat (deterministic).

It invents nothing: one framing sentence in the character's voice, then the best verified passage of the
book, verbatim, with its citation. The context line is added by the turn, as for LLM answers.
"""

from __future__ import annotations

from shared.chat.grounding import Citation

GENERATOR = "canon-composer"


def composed_reply(display_name: str, citation: Citation, own_page: bool) -> str:
    frame = ("I can only answer with what the book keeps of me, in its own words:" if own_page
             else f"I am {display_name}; the book answers that elsewhere, in its own words:")
    return f"{frame} “{citation.quote}” {citation.marker}"
