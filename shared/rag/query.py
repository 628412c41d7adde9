"""What a retrieval query may be: one check, used by the gateway (422) and by the retrieval service."""

from __future__ import annotations

from shared.symbols import SECTION_COUNT, character_by_id

MAX_QUERY_CHARS = 500
MAX_K = 50


class RetrievalQueryError(ValueError):
    """The query cannot be answered as asked (empty, too long, bad k/section/character)."""


def check_query(query: object, k: object, character: object, section: object) -> tuple[str, int, list[int]]:
    if not isinstance(query, str) or not query.strip():
        raise RetrievalQueryError("q: the query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise RetrievalQueryError(f"q: the query is {len(query)} characters; at most {MAX_QUERY_CHARS}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise RetrievalQueryError(f"k: must be a whole number 1..{MAX_K}, got {k!r}")
    sections = list(range(1, SECTION_COUNT + 1))
    if section is not None:
        if isinstance(section, bool) or not isinstance(section, int) or not 1 <= section <= SECTION_COUNT:
            raise RetrievalQueryError(f"section: must be 1..{SECTION_COUNT}, got {section!r}")
        sections = [section]
    if character is not None:
        try:
            owner = character_by_id(str(character))
        except ValueError as exc:
            raise RetrievalQueryError(f"character: {exc}") from None
        sections = [s for s in sections if s == owner.section]
    return query.strip(), k, sections
