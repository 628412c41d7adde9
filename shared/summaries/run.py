"""One summary run: read the quote vectors, cluster, write a note per cluster, publish atomically.

The run_id is the day plus a digest of what was clustered (pages, quotes, k, seed, writer), so running
twice on an unchanged book the same day is the same run: the visible rows are not touched again. Runs that
overlap (the schedule and the cron backup) are safe: the store lets one writer write a run_id, and the
pointer only moves to a complete run that started after the visible one (store.py).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Callable, Protocol, Sequence

from shared.summaries.clusters import build_clusters, neighbour_quotes, pages_from_quotes
from shared.summaries.errors import SummaryError
from shared.summaries.model import Cluster, ClusterSummary, PageUnit, QuoteUnit
from shared.summaries.note import GENERATOR as EXTRACTIVE
from shared.summaries.note import MAX_WORDS, MIN_WORDS, extractive_note, pad_note, word_count
from shared.summaries.settings import SummarySettings
from shared.summaries.store import SummaryStore

log = logging.getLogger("gibsey.summaries")
EXTEND_FROM_WORDS = 100  # a writer's note shorter than this is mostly padding: the extractive note instead


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
    written: bool  # False for a dry run, a run_id already visible, or one another process wrote
    visible: bool = False  # the pointer names this run (False: a dry run, or a newer run won)


def run_id_for(pages: Sequence[PageUnit], settings: SummarySettings, writer: str, day: date) -> str:
    digest = hashlib.sha256(f"{settings.k}|{settings.seed}|{writer}".encode())
    for p in pages:
        for q in p.quotes:
            digest.update(f"\n{q.page_id}|{q.loc}|{q.text}".encode())
    return f"{day:%Y%m%d}-{digest.hexdigest()[:10]}"


def note_for(cluster: Cluster, neighbours: Sequence[tuple[QuoteUnit, int]], writer: NoteWriter | None
             ) -> tuple[str, str]:
    """(note, generator), the note always 200-300 words: the writer's when it fits; a writer's note a little
    short extended with the book's own words (generator "<writer>+extractive"); else the extractive note.
    A book too small for even a padded 200-word note is a SummaryError: nothing out of range is stored."""
    if writer is not None:
        note = writer.write(cluster)
        words = word_count(note) if note else 0
        if MIN_WORDS <= words <= MAX_WORDS:
            return note, writer.name
        if note and EXTEND_FROM_WORDS <= words < MIN_WORDS:
            extended = pad_note(note, cluster, neighbours)
            if MIN_WORDS <= word_count(extended) <= MAX_WORDS:
                return extended, f"{writer.name}+{EXTRACTIVE}"
        if note:
            log.warning("note out of range: extractive note instead",
                        extra={"cluster_id": cluster.cluster_id, "words": words, "writer": writer.name})
    note = extractive_note(cluster, neighbours)
    words = word_count(note)
    if not MIN_WORDS <= words <= MAX_WORDS:
        raise SummaryError(f"cluster {cluster.cluster_id} ({', '.join(p.label for p in cluster.members[:5])}): "
                           f"its note comes to {words} words even padded from nearby pages, not "
                           f"{MIN_WORDS}-{MAX_WORDS}; the book holds too little text to summarise")
    return note, EXTRACTIVE


def _notes(clusters: Sequence[Cluster], writer: NoteWriter | None) -> list[tuple[str, str]]:
    return [note_for(c, neighbour_quotes(c, clusters), writer) for c in clusters]


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
    written = visible = False
    if not dry_run:
        if store.pointer().run_id != run_id:
            written = store.write_run(run_id, rows)  # under the run's claim: one writer per run_id
        visible = store.publish(run_id, clusters=len(rows), pages=len(pages), generator=generator,
                                duration_ms=round((time.monotonic() - started) * 1000, 1), started_at=at)
        if not visible:  # a run that started later is already visible: this one would only be clutter
            store.discard(run_id)
    duration_ms = round((time.monotonic() - started) * 1000, 1)
    log.info("summary run done" if not dry_run else "summary dry run done",
             extra={"run_id": run_id, "clusters": len(rows), "pages": len(pages), "quotes": len(quotes),
                    "generator": generator, "duration_ms": duration_ms, "written": written, "visible": visible})
    return RunReport(run_id, rows, len(pages), len(quotes), generator, duration_ms, written, visible)


def failed_run_id(run_id: str | None, now: datetime) -> str:
    """The id a failure is recorded under when the run never got (or was never given) one."""
    return run_id or f"{now:%Y%m%d}-failed"


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
        failed_id = failed_run_id(run_id, now())
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
