"""Opening Cassandra sessions from `Settings`, with the one connection class that fits the caller.

Nameko services run under eventlet's monkey patching, where the driver must use its eventlet reactor;
everything else (CLI, gateway threads, tests) uses the driver's default reactor.
"""

from __future__ import annotations

import sys

from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

from shared.config import Settings


class StorageUnavailable(RuntimeError):
    """Cassandra could not be reached; the message says where we tried."""


def _connection_class() -> type | None:
    eventlet_patcher = sys.modules.get("eventlet.patcher")
    if eventlet_patcher is not None and eventlet_patcher.is_monkey_patched("socket"):
        from cassandra.io.eventletreactor import EventletConnection

        return EventletConnection
    return None


def open_session(
    settings: Settings, *, keyspace: str | None = None, connect_timeout: float = 10.0, request_timeout: float = 30.0
) -> Session:
    """Connect to the configured contact points; raise `StorageUnavailable` with the addresses on failure."""
    hosts = settings.cassandra_hosts
    cluster_kwargs: dict[str, object] = {
        "contact_points": [hp.host for hp in hosts],
        "port": hosts[0].port,
        "execution_profiles": {
            EXEC_PROFILE_DEFAULT: ExecutionProfile(
                load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()), request_timeout=request_timeout
            )
        },
        "connect_timeout": connect_timeout,
        # v4, not v5: the driver's v5 framing (checksummed segments) intermittently fails the handshake with
        # "ConnectionShutdown: CRC mismatch on header" (seen here in CI and tests; upstream PYTHON-1337).
        # Nothing here needs v5: vector columns read and write the same over v4.
        "protocol_version": 4,
    }
    connection_class = _connection_class()
    if connection_class is not None:
        cluster_kwargs["connection_class"] = connection_class
    cluster = Cluster(**cluster_kwargs)
    try:
        return cluster.connect(keyspace)
    except (NoHostAvailable, OSError) as exc:
        cluster.shutdown()
        where = ", ".join(str(hp) for hp in hosts)
        raise StorageUnavailable(f"Cassandra at {where} is not reachable: {exc}") from exc


def close_session(session: Session) -> None:
    session.cluster.shutdown()
