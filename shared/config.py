"""Settings from environment variables (12-factor), with defaults that match `localstack/`.

Every process builds one `Settings` at start-up (`Settings.from_env()`) and passes it down; nothing else in
the project reads `os.environ` for these values, so a test can build its own `Settings` for its own servers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Mapping
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """An environment variable holds a value that cannot be used; the message names it."""


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_host_list(raw: str, *, default_port: int, variable: str) -> tuple[HostPort, ...]:
    """Parse "h1,h2:9043" into host/port pairs (IPv4 or names); an empty list or a bad port is a `ConfigError`."""
    hosts: list[HostPort] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        host, _, port_text = item.partition(":")
        if not host:
            raise ConfigError(f"{variable}: {item!r} has no host name")
        hosts.append(HostPort(host, _port(port_text, variable, item) if port_text else default_port))
    if not hosts:
        raise ConfigError(f"{variable}: no hosts given (expected e.g. 127.0.0.1:{default_port})")
    return tuple(hosts)


def _port(text: str, variable: str, item: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ConfigError(f"{variable}: port in {item!r} is not a number") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{variable}: port {port} in {item!r} is outside 1..65535")
    return port


def positive_seconds(env: Mapping[str, str], variable: str, default: float) -> float:
    """A duration in seconds (> 0) from `variable`, or `default` when it is unset."""
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{variable}: {raw!r} is not a number of seconds") from None
    if not value > 0:
        raise ConfigError(f"{variable}: must be more than 0, got {raw!r}")
    return value


def whole_number(env: Mapping[str, str], variable: str, default: int, minimum: int) -> int:
    """A whole number >= `minimum` from `variable`, or `default` when it is unset."""
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{variable}: {raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{variable}: must be at least {minimum}, got {value}")
    return value


def _positive_int(env: Mapping[str, str], variable: str, default: int) -> int:
    return whole_number(env, variable, default, 1)


def _non_negative_int(env: Mapping[str, str], variable: str, default: int) -> int:
    """For amounts where 0 means "none" (a grant or reward that is switched off)."""
    return whole_number(env, variable, default, 0)


def _url(env: Mapping[str, str], variable: str, default: str, schemes: tuple[str, ...]) -> str:
    raw = env.get(variable, "").strip() or default
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(f"{variable}: {raw!r} is not a {'/'.join(schemes)} URL with a host")
    try:
        parts.port
    except ValueError:
        raise ConfigError(f"{variable}: {raw!r} has an invalid port") from None
    return raw.rstrip("/")


def _topic_prefix(env: Mapping[str, str]) -> str:
    raw = env.get("GIBSEY_TOPIC_PREFIX", "").strip()
    if raw and not all(c.isalnum() or c in "._-" for c in raw):
        raise ConfigError(f"GIBSEY_TOPIC_PREFIX: {raw!r} may hold only letters, digits, '.', '_' and '-'")
    return raw


def read_rpc_prefix(env: Mapping[str, str]) -> str:
    """GIBSEY_RPC_PREFIX: the RPC namespace. Nameko names a service's queue `rpc-<service>` per RabbitMQ
    vhost, so two environments on one broker (a developer's `make run`, a test session, a benchmark) would
    answer each other's calls; a prefix on every RPC service name keeps them apart, as topic prefixes do."""
    raw = env.get("GIBSEY_RPC_PREFIX", "").strip()
    if raw and not all(c.isalnum() or c == "_" for c in raw):
        raise ConfigError(f"GIBSEY_RPC_PREFIX: {raw!r} may hold only letters, digits and '_'")
    return raw


def _whole_text(value: float, variable: str) -> str:
    """`value` as the whole number `from_env` reads back for `variable`; a fraction cannot be written."""
    whole = round(value)
    if abs(value - whole) > 1e-9:
        raise ConfigError(f"{variable}: {value!r} is not a whole number, so it cannot be passed on")
    return str(whole)


def _identifier(env: Mapping[str, str], variable: str, default: str) -> str:
    raw = env.get(variable, "").strip() or default
    if not (raw[0].isalpha() and raw.replace("_", "a").isalnum() and raw.lower() == raw and len(raw) <= 48):
        raise ConfigError(f"{variable}: {raw!r} must be a lower-case CQL identifier (letters, digits, _)")
    return raw


@dataclass(frozen=True)
class TopicSettings:
    """Partition counts per topic family; replication for the whole cluster."""

    session_partitions: int = 6
    page_partitions: int = 6
    replication_factor: int = 1


@dataclass(frozen=True)
class Settings:
    cassandra_hosts: tuple[HostPort, ...] = (HostPort("127.0.0.1", 9042),)
    cassandra_keyspace: str = "gibsey"
    cassandra_replication_factor: int = 1
    kafka_brokers: tuple[HostPort, ...] = (HostPort("127.0.0.1", 9092),)
    amqp_uri: str = "amqp://guest:guest@127.0.0.1:5672/"
    ollama_base_url: str = "http://localhost:11434"
    ollama_model: str = "llama3:8b-instruct-q4_K_M"
    http_port: int = 8000
    topics: TopicSettings = field(default_factory=TopicSettings)
    health_timeout_s: float = 2.0
    sse_heartbeat_s: float = 15.0
    topic_prefix: str = ""
    rpc_prefix: str = ""
    chat_cost: int = 5  # credits one chat turn costs (debited before any LLM work)
    vault_reward: int = 1  # credits saving a page to the vault earns (once per user and page; 0: none)
    new_user_grant: int = 50  # credits an account opens with (its first history entry)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Read the process environment (or `env`); every bad value raises `ConfigError` naming its variable."""
        env = os.environ if env is None else env
        return cls(
            cassandra_hosts=parse_host_list(
                env.get("CASSANDRA_HOSTS", "127.0.0.1:9042"), default_port=9042, variable="CASSANDRA_HOSTS"
            ),
            cassandra_keyspace=_identifier(env, "CASSANDRA_KEYSPACE", "gibsey"),
            cassandra_replication_factor=_positive_int(env, "CASSANDRA_REPLICATION_FACTOR", 1),
            kafka_brokers=parse_host_list(
                env.get("KAFKA_BROKERS", "127.0.0.1:9092"), default_port=9092, variable="KAFKA_BROKERS"
            ),
            amqp_uri=_url(env, "AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/", ("amqp", "amqps")),
            ollama_base_url=_url(env, "OLLAMA_BASE_URL", "http://localhost:11434", ("http", "https")),
            ollama_model=env.get("OLLAMA_MODEL", "").strip() or "llama3:8b-instruct-q4_K_M",
            http_port=_port(env.get("GIBSEY_HTTP_PORT", "").strip() or "8000", "GIBSEY_HTTP_PORT", "GIBSEY_HTTP_PORT"),
            topics=TopicSettings(
                session_partitions=_positive_int(env, "GIBSEY_SESSION_TOPIC_PARTITIONS", 6),
                page_partitions=_positive_int(env, "GIBSEY_PAGE_TOPIC_PARTITIONS", 6),
                replication_factor=_positive_int(env, "GIBSEY_TOPIC_REPLICATION_FACTOR", 1),
            ),
            health_timeout_s=float(_positive_int(env, "GIBSEY_HEALTH_TIMEOUT_MS", 2000)) / 1000.0,
            sse_heartbeat_s=float(_positive_int(env, "GIBSEY_SSE_HEARTBEAT_S", 15)),
            topic_prefix=_topic_prefix(env),
            rpc_prefix=read_rpc_prefix(env),
            chat_cost=_positive_int(env, "GIBSEY_CHAT_COST", 5),
            vault_reward=_non_negative_int(env, "GIBSEY_VAULT_REWARD", 1),
            new_user_grant=_non_negative_int(env, "GIBSEY_NEW_USER_GRANT", 50),
        )

    @classmethod
    def from_nameko_config(cls, config: Mapping[str, object]) -> "Settings":
        """The settings a Nameko container was started with: the inverse of `nameko_config` (nameko.yaml
        fills the same variables from the environment). Nested sections such as LOGGING are not settings."""
        return cls.from_env({key: str(value) for key, value in config.items() if isinstance(value, (str, int, float))})

    def to_env(self) -> dict[str, str]:
        """The variables `from_env` reads, so a parent can hand these settings to a child process unchanged
        (`Settings.from_env(s.to_env()) == s` for any `s` that `from_env` built). Durations `from_env` reads
        in whole units (heartbeat in s, health timeout in ms) must be whole there, or this raises `ConfigError`."""
        return {
            "CASSANDRA_HOSTS": ",".join(map(str, self.cassandra_hosts)),
            "CASSANDRA_KEYSPACE": self.cassandra_keyspace,
            "CASSANDRA_REPLICATION_FACTOR": str(self.cassandra_replication_factor),
            "KAFKA_BROKERS": self.kafka_bootstrap,
            "AMQP_URI": self.amqp_uri,
            "OLLAMA_BASE_URL": self.ollama_base_url,
            "OLLAMA_MODEL": self.ollama_model,
            "GIBSEY_HTTP_PORT": str(self.http_port),
            "GIBSEY_SESSION_TOPIC_PARTITIONS": str(self.topics.session_partitions),
            "GIBSEY_PAGE_TOPIC_PARTITIONS": str(self.topics.page_partitions),
            "GIBSEY_TOPIC_REPLICATION_FACTOR": str(self.topics.replication_factor),
            "GIBSEY_HEALTH_TIMEOUT_MS": _whole_text(self.health_timeout_s * 1000, "GIBSEY_HEALTH_TIMEOUT_MS"),
            "GIBSEY_SSE_HEARTBEAT_S": _whole_text(self.sse_heartbeat_s, "GIBSEY_SSE_HEARTBEAT_S"),
            "GIBSEY_TOPIC_PREFIX": self.topic_prefix,
            "GIBSEY_RPC_PREFIX": self.rpc_prefix,
            "GIBSEY_CHAT_COST": str(self.chat_cost),
            "GIBSEY_VAULT_REWARD": str(self.vault_reward),
            "GIBSEY_NEW_USER_GRANT": str(self.new_user_grant),
        }

    def with_overrides(self, **changes: object) -> "Settings":
        return replace(self, **changes)

    @property
    def kafka_bootstrap(self) -> str:
        """The comma-joined form kafka-python and nameko-kafka take."""
        return ",".join(str(hp) for hp in self.kafka_brokers)

    @property
    def amqp_host_port(self) -> HostPort:
        parts = urlsplit(self.amqp_uri)
        default = 5671 if parts.scheme == "amqps" else 5672
        return HostPort(parts.hostname or "127.0.0.1", parts.port or default)

    @property
    def nameko_config(self) -> dict[str, object]:
        """The config dict Nameko's runner and `nameko run` take (AMQP_URI is the key Nameko reads)."""
        return {
            "AMQP_URI": self.amqp_uri,
            "serializer": "json",
            "KAFKA_BROKERS": self.kafka_bootstrap,
            "CASSANDRA_HOSTS": ",".join(map(str, self.cassandra_hosts)),
            "CASSANDRA_KEYSPACE": self.cassandra_keyspace,
            "OLLAMA_BASE_URL": self.ollama_base_url,
            "OLLAMA_MODEL": self.ollama_model,
            "GIBSEY_TOPIC_PREFIX": self.topic_prefix,
            "GIBSEY_RPC_PREFIX": self.rpc_prefix,
            "GIBSEY_CHAT_COST": self.chat_cost,
            "GIBSEY_VAULT_REWARD": self.vault_reward,
            "GIBSEY_NEW_USER_GRANT": self.new_user_grant,
        }
