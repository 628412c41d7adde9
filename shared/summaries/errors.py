"""Why a summary run could not do its job; each message says what happened and what to do."""

from __future__ import annotations


class SummaryError(RuntimeError):
    """A run could not produce or store summaries (e.g. no quote vectors yet)."""


class RunBusy(SummaryError):
    """Another process holds the claim on this run_id (it is writing or dropping the run's rows)."""


class RunIncomplete(SummaryError):
    """The pointer was asked to name a run whose rows are not complete: refused, readers keep the old run."""
