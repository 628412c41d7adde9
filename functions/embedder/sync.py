"""What the embedder does with one changed page, apart from Kafka and Nameko: bring the page's quote vectors in
line with its row as it is now, and announce every section whose shard that changed.

At-least-once: the announcements go out after the quotes are written and before the page is recorded as
embedded (or, for a removal, before its page vector is dropped), so if one fails the retry finds the page stale
and does it all again. A page already current is announced anyway: the update may be the one a failed attempt
never sent, and the indexer coalesces repeats.
"""

from __future__ import annotations

from typing import Callable

from pydantic import ValidationError

from shared.events import PageIndexChanged
from shared.rag.embedding import Embedder
from shared.rag.indexing import Embedded, PageText, embed_pages, remove_page
from shared.storage.vectors import VectorStore
from shared.symbols import CHARACTERS

Notify = Callable[[PageIndexChanged], None]


class UnindexablePage(ValueError):
    """The page's row cannot be indexed as it stands (its id, section or character); nothing was written."""


def sync_page(store: VectorStore, embedder: Embedder, page_id: str, page: PageText | None, notify: Notify) -> str:
    """`page` is the row as read now (None: deleted, or no text). Returns what happened: upsert, moved,
    unchanged, delete, or absent (nothing stored for a page that is gone)."""
    if page is None:
        removed = remove_page(store, page_id, lambda sections: _announce(notify, page_id, sections, "delete"))
        return "delete" if removed else "absent"
    upsert = index_update(page.section, page_id, "upsert")  # before anything is written
    if not isinstance(page.char_hex, int) or not 0 <= page.char_hex < len(CHARACTERS):
        raise UnindexablePage(f"page {page_id}: char_hex {page.char_hex!r} is not 0..{len(CHARACTERS) - 1}")

    def announce(done: list[Embedded]) -> None:
        for embedded in done:
            notify(upsert)
            _announce(notify, page_id, embedded.left, "delete")

    embedded = embed_pages(store, embedder, [page], before_record=announce)
    if not embedded:
        notify(upsert)
        return "unchanged"
    return "moved" if embedded[0].left else "upsert"


def index_update(section: int, page_id: str, op: str) -> PageIndexChanged:
    try:
        return PageIndexChanged(section=section, page_id=page_id, op=op)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise UnindexablePage(f"page {page_id!r} cannot be indexed: {problems}") from None


def _announce(notify: Notify, page_id: str, sections: tuple[int, ...], op: str) -> None:
    for section in sections:
        notify(index_update(section, page_id, op))
