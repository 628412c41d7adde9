"""Reads localstack/versions.env, the single file that pins what we run."""
from __future__ import annotations

from pathlib import Path

from .errors import StackError

VERSIONS_FILE = Path(__file__).resolve().parent.parent / "versions.env"
REQUIRED = (
    "KAFKA_VERSION", "LOG4J_VERSION", "SLF4J_VERSION", "CASSANDRA_VERSION", "RABBITMQ_PACKAGE",
    "DEBEZIUM_CASSANDRA_VERSION", "CASSANDRA_JAVA_DRIVER_VERSION",
)


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and '#' comments ignored; optional quotes stripped."""
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise StackError(f"versions.env line {number} is not KEY=VALUE: {raw!r}")
        value = value.split(" #", 1)[0].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def load_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """The pinned versions; a missing key is a configuration error, not a default."""
    try:
        versions = parse_env_file(path.read_text())
    except OSError as exc:
        raise StackError(f"cannot read {path}: {exc.strerror}") from exc
    missing = [key for key in REQUIRED if not versions.get(key)]
    if missing:
        raise StackError(f"{path} lacks {', '.join(missing)}")
    return versions
