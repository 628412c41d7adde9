"""indexer: keeps each section's Annoy shard in step with its quote vectors.

Owns:   gibsey.index.update (PageIndexChanged), consumer group "indexer".
Writes: index_dirty (a durable "rebuild this section" mark), the shard files (temp file, then rename).
Emits:  nothing.
Bursts coalesce: a handler only marks its section dirty (durably, then the offset is committed); a
background loop rebuilds each dirty section at most once per GIBSEY_INDEX_COALESCE_S, so the 710 events of a
canon ingest mean a handful of rebuilds, not 710. Marks left by a crash are rebuilt at the next start.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timezone

import eventlet
from eventlet import tpool
from nameko.extensions import DependencyProvider

from shared.bus.entrypoint import consume
from shared.config import Settings, positive_seconds
from shared.events import Envelope, PageIndexChanged
from shared.rag.shards import annoy_trees, build_shard, index_dir
from shared.storage.cassandra import close_session, open_session
from shared.storage.vectors import VectorStore
from shared.topics import INDEX_UPDATE

log = logging.getLogger("gibsey.indexer")


class ShardBuilder(DependencyProvider):
    def setup(self) -> None:
        self.settings = Settings.from_nameko_config(self.container.config)
        self.coalesce_s = positive_seconds(os.environ, "GIBSEY_INDEX_COALESCE_S", 1.0)
        self.trees = annoy_trees()
        self.directory = index_dir()
        self._stopping = False

    def start(self) -> None:
        self.session = open_session(self.settings)
        ks = self.settings.cassandra_keyspace
        self.store = VectorStore(self.session, ks)
        self._mark = self.session.prepare(f"INSERT INTO {ks}.index_dirty (section, marked_at) VALUES (?, ?)")
        self._marks = self.session.prepare(f"SELECT section, marked_at FROM {ks}.index_dirty")
        self._clear = self.session.prepare(f"DELETE FROM {ks}.index_dirty WHERE section = ? IF marked_at = ?")
        self._loop = self.container.spawn_managed_thread(self._rebuild_loop, identifier="indexer.rebuild")

    def stop(self) -> None:
        self._stopping = True
        self._loop.wait()
        close_session(self.session)

    def mark(self, section: int) -> None:
        self.session.execute(self._mark, (section, datetime.now(timezone.utc)))

    def _rebuild_loop(self) -> None:
        while not self._stopping:
            eventlet.sleep(self.coalesce_s)
            try:
                marks = list(self.session.execute(self._marks))
            except Exception as exc:  # noqa: BLE001 - Cassandra away: the marks wait for the next round
                log.error("reading index marks failed", extra={"error": repr(exc)})
                continue
            for row in marks:
                try:
                    self._rebuild(row)
                except Exception as exc:  # noqa: BLE001 - the mark stays, so the next round retries it
                    log.error("shard rebuild failed", extra={"section": row.section, "error": repr(exc)})

    def _rebuild(self, row) -> None:
        rows = self.store.section_quotes(row.section)
        started = time.monotonic()
        version = tpool.execute(build_shard, self.directory, row.section, rows, self.trees)
        # Clear the mark only if nobody marked the section again meanwhile (that needs another build).
        self.session.execute(self._clear, (row.section, row.marked_at))
        log.info("shard rebuilt", extra={"section": row.section, "version": version, "quotes": len(rows),
                                         "ms": round((time.monotonic() - started) * 1000, 1)})

    def get_dependency(self, worker_ctx) -> "ShardBuilder":
        return self


class IndexerService:
    name = "indexer"
    shards = ShardBuilder()

    @consume(INDEX_UPDATE, group_id="indexer")
    def on_index_changed(self, event: Envelope[PageIndexChanged]) -> None:
        self.shards.mark(event.payload.section)
