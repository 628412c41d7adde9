"""The gibsey.audit record of a summary run (a StepAudited, step "summarizer"), from Nameko or the CLI."""

from __future__ import annotations

import logging
import time

from shared.bus.publisher import Publisher
from shared.config import Settings
from shared.events import Envelope, StepAudited

log = logging.getLogger("gibsey.summaries")
SESSION = "summarizer"  # the audit topic is keyed by session; every run shares this one


def audit_run(publisher: Publisher, run_id: str, outcome: str, started: float, detail: str = "") -> None:
    record = StepAudited(step="summarizer", handled_event_id=run_id, handled_type="SummaryRun", outcome=outcome,
                         duration_ms=round((time.monotonic() - started) * 1000, 1), detail=detail[:1000])
    try:
        publisher.publish(Envelope.wrap(record, session_id=SESSION))
    except Exception as exc:  # noqa: BLE001 - the run's own outcome is already logged and stored
        log.error("audit record not published", extra={"run_id": run_id, "error": repr(exc)})


class KafkaAuditor:
    """`on_outcome` for the CLI: its own short-lived producer (Kafka down: the record is logged as lost)."""

    def __init__(self, settings: Settings):
        self._settings, self._producer = settings, None

    def __call__(self, run_id: str, outcome: str, started: float, detail: str) -> None:
        from kafka import KafkaProducer

        try:
            if self._producer is None:
                self._producer = KafkaProducer(bootstrap_servers=self._settings.kafka_bootstrap, acks="all",
                                               client_id="gibsey-cli-summaries")
        except Exception as exc:  # noqa: BLE001
            log.error("audit record not published", extra={"run_id": run_id, "error": repr(exc)})
            return
        audit_run(Publisher(self._producer, self._settings.topic_prefix), run_id, outcome, started, detail)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)


def kafka_auditor(settings: Settings) -> KafkaAuditor:
    return KafkaAuditor(settings)
