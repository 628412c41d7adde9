"""Wire-protocol health probes for the local stack and the gateway's /health.

Stdlib only and blocking (sockets with timeouts); async callers wrap them in
``asyncio.to_thread``. Every probe returns a :class:`ProbeResult` and never raises.
"""
from .amqp import probe_rabbitmq
from .cql import probe_cassandra
from .http import probe_http, probe_ollama
from .kafka import probe_kafka
from .result import ProbeResult

__all__ = [
    "ProbeResult",
    "probe_cassandra",
    "probe_http",
    "probe_kafka",
    "probe_ollama",
    "probe_rabbitmq",
]
