"""embedder: turns every change to `pages` into quote vectors.

Owns:   cdc.pages (Debezium Cassandra change events), consumer group "embedder".
Writes: quote_vectors and page_vectors (one page's quotes replaced in one partition batch; the page vector, which
        records the section, page number and character they were made from, last).
Emits:  gibsey.index.update (PageIndexChanged {section, page_id, op}): the page's section, and the section it
        left when it moved; also when its vectors were already current (a failed attempt may not have sent it).
Skips changes of other keyspaces and updates that touch none of text, section, page_num, char_hex; a change
only says "this page changed": the page is read as it is now (functions/embedder/sync.py). Embedding runs in the
embedding worker process (one call per page, ~50-100 ms on 2 cores) while this green thread waits on the hub,
so heartbeats and other messages keep flowing (shared/rag/embedding.py).
"""

from __future__ import annotations

import time

from nameko.extensions import DependencyProvider

from functions.embedder.sync import sync_page
from shared.bus.entrypoint import consume
from shared.bus.publisher import EventPublisher
from shared.config import Settings
from shared.events import Envelope
from shared.rag.cdc import PageChange, decode_page_change
from shared.rag.embedding import Embedder
from shared.rag.indexing import pages_to_index
from shared.storage.cassandra import close_session, open_session
from shared.storage.vectors import VectorStore
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
        if change.keyspace != settings.cassandra_keyspace or change.table != "pages" or not change.touches_index:
            return "skipped"
        pages = pages_to_index(self.vectors.session, settings.cassandra_keyspace, page_id=change.page_id)
        outcome = sync_page(self.vectors.store, self.vectors.embedder, change.page_id, pages[0] if pages else None,
                            lambda update: self.events.publish(Envelope.wrap(update, session_id="cdc")))
        return f"{outcome} in {time.monotonic() - started:.2f}s"
