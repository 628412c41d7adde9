"""retrieval: answers "which quotes of the book are closest to this?" over Nameko RPC.

Owns:   RPC `retrieval.search(query, k, character, section)`, and `retrieval.recall(query, k, character)` for
        the chat (the character's own pages and the whole book for one query, embedded once).
Reads:  the Annoy shards (memory-mapped, shared between processes; a new version is picked up on the next
        query, no restart) and the `section_notes` table (the section prior, re-read every
        GIBSEY_NOTES_REFRESH_S by a timer). Writes nothing. Emits nothing.
Ranking is hybrid (vector + lexical, spread over the sections the query is about): shared/rag/ranking.py.
The model is loaded at start in the embedding worker process; a query's embedding (~10-15 ms) runs there
while this green thread waits on the hub, so other queries keep being served (shared/rag/embedding.py).
"""

from __future__ import annotations

import logging
import os
import time

from cassandra import DriverException
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.timer import timer

from shared.config import Settings, positive_seconds
from shared.rag.embedding import Embedder
from shared.rag.notes import SectionPrior, read_notes
from shared.rag.query import check_query
from shared.rag.ranking import hybrid_search
from shared.rag.shards import ShardReader
from shared.storage.cassandra import StorageUnavailable, close_session, open_session
from shared.rpc import rpc_service

log = logging.getLogger(__name__)
NOTES_REFRESH_S = positive_seconds(os.environ, "GIBSEY_NOTES_REFRESH_S", 300.0)


class QuoteIndex(DependencyProvider):
    """Owns the shard reader, the query embedder and the section prior; one per container."""

    def setup(self) -> None:
        self.settings = Settings.from_nameko_config(self.container.config)
        self.reader = ShardReader(prefault=os.environ.get("GIBSEY_ANNOY_PREFAULT") == "1")
        self.embedder = Embedder()
        self.prior = SectionPrior(self.embedder)
        self._session = None

    def start(self) -> None:
        self.embedder.load()  # now, not on the first reader's query
        self.refresh_notes()

    def stop(self) -> None:
        if self._session is not None:
            close_session(self._session)

    def refresh_notes(self) -> None:
        """Re-read the section notes; if Cassandra is away, keep the ones already held and say so."""
        try:
            if self._session is None:
                self._session = open_session(self.settings)
            embedded = self.prior.update(read_notes(self._session, self.settings.cassandra_keyspace))
        except (StorageUnavailable, DriverException) as exc:  # the prior is an aid, not a must
            log.warning("section notes not refreshed", extra={"error": str(exc)})
            return
        if embedded:
            log.info("section notes refreshed", extra={"notes": len(self.prior), "embedded": embedded})

    def get_dependency(self, worker_ctx) -> "QuoteIndex":
        return self


class RetrievalService:
    name = rpc_service("retrieval")
    index = QuoteIndex()

    @rpc
    def search(self, query: str, k: int = 12, character: str | None = None, section: int | None = None) -> dict:
        started = time.perf_counter()
        query, k, sections = check_query(query, k, character, section)
        vector = self.index.embedder.encode([query])[0]
        return {"results": self._ranked(query, vector, k, sections), "took_ms": _ms_since(started)}

    @rpc
    def recall(self, query: str, k: int = 6, character: str | None = None) -> dict:
        """A character's memory for one question: `own` (its sections; empty without a character) and `book`
        (every section), ranked separately; one embedding serves both."""
        started = time.perf_counter()
        query, k, book = check_query(query, k, None, None)
        own = check_query(query, k, character, None)[2] if character is not None else []
        vector = self.index.embedder.encode([query])[0]
        return {"own": self._ranked(query, vector, k, own), "book": self._ranked(query, vector, k, book),
                "took_ms": _ms_since(started)}

    def _ranked(self, query: str, vector, k: int, sections: list[int]) -> list[dict]:
        hits = hybrid_search(self.index.reader, query, vector, k, sections, self.index.prior) if sections else []
        return [{"page_id": h.page_id, "page_number": h.page_num, "section": h.section,
                 "character": h.character_id, "loc": h.loc, "quote": h.quote, "score": round(h.score, 4)}
                for h in hits]

    @timer(interval=NOTES_REFRESH_S)
    def refresh_notes(self) -> None:
        self.index.refresh_notes()


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
