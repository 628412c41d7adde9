"""Dependency health: which servers answer their own protocol, how fast, and at which version.

Kafka, Cassandra and RabbitMQ are required (nothing works without them); Ollama is optional, because the
deterministic composer takes over when no LLM answers. The probes are blocking socket calls, so async
callers run them in threads, all at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Callable

from shared.config import HostPort, Settings
from shared.probes import ProbeResult, probe_cassandra, probe_kafka, probe_ollama, probe_rabbitmq


@dataclass(frozen=True)
class DependencyStatus:
    name: str
    required: bool
    up: bool
    address: str
    latency_ms: float
    version: str | None
    detail: str

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["status"] = "up" if self.up else "down"
        return data


@dataclass(frozen=True)
class HealthReport:
    dependencies: tuple[DependencyStatus, ...]

    @property
    def healthy(self) -> bool:
        return all(dep.up for dep in self.dependencies if dep.required)

    def as_dict(self) -> dict[str, object]:
        optional_down = any(not dep.up for dep in self.dependencies if not dep.required)
        status = "down" if not self.healthy else ("degraded" if optional_down else "ok")
        return {"status": status, "dependencies": {dep.name: dep.as_dict() for dep in self.dependencies}}


@dataclass(frozen=True)
class Check:
    """One dependency to probe: a name, whether it is required, and a zero-argument probe."""

    name: str
    required: bool
    address: str
    probe: Callable[[], ProbeResult]

    def run(self) -> DependencyStatus:
        result = self.probe()
        return DependencyStatus(
            self.name, self.required, result.ok, self.address, round(result.latency_ms, 1), result.version, result.detail
        )


def _first_answering(probe: Callable[[str, int, float], ProbeResult], hosts: tuple[HostPort, ...], timeout: float):
    """A cluster is up when any of its contact points answers; report that one, else the first failure."""

    def run() -> ProbeResult:
        results = []
        for hp in hosts:
            result = probe(hp.host, hp.port, timeout)
            if result.ok:
                return result
            results.append(result)
        return results[0]

    return run


def default_checks(settings: Settings) -> tuple[Check, ...]:
    timeout = settings.health_timeout_s
    amqp = settings.amqp_host_port
    return (
        Check("kafka", True, settings.kafka_bootstrap, _first_answering(probe_kafka, settings.kafka_brokers, timeout)),
        Check(
            "cassandra",
            True,
            ",".join(map(str, settings.cassandra_hosts)),
            _first_answering(probe_cassandra, settings.cassandra_hosts, timeout),
        ),
        Check("rabbitmq", True, str(amqp), lambda: probe_rabbitmq(amqp.host, amqp.port, timeout)),
        Check("ollama", False, settings.ollama_base_url, lambda: probe_ollama(settings.ollama_base_url, timeout)),
    )


def check_now(checks: tuple[Check, ...]) -> HealthReport:
    return HealthReport(tuple(check.run() for check in checks))


async def check_async(checks: tuple[Check, ...]) -> HealthReport:
    statuses = await asyncio.gather(*(asyncio.to_thread(check.run) for check in checks))
    return HealthReport(tuple(statuses))
