"""summarizer: every night at GIBSEY_SUMMARY_AT (GIBSEY_SUMMARY_TZ) clusters the book and writes its notes.

Owns:   nothing on the bus; a managed thread runs the `schedule` loop (shared/summaries/clock.py).
Writes: cluster_summaries rows, then the summary_runs pointer (readers see only complete runs).
Emits:  a StepAudited record on gibsey.audit per run ("ok" or "failed").
Backup: deploy/cron/gibsey-summaries runs `gibsey summaries run` if this process is down at night.
"""

from __future__ import annotations

import logging
import os

import eventlet
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from shared.config import Settings
from shared.rpc import rpc_service
from shared.storage.cassandra import close_session, open_session
from shared.summaries.audit import KafkaAuditor
from shared.summaries.clock import Clock, NightlySchedule, system_clock
from shared.summaries.llm import writer_for
from shared.summaries.run import RunReport, run_recorded
from shared.summaries.settings import SummarySettings
from shared.summaries.store import SummaryStore

log = logging.getLogger("gibsey.summarizer")
MAX_NAP_S = 30.0  # wake at least this often, so a stop or a clock change is noticed


class NightlyRunner(DependencyProvider):
    clock: Clock = staticmethod(system_clock)  # tests replace it
    max_nap_s: float = MAX_NAP_S

    def setup(self) -> None:
        self.settings = Settings.from_nameko_config(self.container.config)
        self.summary = SummarySettings.from_env(os.environ)
        self._stopping = False

    def start(self) -> None:
        self.session = open_session(self.settings)
        self.store = SummaryStore(self.session, self.settings.cassandra_keyspace)
        self.auditor = KafkaAuditor(self.settings)
        self.nightly = NightlySchedule(self.summary.at, self.run_safely, zone=self.summary.zone, clock=self.clock)
        log.info("summaries scheduled", extra={"at": self.summary.at, "tz": self.summary.tz or "local",
                                               "next_run": str(self.nightly.next_run)})
        self._loop = self.container.spawn_managed_thread(self._schedule_loop, identifier="summarizer.schedule")

    def stop(self) -> None:
        self._stopping = True
        self._loop.kill()
        self.auditor.close()
        close_session(self.session)

    def run(self) -> RunReport:
        return run_recorded(self.store, self.summary, writer=writer_for(self.settings, self.summary),
                            on_outcome=self.auditor, now=self.clock)

    def run_safely(self) -> None:
        try:
            self.run()
        except Exception:  # noqa: BLE001 - logged, stored and audited by run_recorded; tomorrow runs again
            pass

    def _schedule_loop(self) -> None:
        while not self._stopping:
            self.nightly.run_pending()
            eventlet.sleep(min(self.max_nap_s, max(0.05, self.nightly.idle_seconds())))

    def get_dependency(self, worker_ctx) -> "NightlyRunner":
        return self


class SummarizerService:
    name = rpc_service("summarizer")
    runner = NightlyRunner()

    @rpc
    def run_now(self) -> dict:
        """Run now (what `gibsey summaries run` does, through this process)."""
        report = self.runner.run()
        return {"run_id": report.run_id, "clusters": len(report.summaries), "generator": report.generator,
                "written": report.written, "visible": report.visible, "duration_ms": report.duration_ms}
