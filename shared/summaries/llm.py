"""The LLM note: DSPy through Ollama (shared/qdpi/lm.py), checked, with the extractive note as fallback.

A note the model writes is kept only if it cites at least one member page as (p.N); run.note_for then holds
it to 200-300 words (a little short: extended with the cluster's quotes; else, or when Ollama does not
answer, that cluster gets the extractive note; generator says which).
"""

from __future__ import annotations

import logging

import dspy

from shared.config import Settings
from shared.qdpi.lm import LMUnavailable, OllamaLM, lm_reachable, ollama_lm
from shared.summaries.model import Cluster
from shared.summaries.note import word_count
from shared.summaries.settings import SummarySettings

log = logging.getLogger("gibsey.summaries")
PASSAGES = 12


class ClusterNote(dspy.Signature):
    """You write a reader's note on one cluster of related passages from a novel. In 200 to 300 words, say
    what the passages share (themes, images, voices) and cite the pages you draw on exactly as given, e.g.
    (p.12). Use only what the passages say."""

    keywords: str = dspy.InputField(desc="words distinctive of this cluster")
    passages: str = dspy.InputField(desc="the most central passages, each followed by its page citation")
    note: str = dspy.OutputField(desc="200-300 words of prose citing pages as (p.N)")


class DspyNoteWriter:
    def __init__(self, lm: OllamaLM):
        self.lm, self.name = lm, f"dspy:ollama:{lm.model}"
        self._down = False

    def write(self, cluster: Cluster) -> str | None:
        if self._down:
            return None
        labels = {p.page_id: p.label for p in cluster.members}
        passages = "\n".join(f"{i + 1}. “{q.text}” ({labels[q.page_id]})"
                             for i, q in enumerate(cluster.central_quotes[:PASSAGES]))
        try:
            with dspy.context(lm=self.lm):
                note = str(dspy.Predict(ClusterNote)(keywords=", ".join(cluster.keywords), passages=passages).note)
        except LMUnavailable as exc:
            log.warning("LLM unavailable: extractive notes for the rest of the run", extra={"error": str(exc)})
            self._down = True
            return None
        except Exception as exc:  # noqa: BLE001 - a reply DSPy cannot parse: this cluster falls back
            log.warning("LLM note unusable", extra={"cluster_id": cluster.cluster_id, "error": repr(exc)})
            return None
        note = " ".join(note.split())
        if not any(f"({lbl})" in note for lbl in labels.values()):
            log.warning("LLM note cites no member page", extra={"cluster_id": cluster.cluster_id,
                                                                "words": word_count(note)})
            return None
        return note


def writer_for(settings: Settings, summary: SummarySettings) -> DspyNoteWriter | None:
    """The DSPy writer when the LLM is on and Ollama lists the model; None (extractive) otherwise."""
    if summary.llm == "off":
        return None
    ok, detail = lm_reachable(settings)
    if not ok:
        log.info("no LLM for summaries; extractive notes", extra={"detail": detail})
        return None
    return DspyNoteWriter(ollama_lm(settings))
