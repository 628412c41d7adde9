"""Whole numbers read from text (URL segments, query parameters, metadata), ASCII digits only.

Why not `str.isdigit()`: it also accepts "²", "①" and other Unicode digits, which `int()` then either rejects
(a 500 where a 422 belongs) or quietly reads ("٤٢" as 42).
"""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]+")


def ascii_whole_number(text: str, max_digits: int = 18) -> int | None:
    """The number `text` spells in ASCII digits (surrounding spaces allowed), or None if it spells none."""
    stripped = text.strip()
    if len(stripped) > max_digits or not _DIGITS.fullmatch(stripped):
        return None
    return int(stripped)
