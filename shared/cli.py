"""The `gibsey` command: set-up and operator tasks (`schema apply`, `topics create`, `summaries run`, `health`).

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
          + (f", {report.notes_written} section notes" if report.notes_written else "")
          + (f", removed {report.stale_removed} stale canon pages" if report.stale_removed else "")
          + f" in {elapsed:.1f} s")
    return 0


def _repair(settings: Settings, args: argparse.Namespace) -> int:
    from shared.storage.cassandra import close_session, open_session
    from shared.storage.repair import repair

    session = open_session(settings)
    try:
        report = repair(session, settings.cassandra_keyspace, dry_run=args.dry_run, grace_s=args.grace_s)
    finally:
        close_session(session)
    verb = "would fix" if args.dry_run else "fixed"
    for source, edge_type, target in report.dangling_edges:
        print(f"{verb}: dangling {edge_type} edge {source} -> {target} (a generated page that was never written)")
    for page_id in report.counters_applied:
        print(f"{verb}: section counters for generated page {page_id} were never applied")
    for fork_id in report.branches_closed:
        print(f"{verb}: the branch opened by {fork_id} came home but was never closed")
    for section, holder in report.slots_freed:
        print(f"{verb}: fork slot of section {section} held by {holder}, which is not an open fork")
    if report.too_recent:
        print(f"left {report.too_recent} edges younger than {args.grace_s:g} s alone (their page may be being written)")
    if report.clean:
        print(f"nothing to repair in keyspace {settings.cassandra_keyspace}")
    return 0


def _run_symbol(settings: Settings, args: argparse.Namespace) -> int:
    import uuid

    from kombu.exceptions import OperationalError
    from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
    from nameko.standalone.rpc import ClusterRpcProxy

    from shared.symbols import check_code, symbol

    sym = symbol(check_code(args.code))
    session_id = args.session or f"cli-{uuid.uuid4()}"
    try:
        with ClusterRpcProxy(settings.nameko_config, timeout=args.timeout) as cluster:
            done = cluster[settings.rpc_prefix + "page_generator"].run(symbol_code=sym.code, session_id=session_id, page_id=args.page,
                                              user_intent=args.intent)
    except RemoteError as exc:
        print(f"gibsey run-symbol: the pipeline refused it: {exc.exc_type}: {exc.value}", file=sys.stderr)
        return EXIT_FAILED
    except (OperationalError, OSError) as exc:
        print(f"gibsey run-symbol: RabbitMQ is not reachable at {settings.amqp_host_port}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (RpcTimeout, UnknownService) as exc:
        print(f"gibsey run-symbol: no page_generator answered ({type(exc).__name__}); is it running?",
              file=sys.stderr)
        return EXIT_FAILED
    page = done["payload"]
    print(f"{page['title']}  [{page['page_id']}]")
    print(f"{sym.character.display_name} · {sym.notation} ({sym.behaviour.label}) · {page['trajectory']} · "
          f"by {page['validation'].get('generator')}")
    print(f"edges: {json.dumps(page['edges'])}\n")
    print(page["text"])
    return 0


def _reindex(settings: Settings, args: argparse.Namespace) -> int:
    """Embed what is in `pages` through the embedder's code path, remove vectors of pages that are gone
    (`--page` of a deleted page; with `--all`, every such page and quotes stranded in a wrong section), and
    rebuild the shards of every section touched, with GIBSEY_ANNOY_TREES trees as the indexer would."""
    from tqdm import tqdm

    from shared.rag.embedding import Embedder
    from shared.rag.indexing import embed_pages, pages_to_index, rebuild_sections, remove_page, stray_quotes
    from shared.rag.shards import annoy_trees, index_dir
    from shared.storage.cassandra import close_session, open_session
    from shared.storage.vectors import VectorStore

    try:
        trees = annoy_trees()
    except ConfigError as exc:
        print(f"gibsey reindex: bad configuration: {exc}", file=sys.stderr)
        return EXIT_USAGE
    keyspace = settings.cassandra_keyspace
    session = open_session(settings)
    try:
        store = VectorStore(session, keyspace)
        pages = pages_to_index(session, keyspace, page_id=args.page, section=args.section)
        removed: dict[str, tuple[int, ...]] = {}
        if args.page is not None and not pages:
            if store.stored(args.page) is None and not store.sections_holding(args.page):
                print(f"gibsey reindex: no page {args.page} with text in keyspace {keyspace}, and no vectors "
                      "of it to remove", file=sys.stderr)
                return EXIT_FAILED
            removed[args.page] = remove_page(store, args.page, look_everywhere=True)
        elif args.all:
            stray = stray_quotes(store, pages)
            present = {p.page_id for p in pages}
            for page_id, sections in stray.items():
                for section in sections:
                    store.delete_quotes(page_id, section)
                if page_id not in present:
                    store.forget_page(page_id)
                removed[page_id] = sections
        elif not pages:
            print(f"gibsey reindex: no pages with text in section {args.section} of keyspace {keyspace}",
                  file=sys.stderr)
            return EXIT_FAILED
        sections = {p.section for p in pages} | {s for touched in removed.values() for s in touched}
        embedded = []
        if pages:
            embedder = Embedder()
            with tqdm(total=len(pages), unit="page", desc="embedding") as bar:
                for start in range(0, len(pages), 32):
                    batch = pages[start:start + 32]
                    embedded += embed_pages(store, embedder, batch, force=args.force)
                    bar.update(len(batch))
        sections |= {s for e in embedded for s in e.left}
        versions = rebuild_sections(store, sections, index_dir(), trees)
    finally:
        close_session(session)
    gone = sorted(set(removed) - {p.page_id for p in pages})
    print(f"embedded {len(embedded)} of {len(pages)} pages ({len(pages) - len(embedded)} unchanged); "
          f"removed the vectors of {len(gone)} page(s) no longer in pages"
          + (f" ({', '.join(gone[:5])}{', ...' if len(gone) > 5 else ''})" if gone else "")
          + f" and stray quotes of {len(removed) - len(gone)} page(s); shards rebuilt ({trees} trees): "
          + (", ".join(f"section {s} v{v}" for s, v in versions.items()) or "none"))
    return 0


def _section_number(text: str) -> int:
    from shared.symbols import SECTION_COUNT

    try:
        section = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a section number (1..{SECTION_COUNT})") from None
    if not 1 <= section <= SECTION_COUNT:
        raise argparse.ArgumentTypeError(f"section {section} does not exist: sections are 1..{SECTION_COUNT}")
    return section


def _summaries_run(settings: Settings, args: argparse.Namespace) -> int:
    import os
    import time
    from datetime import datetime, timezone

    from shared.storage.cassandra import StorageUnavailable, close_session, open_session
    from shared.summaries.audit import kafka_auditor
    from shared.summaries.llm import writer_for
    from shared.summaries.run import failed_run_id, run_recorded
    from shared.summaries.settings import SummarySettings
    from shared.summaries.store import SummaryStore

    summary_settings = SummarySettings.from_env(os.environ)
    if args.k:
        summary_settings = SummarySettings(summary_settings.at, summary_settings.tz, args.k, summary_settings.seed,
                                           summary_settings.llm)
    auditor = None if args.dry_run else kafka_auditor(settings)
    try:
        session = open_session(settings)
    except StorageUnavailable as exc:  # loud like any failed run: the audit record, then the CLI's message
        if auditor is not None:
            auditor(failed_run_id(args.run_id, datetime.now(timezone.utc)), "failed", time.monotonic(), repr(exc))
            auditor.close()
        raise
    try:
        report = run_recorded(SummaryStore(session, settings.cassandra_keyspace), summary_settings,
                              writer=writer_for(settings, summary_settings), run_id=args.run_id,
                              dry_run=args.dry_run, on_outcome=auditor)
    finally:
        close_session(session)
        if auditor is not None:
            auditor.close()
    for s in report.summaries:
        print(f"cluster {s.cluster_id:2d}  {len(s.member_pages):3d} pages  centre {s.page_labels[0]:8}  "
              f"{s.words} words  {s.generator}  [{', '.join(s.keywords[:5])}]")
        if args.dry_run or args.verbose:
            print(f"    {s.summary}\n")
    verb = "would write" if args.dry_run else (
        "superseded (a newer run is visible), not published:" if not report.visible
        else "wrote" if report.written else "already complete:")
    print(f"{verb} run {report.run_id}: {len(report.summaries)} clusters of {report.pages} pages "
          f"({report.quotes} quotes), {report.generator}, in {report.duration_ms / 1000:.1f} s")
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


def _symbol_code(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (e.g. 32 or 0x20)") from None


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

    repair = commands.add_parser("repair", help="fix half-written generated pages (dangling edges, counters)")
    repair.add_argument("--dry-run", action="store_true", help="report without changing anything")
    repair.add_argument("--grace-s", type=float, default=60.0,
                        help="only edges older than this are taken as half-written (default 60)")
    repair.set_defaults(run=_repair)

    run_symbol = commands.add_parser("run-symbol", help="run one symbol through the pipeline now (RPC) and print it")
    run_symbol.add_argument("code", type=_symbol_code, help="symbol code 0..255 (decimal or 0x..)")
    run_symbol.add_argument("--page", help="the page the reader stands on (default: the character's)")
    run_symbol.add_argument("--session", help="session id (default: a new one)")
    run_symbol.add_argument("--intent", default="", help="what the reader wants")
    run_symbol.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the page")
    run_symbol.set_defaults(run=_run_symbol)

    reindex = commands.add_parser("reindex", help="embed pages from Cassandra and rebuild their shards (no CDC)")
    which = reindex.add_mutually_exclusive_group(required=True)
    which.add_argument("--page", help="one page id (a page no longer in pages: remove its vectors)")
    which.add_argument("--section", type=_section_number, help="one section, 1..16")
    which.add_argument("--all", action="store_true",
                       help="every page; also remove vectors of pages that no longer exist")
    reindex.add_argument("--force", action="store_true",
                         help="re-embed even pages whose text, section, number and character did not change")
    reindex.set_defaults(run=_reindex)

    summaries = commands.add_parser("summaries", help="nightly cluster summaries").add_subparsers(
        dest="action", required=True)
    summaries_run = summaries.add_parser("run", help="cluster the book and write a note per cluster now")
    summaries_run.add_argument("--dry-run", action="store_true", help="print the clusters without writing")
    summaries_run.add_argument("--verbose", "-v", action="store_true", help="print the notes too (a dry run does)")
    summaries_run.add_argument("--run-id", help="run id (default: the day and a digest of the book)")
    summaries_run.add_argument("--k", type=int, help="clusters (default GIBSEY_SUMMARY_K, 48)")
    summaries_run.set_defaults(run=_summaries_run)

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
    from shared.summaries.run import SummaryError
    from shared.symbols import SymbolError

    return (BusUnavailable, CorpusError, IngestConflict, StorageUnavailable, SchemaError, SummaryError, SymbolError,
            OSError)


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
