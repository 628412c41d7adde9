"""Splitting a page into quotes: 1-3 consecutive sentences, at most ~60 words, each with a location.

A quote is what retrieval returns and what a character can cite, so it must be verbatim, short enough to
read in a breath, and addressable: `p{page}-{k}` (the page number for canon pages, the page id otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.qdpi.composer import split_sentences

MAX_WORDS = 60
MAX_SENTENCES = 3


@dataclass(frozen=True)
class Quote:
    loc: str
    text: str


def page_label(page_id: str, page_num: int | None) -> str:
    return f"p{page_num}" if page_num else f"p{page_id}"


def split_quotes(text: str, label: str) -> list[Quote]:
    """Greedy, in reading order (the canon often sets one sentence per paragraph, so paragraph breaks do not
    end a quote); a single sentence longer than MAX_WORDS stands alone. Whitespace is collapsed."""
    quotes: list[Quote] = []
    group: list[str] = []
    words = 0
    for sentence in (" ".join(s.split()) for s in split_sentences(text)):
        n = len(sentence.split())
        if group and (len(group) >= MAX_SENTENCES or words + n > MAX_WORDS):
            quotes.append(Quote(f"{label}-{len(quotes) + 1}", " ".join(group)))
            group, words = [], 0
        group.append(sentence)
        words += n
    if group:
        quotes.append(Quote(f"{label}-{len(quotes) + 1}", " ".join(group)))
    return quotes
