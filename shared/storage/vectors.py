"""Quote and page vectors in Cassandra (`quote_vectors`, `page_vectors`).

Replacing a page's quotes is one single-partition batch (the partition is the section): a range delete of
the page's old quotes one microsecond before the new rows, so readers see the old set or the new, never a mix.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType

from shared.rag.embedding import MODEL_NAME
from shared.rag.quotes import Quote


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


class VectorStore:
    def __init__(self, session: Session, keyspace: str):
        self._s = session
        p = session.prepare
        self._delete_quotes = p(f"DELETE FROM {keyspace}.quote_vectors USING TIMESTAMP ? "
                                f"WHERE section = ? AND page_id = ?")
        self._insert_quote = p(f"INSERT INTO {keyspace}.quote_vectors (section, page_id, loc, page_num, character_id, "
                               f"quote, embedding) VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?")
        self._page_vector = p(f"INSERT INTO {keyspace}.page_vectors (page_id, embedding, model, text_hash, updated_at) "
                              f"VALUES (?, ?, ?, ?, ?)")
        self._delete_page_vector = p(f"DELETE FROM {keyspace}.page_vectors WHERE page_id = ?")
        self._hash = p(f"SELECT text_hash FROM {keyspace}.page_vectors WHERE page_id = ?")
        self._section = p(f"SELECT page_id, loc, page_num, character_id, quote, embedding "
                          f"FROM {keyspace}.quote_vectors WHERE section = ?")

    def stored_hash(self, page_id: str) -> str | None:
        row = self._s.execute(self._hash, (page_id,)).one()
        return row.text_hash if row else None

    def replace_page(self, *, page_id: str, section: int, page_num: int | None, character_id: str, text: str,
                     quotes: list[Quote], vectors: np.ndarray) -> None:
        now_us = int(time.time() * 1_000_000)
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)  # one partition: atomic and isolated anyway
        batch.add(self._delete_quotes, (now_us - 1, section, page_id))
        for quote, vector in zip(quotes, vectors):
            batch.add(self._insert_quote, (section, page_id, quote.loc, page_num, character_id, quote.text,
                                           vector.tolist(), now_us))
        self._s.execute(batch)
        mean = vectors.mean(axis=0) if len(vectors) else np.zeros(vectors.shape[1] if vectors.ndim == 2 else 384)
        norm = float(np.linalg.norm(mean)) or 1.0
        self._s.execute(self._page_vector, (page_id, (mean / norm).astype(np.float32).tolist(), MODEL_NAME,
                                            text_hash(text), datetime.now(timezone.utc)))

    def delete_page(self, page_id: str, section: int) -> None:
        self._s.execute(self._delete_quotes, (int(time.time() * 1_000_000), section, page_id))
        self._s.execute(self._delete_page_vector, (page_id,))

    def section_quotes(self, section: int) -> list[QuoteRow]:
        return [QuoteRow(r.page_id, r.loc, r.page_num, r.character_id, r.quote, list(r.embedding))
                for r in self._s.execute(self._section, (section,))]
