"""Summaries of normalisations for people: one line per rule and outcome, page ids folded into ranges."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Iterable

from shared.canon.model import Normalisation

_PAGE_SUBJECT = re.compile(r"^metadata/pages\.json id (\d+)$")


def fold_ranges(numbers: Iterable[int]) -> str:
    """[1, 2, 3, 7, 9, 10] -> "1–3, 7, 9–10"."""
    ordered = sorted(set(numbers))
    spans: list[str] = []
    start = prev = None
    for n in ordered + [None]:  # type: ignore[operator]
        if start is not None and (n is None or n != prev + 1):
            spans.append(str(start) if start == prev else f"{start}–{prev}")
            start = None
        if n is not None and start is None:
            start = n
        prev = n
    return ", ".join(spans)


def summarise(normalisations: Iterable[Normalisation]) -> list[str]:
    """One line per (rule, detail): pages as folded id ranges, other subjects listed."""
    pages: dict[tuple[str, str], list[int]] = defaultdict(list)
    others: dict[tuple[str, str], list[str]] = defaultdict(list)
    for note in normalisations:
        match = _PAGE_SUBJECT.match(note.subject)
        if match:
            pages[(note.rule, note.detail)].append(int(match.group(1)))
        else:
            others[(note.rule, note.detail)].append(note.subject)
    lines = [f"{rule}: {len(ids)} page(s), ids {fold_ranges(ids)}: {detail}" for (rule, detail), ids in pages.items()]
    lines += [f"{rule}: {', '.join(subjects)}: {detail}" for (rule, detail), subjects in others.items()]
    return sorted(lines)
