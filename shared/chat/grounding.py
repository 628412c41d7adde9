"""Grounding, checked rather than hoped for: which passages of an answer are verbatim canon, and the
fallback quote when none is.

A *verified quote* is a run of two or more consecutive sentences of a canon page, copied exactly (up to
whitespace and typographic quote marks), inside the answer, followed by its citation `(p.N)` where N is
that page's number. The page text is the one stored in Cassandra, not the retrieval index's copy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from shared.qdpi.composer import split_sentences
from shared.rag.quotes import page_label, split_quotes

MIN_SENTENCES = 2
MAX_QUOTE_SENTENCES = 3
_CITATION = re.compile(r"\(p\.\s*(\d+)\)")
_CLOSERS = ' "\''
_FOLD = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "\u00a0": " "})


@dataclass(frozen=True)
class CanonPageText:
    page_id: str
    page_number: int
    section: int
    title: str
    character_id: str
    text: str


@dataclass(frozen=True)
class Citation:
    page_id: str
    page_number: int
    loc: str
    quote: str

    @property
    def marker(self) -> str:
        return f"(p.{self.page_number})"

    def as_dict(self) -> dict:
        return {"page_id": self.page_id, "page_number": self.page_number, "loc": self.loc, "quote": self.quote}


def normalise(text: str) -> str:
    return " ".join(text.translate(_FOLD).split())


def verified_citations(answer: str, pages: Mapping[int, CanonPageText]) -> list[Citation]:
    """Every `(p.N)` in the answer preceded by >= 2 consecutive sentences of page N, verbatim."""
    found: list[Citation] = []
    folded_answer = normalise(answer)
    for match in _CITATION.finditer(answer):
        page = pages.get(int(match.group(1)))
        if page is None:
            continue
        before = normalise(answer[:match.start()])
        quote = _longest_run_ending(before, split_sentences(page.text))
        if quote and quote in folded_answer:
            found.append(Citation(page.page_id, page.page_number, _loc_of(page, quote), quote))
    return found


def _loc_of(page: CanonPageText, quote: str) -> str:
    """The index's location (`p{N}-{k}`, shared/rag/quotes.py) of the quote piece the verified run starts
    in, so a citation found in an answer names its place the way a retrieved one does."""
    for piece in split_quotes(page.text, page_label(page.page_id, page.page_number)):
        text = normalise(piece.text)
        if quote.startswith(text[:60]) or text.startswith(quote[:60]) or quote[:60] in text:
            return piece.loc
    return page_label(page.page_id, page.page_number)


def _longest_run_ending(before: str, sentences: list[str]) -> str | None:
    """The longest run of >= MIN_SENTENCES consecutive page sentences that the text before a citation ends
    with, ignoring closing quote marks and spaces between the quote and the marker; returned whole (with
    the page's own closing quote mark, if its last sentence has one)."""
    tail = before.rstrip(_CLOSERS)
    folded = [normalise(s) for s in sentences]
    best: str | None = None
    for end in range(len(folded)):
        for start in range(end - MIN_SENTENCES + 1, -1, -1):
            run = " ".join(folded[start:end + 1])
            if not tail.endswith(run.rstrip(_CLOSERS)):
                break
            if best is None or len(run) > len(best):
                best = run
    return best


def quote_around(page: CanonPageText, fragment: str) -> str | None:
    """Two or three consecutive sentences of the page, starting at the sentence where `fragment` (a
    retrieved quote) starts, or else the one it starts inside (a long sentence is indexed in pieces, see
    shared/rag/quotes.py); None if the page does not contain it or has fewer than two sentences."""
    sentences = [normalise(s) for s in split_sentences(page.text)]
    head = normalise(fragment)
    starts = (i for i, s in enumerate(sentences) if head.startswith(s) or s.startswith(head[:60]))
    inside = (i for i, s in enumerate(sentences) if head[:60] in s)
    i = next(starts, None)
    if i is None:
        i = next(inside, None)
    if i is None:
        return None
    run = sentences[i:i + MAX_QUOTE_SENTENCES]
    if len(run) < MIN_SENTENCES and i > 0:
        run = sentences[i - 1:i + 1]
    return " ".join(run) if len(run) >= MIN_SENTENCES else None


def context_line(page: CanonPageText, display_name: str, section_title: str | None = None) -> str:
    """One line placing the quote in the novel: section, chapter (page) title, and who speaks there."""
    where = f"section {page.section}" + (f", {section_title}" if section_title else "")
    return f"— from {where}, “{page.title}”, in {display_name}'s pages (p.{page.page_number})."
