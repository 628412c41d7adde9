"""`gibsey topics create`: make the core topics exist with at least the configured partition counts.

Idempotent: existing topics are left alone, except that a topic with fewer partitions than configured is
grown (Kafka can add partitions, never remove them, so a larger existing count is reported, not changed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic
from kafka.errors import KafkaError, NoBrokersAvailable, TopicAlreadyExistsError

from shared.config import Settings
from shared.topics import CORE_TOPICS, Topic


class BusUnavailable(RuntimeError):
    """Kafka could not be reached or refused an admin request; the message says which and why."""


@dataclass(frozen=True)
class TopicOutcome:
    name: str
    action: str  # "created" | "exists" | "grown"
    partitions: int


def _admin(settings: Settings) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="gibsey-admin",
                                request_timeout_ms=15000)
    except NoBrokersAvailable as exc:
        raise BusUnavailable(f"Kafka at {settings.kafka_bootstrap} is not reachable") from exc


def existing_partition_counts(admin: KafkaAdminClient, names: Iterable[str]) -> dict[str, int]:
    wanted = set(names) & set(admin.list_topics())
    if not wanted:
        return {}
    return {meta["topic"]: len(meta["partitions"]) for meta in admin.describe_topics(sorted(wanted))}


def ensure_topics(settings: Settings, topics: Iterable[Topic] = CORE_TOPICS) -> list[TopicOutcome]:
    topics = list(topics)
    admin = _admin(settings)
    try:
        prefix = settings.topic_prefix
        existing = existing_partition_counts(admin, (t.qualified(prefix) for t in topics))
        outcomes: list[TopicOutcome] = []
        for topic in topics:
            desired = topic.partitions(settings.topics)
            name = topic.qualified(prefix)
            have = existing.get(name)
            if have is None:
                try:
                    admin.create_topics(
                        [NewTopic(name, desired, settings.topics.replication_factor)], timeout_ms=15000
                    )
                    outcomes.append(TopicOutcome(name, "created", desired))
                except TopicAlreadyExistsError:  # another process won the race
                    outcomes.append(TopicOutcome(name, "exists", desired))
            elif have < desired:
                admin.create_partitions({name: NewPartitions(desired)}, timeout_ms=15000)
                outcomes.append(TopicOutcome(name, "grown", desired))
            else:
                outcomes.append(TopicOutcome(name, "exists", have))
        return outcomes
    except KafkaError as exc:
        raise BusUnavailable(f"Kafka at {settings.kafka_bootstrap} refused a topic request: {exc!r}") from exc
    finally:
        admin.close()
