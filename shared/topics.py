"""Kafka topic names and how each is partitioned.

Events about a reader's session are keyed by session_id, so one reader's timeline stays in order on one
partition; events about a page are keyed by page_id, so one page's history stays in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from shared.config import TopicSettings


class PartitionKey(str, Enum):
    SESSION_ID = "session_id"
    PAGE_ID = "page_id"


@dataclass(frozen=True)
class Topic:
    name: str
    key: PartitionKey
    description: str

    def qualified(self, prefix: str = "") -> str:
        """The topic's name on the broker: the environment's prefix (GIBSEY_TOPIC_PREFIX) + its name, so
        several environments (dev, tests, benchmarks) can share one cluster without reading each other."""
        return f"{prefix}{self.name}"

    def partitions(self, settings: TopicSettings) -> int:
        if self.key is PartitionKey.SESSION_ID:
            return settings.session_partitions
        return settings.page_partitions


UI_SYMBOL = Topic("gibsey.ui.symbol", PartitionKey.SESSION_ID, "a reader picked one of the 256 symbols")
ASK = Topic("gibsey.ask", PartitionKey.SESSION_ID, "a reader asked a character something")
GENERATE_PAGE_REQUEST = Topic(
    "gibsey.generate.page.request", PartitionKey.SESSION_ID, "an enriched request to write a page"
)
GENERATE_PAGE_DONE = Topic("gibsey.generate.page.done", PartitionKey.SESSION_ID, "a page was written")
INDEX_UPDATE = Topic("gibsey.index.update", PartitionKey.PAGE_ID, "a page's vectors or signals changed")
AUDIT = Topic("gibsey.audit", PartitionKey.SESSION_ID, "append-only trail of pipeline steps")
DLQ = Topic("gibsey.dlq", PartitionKey.SESSION_ID, "messages that failed after bounded retries")
PIPELINE_ERROR = Topic(
    "gibsey.pipeline.error", PartitionKey.SESSION_ID, "a reader's event was given up on (told to their stream)"
)
CDC_PAGES = Topic("cdc.pages", PartitionKey.PAGE_ID, "row changes of the pages table (change data capture)")

CORE_TOPICS: tuple[Topic, ...] = (
    UI_SYMBOL,
    ASK,
    GENERATE_PAGE_REQUEST,
    GENERATE_PAGE_DONE,
    INDEX_UPDATE,
    AUDIT,
    DLQ,
    PIPELINE_ERROR,
    CDC_PAGES,
)
TOPICS_BY_NAME = {t.name: t for t in CORE_TOPICS}
