"""`PipelineStorage`: a Nameko dependency owning one Cassandra session per container.

Each worker gets the shared `PipelineStore` (prepared statements, domain methods); the session is opened
in start (eventlet-aware, see shared.storage.cassandra) and shut down in stop.
"""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from shared.config import Settings
from shared.storage.cassandra import close_session, open_session
from shared.storage.pipeline import PipelineStore


class PipelineStorage(DependencyProvider):
    def setup(self) -> None:
        self._settings = Settings.from_nameko_config(self.container.config)
        self._session = None
        self._store: PipelineStore | None = None

    def start(self) -> None:
        self._session = open_session(self._settings)
        self._store = PipelineStore(self._session, self._settings.cassandra_keyspace)

    def stop(self) -> None:
        if self._session is not None:
            close_session(self._session)

    def get_dependency(self, worker_ctx) -> PipelineStore:
        return self._store

    @property
    def settings(self) -> Settings:
        return self._settings
