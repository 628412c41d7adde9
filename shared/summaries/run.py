"""One summary run: read the quote vectors, cluster, write a note per cluster, publish atomically.

The run_id is the day plus a digest of what was clustered (pages, quotes, k, seed, writer), so running
twice on an unchanged book the same day is the same run: the visible rows are not touched again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Callable, Protocol, Sequence

from shared.summaries.clusters import build_clusters, pages_from_quotes
from shared.summaries.model import Cluster, ClusterSummary, PageUnit
from shared.summaries.note import GENERATOR as EXTRACTIVE
from shared.summaries.note import extractive_note
from shared.summaries.settings import SummarySettings
from shared.summaries.store import SummaryStore

log = logging.getLogger("gibsey.summaries")


class SummaryError(RuntimeError):
    """A run could not produce summaries (e.g. no quote vectors yet); the message says what to do."""


class NoteWriter(Protocol):
    name: str

    def write(self, cluster: Cluster) -> str | None:
        """The note, or None to fall back to the extractive one."""


@dataclass(frozen=True)
class RunReport:
    run_id: str
    summaries: tuple[ClusterSummary, ...]
    pages: int
    quotes: int
    generator: str
    duration_ms: float
    written: bool  # False for a dry run, or a run_id that was already the visible run


def run_id_for(pages: Sequence[PageUnit], settings: SummarySettings, writer: str, day: date) -> str:
    digest = hashlib.sha256(f"{settings.k}|{settings.seed}|{writer}".encode())
    for p in pages:
        for q in p.quotes:
            digest.update(f"\n{q.page_id}|{q.loc}|{q.text}".encode())
    return f"{day:%Y%m%d}-{digest.hexdigest()[:10]}"


def _notes(clusters: Sequence[Cluster], writer: NoteWriter | None) -> list[tuple[str, str]]:
    out = []
    for cluster in clusters:
        note = writer.write(cluster) if writer is not None else None
        out.append((note, writer.name) if note else (extractive_note(cluster), EXTRACTIVE))
    return out


def summarise(store: SummaryStore, settings: SummarySettings, *, writer: NoteWriter | None = None,
              run_id: str | None = None, dry_run: bool = False,
              now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> RunReport:
    started = time.monotonic()
    quotes = store.quotes()
    pages = pages_from_quotes(quotes)
    if not pages:
        raise SummaryError("no quote vectors to cluster; embed the book first (gibsey reindex --all)")
    at = now()
    run_id = run_id or run_id_for(pages, settings, writer.name if writer else EXTRACTIVE, at.date())
    clusters = build_clusters(pages, settings.k, settings.seed)
    notes = _notes(clusters, writer)
    rows = tuple(ClusterSummary(c.cluster_id, run_id, c.center.page_id, tuple(p.page_id for p in c.members),
                                tuple(p.label for p in c.members), c.keywords, note, generator, at)
                 for c, (note, generator) in zip(clusters, notes))
    generators = sorted({r.generator for r in rows})
    generator = generators[0] if len(generators) == 1 else "mixed:" + "+".join(generators)
    written = False
    if not dry_run:
        if store.pointer().run_id != run_id:
            store.write_rows(rows)
            written = True
        store.publish(run_id, clusters=len(rows), pages=len(pages), generator=generator,
                      duration_ms=round((time.monotonic() - started) * 1000, 1))
    duration_ms = round((time.monotonic() - started) * 1000, 1)
    log.info("summary run done" if not dry_run else "summary dry run done",
             extra={"run_id": run_id, "clusters": len(rows), "pages": len(pages), "quotes": len(quotes),
                    "generator": generator, "duration_ms": duration_ms, "written": written})
    return RunReport(run_id, rows, len(pages), len(quotes), generator, duration_ms, written)


def run_recorded(store: SummaryStore, settings: SummarySettings, *, writer: NoteWriter | None = None,
                 run_id: str | None = None, dry_run: bool = False,
                 on_outcome: Callable[[str, str, float, str], None] | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> RunReport:
    """`summarise`, with failure made loud: an error log, the failure in summary_runs (the pointer stays on
    the last complete run), and `on_outcome(run_id, "ok"|"failed", started, detail)` (the audit record)."""
    started = time.monotonic()
    try:
        report = summarise(store, settings, writer=writer, run_id=run_id, dry_run=dry_run, now=now)
    except Exception as exc:
        failed_id = run_id or f"{now():%Y%m%d}-failed"
        log.error("summary run failed", exc_info=True, extra={"run_id": failed_id, "error": repr(exc)})
        if not dry_run:
            try:
                store.record_failure(failed_id, repr(exc))
            except Exception as record_exc:  # noqa: BLE001 - Cassandra itself may be why the run failed
                log.error("recording the failed run failed", extra={"error": repr(record_exc)})
        if on_outcome is not None:
            on_outcome(failed_id, "failed", started, repr(exc))
        raise
    if on_outcome is not None and not dry_run:
        on_outcome(report.run_id, "ok", started, f"{len(report.summaries)} clusters, {report.generator}")
    return report
