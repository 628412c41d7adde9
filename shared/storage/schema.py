"""Versioned, idempotent schema migrations (`gibsey schema apply`).

Migrations are `schema/migrations/NNNN_name.cql`. Each applied one is recorded in `schema_version` with a
checksum, so a re-run is a no-op, a new file applies alone, and an edited, already-applied file is refused
(change the schema with a new migration instead). Every statement is `IF NOT EXISTS`, so a run cut off half
way is finished by the next one.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from string import Template

from cassandra.cluster import Session

from shared.config import Settings

MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.cql$")
DEFAULT_SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema"


class SchemaError(RuntimeError):
    """A migration file or the recorded schema history is not in a state we can apply on top of."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    checksum: str


@dataclass(frozen=True)
class ApplyReport:
    applied: tuple[Migration, ...]
    already_applied: tuple[int, ...]

    @property
    def changed(self) -> bool:
        return bool(self.applied)


def schema_dir() -> Path:
    return Path(os.environ.get("GIBSEY_SCHEMA_DIR", DEFAULT_SCHEMA_DIR))


def split_statements(cql: str) -> tuple[str, ...]:
    """Drop `--` comments and split on `;`; our CQL has no semicolons inside string literals."""
    without_comments = "\n".join(line.split("--", 1)[0] for line in cql.splitlines())
    return tuple(" ".join(part.split()) for part in without_comments.split(";") if part.strip())


def load_migrations(directory: Path | None = None) -> tuple[Migration, ...]:
    directory = (directory or schema_dir()) / "migrations"
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.cql")):
        match = MIGRATION_NAME.match(path.name)
        if not match:
            raise SchemaError(f"{path}: migration files are named NNNN_lower_snake.cql")
        version = int(match.group(1))
        if version in migrations:
            raise SchemaError(f"{path}: version {version} is used twice")
        text = path.read_text(encoding="utf-8")
        statements = split_statements(text)
        if not statements:
            raise SchemaError(f"{path}: no CQL statements")
        checksum = hashlib.sha256("\n".join(statements).encode()).hexdigest()[:16]
        migrations[version] = Migration(version, match.group(2), statements, checksum)
    if not migrations:
        raise SchemaError(f"{directory}: no migrations found")
    return tuple(migrations[v] for v in sorted(migrations))


def keyspace_statements(settings: Settings, directory: Path | None = None) -> tuple[str, ...]:
    template = Template(((directory or schema_dir()) / "keyspace.cql").read_text(encoding="utf-8"))
    return split_statements(
        template.substitute(
            keyspace=settings.cassandra_keyspace, replication_factor=settings.cassandra_replication_factor
        )
    )


def applied_versions(session: Session, keyspace: str) -> dict[int, str]:
    rows = session.execute(f"SELECT version, checksum FROM {keyspace}.schema_version")
    return {row.version: row.checksum for row in rows}


def apply_schema(session: Session, settings: Settings, directory: Path | None = None) -> ApplyReport:
    """Create the keyspace, then apply every migration not yet recorded, in version order."""
    migrations = load_migrations(directory)
    for statement in keyspace_statements(settings, directory):
        session.execute(statement)
    keyspace = settings.cassandra_keyspace
    recorded = applied_versions(session, keyspace)
    for migration in migrations:
        if migration.version in recorded and recorded[migration.version] != migration.checksum:
            raise SchemaError(
                f"migration {migration.version:04d}_{migration.name} changed after it was applied "
                f"(recorded {recorded[migration.version]}, file {migration.checksum}); add a new migration instead"
            )
    unknown = sorted(set(recorded) - {m.version for m in migrations})
    if unknown:
        raise SchemaError(f"keyspace {keyspace} has migrations {unknown} that this code does not know; upgrade first")
    session.set_keyspace(keyspace)
    applied = []
    for migration in migrations:
        if migration.version in recorded:
            continue
        for statement in migration.statements:
            session.execute(statement)
        session.execute(
            "INSERT INTO schema_version (version, name, checksum, applied_at) VALUES (%s, %s, %s, %s) IF NOT EXISTS",
            (migration.version, migration.name, migration.checksum, datetime.now(timezone.utc)),
        )
        applied.append(migration)
    return ApplyReport(tuple(applied), tuple(sorted(recorded)))
