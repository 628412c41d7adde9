"""retrieval: answers "which quotes of the book are closest to this?" over Nameko RPC.

Owns:   RPC `retrieval.search(query, k, character, section)`.
Reads:  the Annoy shards (memory-mapped, shared between processes; a new version is picked up on the next
        query, no restart). Writes nothing. Emits nothing.
The model is loaded at start; a query is embedded on the worker's green thread (~10-30 ms), which briefly
holds up the other green threads: moving it off the event loop is still to do (see shared/rag/embedding.py).
"""

from __future__ import annotations

import os
import time

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from shared.rag.embedding import Embedder
from shared.rag.query import check_query
from shared.rag.shards import ShardReader

class QuoteIndex(DependencyProvider):
    def setup(self) -> None:
        self.reader = ShardReader(prefault=os.environ.get("GIBSEY_ANNOY_PREFAULT") == "1")
        self.embedder = Embedder()

    def start(self) -> None:
        self.embedder.load()  # now, not on the first reader's query

    def get_dependency(self, worker_ctx) -> "QuoteIndex":
        return self


class RetrievalService:
    name = "retrieval"
    index = QuoteIndex()

    @rpc
    def search(self, query: str, k: int = 12, character: str | None = None, section: int | None = None) -> dict:
        started = time.perf_counter()
        query, k, sections = check_query(query, k, character, section)
        vector = self.index.embedder.encode([query])[0]
        hits = self.index.reader.search(vector, k, sections) if sections else []
        results = [{"page_id": h.page_id, "page_number": h.page_num, "section": h.section,
                    "character": h.character_id, "loc": h.loc, "quote": h.quote, "score": round(h.score, 4)}
                   for h in hits]
        return {"results": results, "took_ms": round((time.perf_counter() - started) * 1000, 1)}
