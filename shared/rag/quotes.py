"""Splitting a page into quotes: 1-3 consecutive sentences, at most ~60 words, each with a location.

A quote is what retrieval returns and what a character can cite, so it must be verbatim, short enough to
read in a breath, and addressable: `p{page}-{k}` (the page number for canon pages, the page id otherwise).
Some canon sentences run to hundreds of words (one is 719); such a sentence is cut at clause punctuation into
pieces of at most MAX_WORDS, each still a verbatim run of the page's words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shared.qdpi.composer import split_sentences

MAX_WORDS = 60
MAX_SENTENCES = 3
_CLOSERS = "\"'”’)]"
_STRONG, _WEAK = ";:", ",)—–"


@dataclass(frozen=True)
class Quote:
    loc: str
    text: str


def page_label(page_id: str, page_num: int | None) -> str:
    return f"p{page_num}" if page_num else f"p{page_id}"


def split_quotes(text: str, label: str) -> list[Quote]:
    """Greedy, in reading order (the canon often sets one sentence per paragraph, so paragraph breaks do not
    end a quote); a sentence longer than MAX_WORDS becomes pieces of its own (split_long_sentence).
    Whitespace is collapsed."""
    texts: list[str] = []
    group: list[str] = []
    words = 0
    for sentence in (" ".join(s.split()) for s in split_sentences(text)):
        n = len(sentence.split())
        if group and (len(group) >= MAX_SENTENCES or words + n > MAX_WORDS):
            texts.append(" ".join(group))
            group, words = [], 0
        if n > MAX_WORDS:
            texts.extend(split_long_sentence(sentence))
            continue
        group.append(sentence)
        words += n
    if group:
        texts.append(" ".join(group))
    return [Quote(f"{label}-{k}", quote) for k, quote in enumerate(texts, start=1)]


def split_long_sentence(sentence: str, max_words: int = MAX_WORDS) -> list[str]:
    """Pieces of at most `max_words` words, as even as the punctuation allows: each cut goes after a `;` or `:`
    if one is near the even length, else after a `,` (or a closing bracket or dash), else at the even length.
    Near means at least half of it, so a cut never leaves a scrap of a few words."""
    words = sentence.split()
    pieces: list[str] = []
    start = 0
    while len(words) - start > max_words:
        rest = len(words) - start
        count = math.ceil(rest / max_words)
        target = rest / count
        lowest = max(rest - (count - 1) * max_words, math.ceil(target / 2), 1)
        end = max(range(lowest, max_words + 1),
                  key=lambda size: (_strength(words[start + size - 1]), -abs(size - target)))
        pieces.append(" ".join(words[start:start + end]))
        start += end
    pieces.append(" ".join(words[start:]))
    return pieces


def _strength(word: str) -> int:
    """How good a place the end of `word` is to cut a sentence: 2 after ; or :, 1 after a comma, 0 else."""
    mark = word.rstrip(_CLOSERS)[-1:] if word.rstrip(_CLOSERS) else ""
    if mark and mark in _STRONG:
        return 2
    if (mark and mark in _WEAK) or word[-1:] in ")]":
        return 1
    return 0
