"""embedder: turns every change to `pages` into quote vectors.

Owns:   cdc.pages (Debezium Cassandra change events), consumer group "embedder".
Writes: quote_vectors and page_vectors (one page's quotes replaced in one partition batch).
Emits:  gibsey.index.update (PageIndexChanged {section, page_id, op}).
Skips changes of other keyspaces, updates that do not touch `text`, and text it already embedded (by hash);
embedding runs in the embedding worker process (one call per page, ~50-100 ms on 2 cores) while this
green thread waits on the hub, so heartbeats and other messages keep flowing (shared/rag/embedding.py).
"""

from __future__ import annotations

import time
from nameko.extensions import DependencyProvider

from shared.bus.entrypoint import consume
from shared.bus.publisher import EventPublisher
from shared.config import Settings
from shared.events import Envelope, PageIndexChanged
from shared.rag.cdc import PageChange, decode_page_change
from shared.rag.embedding import Embedder
from shared.rag.indexing import embed_pages, pages_to_index
from shared.storage.cassandra import close_session, open_session
from shared.storage.vectors import VectorStore
from shared.symbols import SECTION_COUNT
from shared.topics import CDC_PAGES


class VectorStorage(DependencyProvider):
    def setup(self) -> None:
        self.settings = Settings.from_nameko_config(self.container.config)
        self.embedder = Embedder()

    def start(self) -> None:
        self.session = open_session(self.settings)
        self.store = VectorStore(self.session, self.settings.cassandra_keyspace)
        self.embedder.load()  # before the first change arrives

    def stop(self) -> None:
        close_session(self.session)

    def get_dependency(self, worker_ctx) -> "VectorStorage":
        return self


class EmbedderService:
    name = "embedder"
    vectors = VectorStorage()
    events = EventPublisher()

    @consume(CDC_PAGES, group_id="embedder", decode=decode_page_change)
    def on_page_changed(self, change: PageChange) -> str:
        started = time.monotonic()
        settings = self.vectors.settings
        if change.keyspace != settings.cassandra_keyspace or change.table != "pages" or not change.touches_text:
            return "skipped"
        pages = pages_to_index(self.vectors.session, settings.cassandra_keyspace, page_id=change.page_id)
        if not pages:  # deleted (or not visible yet: the next event for it will bring it)
            sections, op = _sections_of(change.page_id), "delete"
            for section in sections:
                self.vectors.store.delete_page(change.page_id, section)
        else:
            if not embed_pages(self.vectors.store, self.vectors.embedder, pages):
                return "unchanged"
            sections, op = [pages[0].section], "upsert"
        for section in sections:
            self.events.publish(Envelope.wrap(PageIndexChanged(section=section, page_id=change.page_id, op=op),
                                              session_id="cdc"))
        return f"{op} in {time.monotonic() - started:.2f}s"


def _sections_of(page_id: str) -> list[int]:
    """A deleted page's section: canon ids carry it; a branch page could be anywhere."""
    if page_id.startswith("S") and page_id[1:3].isdigit():
        return [int(page_id[1:3])]
    return list(range(1, SECTION_COUNT + 1))
