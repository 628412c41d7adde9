"""The `gibsey` command: set-up and operator tasks (`schema apply`, `topics create`, `health`).

Every failure prints one clear line to stderr and exits non-zero; nothing here prints a traceback for a
condition an operator can fix (a server down, a bad environment variable, an edited migration).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Sequence

from shared.config import ConfigError, Settings

EXIT_USAGE = 2
EXIT_FAILED = 1


def _schema_apply(settings: Settings, args: argparse.Namespace) -> int:
    from shared.storage.cassandra import close_session, open_session
    from shared.storage.schema import apply_schema, load_migrations

    if args.dry_run:
        for migration in load_migrations():
            print(f"{migration.version:04d}_{migration.name}: {len(migration.statements)} statements")
        return 0
    session = open_session(settings)
    try:
        report = apply_schema(session, settings)
    finally:
        close_session(session)
    for migration in report.applied:
        print(f"applied {migration.version:04d}_{migration.name} ({len(migration.statements)} statements)")
    if not report.changed:
        print(f"schema of keyspace {settings.cassandra_keyspace} is up to date "
              f"(versions {', '.join(map(str, report.already_applied))}); nothing to do")
    return 0


def _topics_create(settings: Settings, args: argparse.Namespace) -> int:
    from shared.bus.admin import ensure_topics

    for outcome in ensure_topics(settings):
        print(f"{outcome.action:8} {outcome.name} ({outcome.partitions} partitions)")
    return 0


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    import time

    from tqdm import tqdm

    from shared.canon import load_corpus
    from shared.canon.ingest import ingest
    from shared.canon.report import summarise
    from shared.storage.cassandra import close_session, open_session

    corpus = load_corpus(args.path)
    sections = len({p.section for p in corpus.pages})
    print(f"corpus {args.path}: {len(corpus.pages)} pages, {sections} sections, {len(corpus.characters)} characters")
    lines = summarise(corpus.normalisations)
    print(f"normalisations: {len(corpus.normalisations)}" + ("" if lines else " (none)"))
    for line in lines:
        print(f"  {line}")
    if args.dry_run:
        print("dry run: corpus is valid; nothing written")
        return 0
    session = open_session(settings)
    started = time.monotonic()
    bar: list[tqdm] = []
    try:
        report = ingest(
            session, settings.cassandra_keyspace, corpus, replace=args.replace,
            on_plan=lambda n: bar.append(tqdm(total=n, unit="page", desc="writing pages", disable=n == 0)),
            on_progress=lambda n: bar[0].update(n),
        )
    finally:
        for b in bar:
            b.close()
        close_session(session)
    elapsed = time.monotonic() - started
    if not report.changed:
        print(f"nothing to write: all {report.pages_total} pages and {len(corpus.characters)} characters "
              f"in keyspace {settings.cassandra_keyspace} already match the corpus")
        return 0
    rate = f" ({report.pages_written / elapsed:.0f} pages/s)" if report.pages_written else ""
    print(f"wrote {report.pages_written} of {report.pages_total} pages{rate}, {report.characters_written} characters"
          + (f", removed {report.stale_removed} stale canon pages" if report.stale_removed else "")
          + f" in {elapsed:.1f} s")
    return 0


def _health(settings: Settings, args: argparse.Namespace) -> int:
    from shared.health import check_now, default_checks

    report = check_now(default_checks(settings))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        for dep in report.dependencies:
            need = "required" if dep.required else "optional"
            state = "up" if dep.up else "DOWN"
            print(f"{dep.name:10} {state:5} {need:9} {dep.address:28} {dep.version or '-':10} "
                  f"{dep.latency_ms:7.1f} ms  {dep.detail}")
    return 0 if report.healthy else EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gibsey", description="Gibsey story engine: set-up and operations.")
    commands = parser.add_subparsers(dest="command", required=True)

    schema = commands.add_parser("schema", help="Cassandra schema").add_subparsers(dest="action", required=True)
    apply = schema.add_parser("apply", help="create the keyspace and apply new migrations (idempotent)")
    apply.add_argument("--dry-run", action="store_true", help="list the migrations without connecting")
    apply.set_defaults(run=_schema_apply)

    topics = commands.add_parser("topics", help="Kafka topics").add_subparsers(dest="action", required=True)
    topics.add_parser("create", help="create the core topics (idempotent)").set_defaults(run=_topics_create)

    ingest = commands.add_parser("ingest", help="load a corpus (Gibsey layout) into Cassandra; idempotent")
    ingest.add_argument("path", help="corpus directory with metadata/, pages/ and characters/")
    ingest.add_argument("--dry-run", action="store_true", help="validate and report without writing")
    ingest.add_argument("--replace", action="store_true",
                        help="remove stored canon pages this corpus does not have (otherwise refused)")
    ingest.set_defaults(run=_ingest)

    health = commands.add_parser("health", help="probe Kafka, Cassandra, RabbitMQ and Ollama")
    health.add_argument("--json", action="store_true")
    health.set_defaults(run=_health)
    return parser


def _operator_errors() -> tuple[type[BaseException], ...]:
    from shared.bus.admin import BusUnavailable
    from shared.canon import CorpusError
    from shared.canon.ingest import IngestConflict
    from shared.storage.cassandra import StorageUnavailable
    from shared.storage.schema import SchemaError

    return (BusUnavailable, CorpusError, IngestConflict, StorageUnavailable, SchemaError)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"gibsey: bad configuration: {exc}", file=sys.stderr)
        return EXIT_USAGE
    run: Callable[[Settings, argparse.Namespace], int] = args.run
    try:
        return run(settings, args)
    except _operator_errors() as exc:
        command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
        print(f"gibsey {command}: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
