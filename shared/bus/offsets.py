"""Which offsets are safe to commit: the highest contiguous finished offset, per partition.

Kafka's committed offset means "everything before this is done". With several records in flight, a later
one can finish first; committing it would skip the earlier one if we crashed. So we commit only up to the
first offset still in flight (nameko-kafka's AT_LEAST_ONCE consumer commits before its worker finishes,
which loses messages on a crash: this is the piece we replace).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PartitionOffsets:
    next_commit: int | None = None  # the offset Kafka should resume from (last contiguous finished + 1)
    in_flight: set[int] = field(default_factory=set)
    finished: set[int] = field(default_factory=set)

    def started(self, offset: int) -> None:
        if self.next_commit is None:
            self.next_commit = offset
        self.in_flight.add(offset)

    def done(self, offset: int) -> None:
        self.in_flight.discard(offset)
        self.finished.add(offset)
        while self.next_commit in self.finished:
            self.finished.discard(self.next_commit)
            self.next_commit += 1


class OffsetTracker:
    """Per-partition bookkeeping; `committable()` returns only positions that advanced since last commit."""

    def __init__(self) -> None:
        self._partitions: dict[object, PartitionOffsets] = {}
        self._committed: dict[object, int] = {}

    def started(self, partition: object, offset: int) -> None:
        self._partitions.setdefault(partition, PartitionOffsets()).started(offset)

    def done(self, partition: object, offset: int) -> None:
        self._partitions[partition].done(offset)

    def in_flight(self, partition: object) -> int:
        state = self._partitions.get(partition)
        return len(state.in_flight) if state else 0

    def committable(self) -> dict[object, int]:
        ready = {}
        for partition, state in self._partitions.items():
            if state.next_commit is not None and state.next_commit != self._committed.get(partition):
                ready[partition] = state.next_commit
        return ready

    def mark_committed(self, positions: dict[object, int]) -> None:
        self._committed.update(positions)

    def forget(self, partitions: object) -> None:
        """Partitions revoked in a rebalance: their new owner resumes from the last commit."""
        for partition in partitions:  # type: ignore[attr-defined]
            self._partitions.pop(partition, None)
            self._committed.pop(partition, None)
