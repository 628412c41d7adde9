"""The summaries' LLM path: DSPy through the real `ollama` client against the Ollama-protocol TEST DOUBLE."""

import re

import pytest

from shared.qdpi.lm import ollama_lm
from shared.summaries.llm import DspyNoteWriter, writer_for
from shared.summaries.run import summarise
from shared.summaries.settings import SummarySettings
from tests.doubles.ollama import DEFAULT_MODEL, OllamaDouble, dspy_reply
from tests.unit.summaries_support import MemoryStore, synthetic_quotes

pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs:DeprecationWarning")


def _note_citing_the_first_passage(body: dict) -> str:
    """What a good model would write: ~220 words that cite a page it was given."""
    label = re.search(r"\((p\.\d+|p[\w-]+)\)", body["messages"][-1]["content"]).group(1)
    return " ".join(["The passages circle one image and return to it."] * 22) + f" As the book puts it ({label})."


def test_llm_notes_are_kept_when_they_fit_and_the_generator_says_so(ollama_double: OllamaDouble):
    ollama_double.reply = dspy_reply({"note": _note_citing_the_first_passage})
    writer = writer_for(ollama_double.settings(), SummarySettings(k=3))
    assert isinstance(writer, DspyNoteWriter)
    report = summarise(MemoryStore(synthetic_quotes()), SummarySettings(k=3), writer=writer)
    assert {r.generator for r in report.summaries} == {f"dspy:ollama:{DEFAULT_MODEL}"}
    assert all("The passages circle one image" in r.summary for r in report.summaries)
    assert ollama_double.count("/api/chat") == 3


def test_a_note_out_of_bounds_falls_back_to_the_extractive_one(ollama_double: OllamaDouble):
    ollama_double.reply = dspy_reply({"note": "Too short, and cites nothing."})
    report = summarise(MemoryStore(synthetic_quotes()), SummarySettings(k=3),
                       writer=DspyNoteWriter(ollama_lm(ollama_double.settings())))
    assert {r.generator for r in report.summaries} == {"extractive"}


def test_no_llm_means_extractive_without_asking(ollama_double: OllamaDouble):
    ollama_double.stop()
    assert writer_for(ollama_double.settings(), SummarySettings(k=3)) is None
    assert writer_for(ollama_double.settings(), SummarySettings(k=3, llm="off")) is None
