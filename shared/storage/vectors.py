"""Quote and page vectors in Cassandra (`quote_vectors`, `page_vectors`).

Replacing a page's quotes in its section is one single-partition batch (the partition is the section): a range
delete of the page's old quotes one microsecond before the new rows, so readers see the old set or the new,
never a mix. The page's `page_vectors` row says what its quotes were made from (text hash, section, page number,
character) and is written last and deleted last: while it is missing or out of date, the page counts as not
(re)embedded, so a step that failed in between is redone (the embedder's at-least-once, functions/embedder).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType

from shared.rag.embedding import DIMENSIONS, MODEL_NAME
from shared.rag.quotes import Quote
from shared.symbols import SECTION_COUNT


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class QuoteRow:
    page_id: str
    loc: str
    page_num: int | None
    character_id: str
    quote: str
    embedding: list[float]


@dataclass(frozen=True)
class StoredPage:
    """What a page's stored quotes were made from; section etc. are None for rows older than migration 0012."""

    text_hash: str | None
    section: int | None
    page_num: int | None
    character_id: str | None


class VectorStore:
    def __init__(self, session: Session, keyspace: str):
        self._s = session
        p = session.prepare
        self._delete_quotes = p(f"DELETE FROM {keyspace}.quote_vectors USING TIMESTAMP ? "
                                f"WHERE section = ? AND page_id = ?")
        self._insert_quote = p(f"INSERT INTO {keyspace}.quote_vectors (section, page_id, loc, page_num, character_id, "
                               f"quote, embedding) VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?")
        self._page_vector = p(f"INSERT INTO {keyspace}.page_vectors (page_id, embedding, model, text_hash, section, "
                              f"page_num, character_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        self._delete_page_vector = p(f"DELETE FROM {keyspace}.page_vectors WHERE page_id = ?")
        self._stored = p(f"SELECT text_hash, section, page_num, character_id FROM {keyspace}.page_vectors "
                         f"WHERE page_id = ?")
        self._page_ids = p(f"SELECT page_id FROM {keyspace}.page_vectors")
        self._holds = p(f"SELECT loc FROM {keyspace}.quote_vectors WHERE section = ? AND page_id = ? LIMIT 1")
        self._section_page_ids = p(f"SELECT page_id FROM {keyspace}.quote_vectors WHERE section = ?")
        self._section = p(f"SELECT page_id, loc, page_num, character_id, quote, embedding "
                          f"FROM {keyspace}.quote_vectors WHERE section = ?")

    def stored(self, page_id: str) -> StoredPage | None:
        row = self._s.execute(self._stored, (page_id,)).one()
        return StoredPage(row.text_hash, row.section, row.page_num, row.character_id) if row else None

    def write_quotes(self, *, page_id: str, section: int, page_num: int | None, character_id: str,
                     quotes: list[Quote], vectors: np.ndarray, leaving: tuple[int, ...] = ()) -> None:
        """The page's quotes in `section`, replacing what it had there; then none left in the `leaving`
        sections (where it was before)."""
        now_us = int(time.time() * 1_000_000)
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)  # one partition: atomic and isolated anyway
        batch.add(self._delete_quotes, (now_us - 1, section, page_id))
        for quote, vector in zip(quotes, vectors):
            batch.add(self._insert_quote, (section, page_id, quote.loc, page_num, character_id, quote.text,
                                           vector.tolist(), now_us))
        self._s.execute(batch)
        for old in leaving:
            if old != section:
                self.delete_quotes(page_id, old)

    def record_page(self, *, page_id: str, section: int, page_num: int | None, character_id: str, text: str,
                    vectors: np.ndarray) -> None:
        """The page's own vector (the mean of its quotes') and what they were made from: the last write."""
        mean = vectors.mean(axis=0) if len(vectors) else np.zeros(DIMENSIONS, dtype=np.float32)
        norm = float(np.linalg.norm(mean)) or 1.0
        self._s.execute(self._page_vector, (page_id, (mean / norm).astype(np.float32).tolist(), MODEL_NAME,
                                            text_hash(text), section, page_num, character_id,
                                            datetime.now(timezone.utc)))

    def delete_quotes(self, page_id: str, section: int) -> None:
        self._s.execute(self._delete_quotes, (int(time.time() * 1_000_000), section, page_id))

    def forget_page(self, page_id: str) -> None:
        """Drop the page's `page_vectors` row: the last step of removing a page."""
        self._s.execute(self._delete_page_vector, (page_id,))

    def sections_holding(self, page_id: str) -> list[int]:
        """The sections with quotes of the page: one small read per section, for rows that do not say."""
        return [s for s in range(1, SECTION_COUNT + 1) if self._s.execute(self._holds, (s, page_id)).one()]

    def embedded_page_ids(self) -> dict[str, set[int]]:
        """Every page with stored vectors, and the sections holding its quotes (empty: only a page_vectors row)."""
        found: dict[str, set[int]] = {row.page_id: set() for row in self._s.execute(self._page_ids)}
        for section in range(1, SECTION_COUNT + 1):
            for row in self._s.execute(self._section_page_ids, (section,)):
                found.setdefault(row.page_id, set()).add(section)
        return found

    def section_quotes(self, section: int) -> list[QuoteRow]:
        return [QuoteRow(r.page_id, r.loc, r.page_num, r.character_id, r.quote, list(r.embedding))
                for r in self._s.execute(self._section, (section,))]
