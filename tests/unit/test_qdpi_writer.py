"""write_page: the QDPI program over the Ollama TEST DOUBLE when it answers, the canon composer otherwise."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Iterator

import pytest

from shared.qdpi.composer import compose_from_canon
from shared.qdpi.program import check_page, trim_to_words
from shared.qdpi.writer import REACHABILITY_TTL_S, llm_status, reset_reachability_cache, write_page
from shared.symbols import Trajectory, encode
from tests.doubles.ollama import DEFAULT_MODEL, OllamaDouble, dspy_reply
from tests.unit.test_qdpi_composer import FOX, LOCUS, request_for

pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs:DeprecationWarning")

VOICE = "You are London Fox: precise, tired, allergic to mysticism."
PAGE_TEXT = (
    "She wipes the counter a third time. The lantern over the sink hums, and the screen offers her the "
    "turnstile again. She writes it down in the notebook with the red spine, because that is what a control "
    "is for, and she does not look away."
)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    reset_reachability_cache()
    yield
    reset_reachability_cache()


def _request(**changes: object):
    return replace(request_for(encode(FOX, 12), Trajectory.CONTINUE, intent="the red ring"), system_prompt=VOICE,
                   **changes)


def _answering(double: OllamaDouble, **values: str) -> None:
    double.reply = dspy_reply({"page_text": PAGE_TEXT, "title": "The Third Wipe", **values})


def test_llm_path_produces_the_models_page(ollama_double: OllamaDouble) -> None:
    _answering(ollama_double)
    page = write_page(_request(), ollama_double.settings())
    assert page.generator == f"llm:{DEFAULT_MODEL}"
    assert page.text == PAGE_TEXT and page.title == "The Third Wipe"
    assert "fallback" not in page.notes and page.notes["trajectory"] == "T0"
    assert page.style_ok and 0.5 < page.continuity_score <= 1.0
    chats = ollama_double.bodies("/api/chat")
    assert len(chats) == 4  # read, index, ask, receive
    assert all(body["model"] == DEFAULT_MODEL for body in chats)
    receive = chats[-1]["messages"]
    assert any(VOICE in m["content"] for m in receive)  # the character's system prompt reaches the LLM
    assert "[[ ## page_text ## ]]" in receive[0]["content"]
    assert LOCUS.text.splitlines()[0] in receive[-1]["content"]  # and so do the sources


def test_falls_back_when_the_model_is_not_pulled(ollama_double: OllamaDouble) -> None:
    ollama_double.models = ["mistral:7b"]
    request = _request()
    page = write_page(request, ollama_double.settings())
    assert page.generator == "canon-composer"
    assert page.notes["fallback"].startswith("model-not-found")
    assert ollama_double.count("/api/chat") == 0
    assert replace(page, notes={}) == replace(compose_from_canon(request), notes={})


def test_falls_back_when_the_server_is_stopped() -> None:
    with OllamaDouble() as double:
        settings = double.settings()
    page = write_page(_request(), settings)
    assert page.generator == "canon-composer" and page.notes["fallback"].startswith("unreachable")


def test_falls_back_on_timeout_and_marks_the_llm_down(ollama_double: OllamaDouble, monkeypatch) -> None:
    monkeypatch.setenv("GIBSEY_LLM_TIMEOUT_S", "0.2")
    _answering(ollama_double)
    ollama_double.delay_s = 2.0
    page = write_page(_request(), ollama_double.settings())
    assert page.generator == "canon-composer" and page.notes["fallback"].startswith("timeout")
    again = write_page(_request(request_event_id="ev-2"), ollama_double.settings())
    assert again.notes["fallback"].startswith("timeout")
    assert ollama_double.count("/api/chat") == 1 and ollama_double.count("/api/tags") == 1


def test_falls_back_on_server_error(ollama_double: OllamaDouble) -> None:
    ollama_double.fail_status = 500
    page = write_page(_request(), ollama_double.settings())
    assert page.generator == "canon-composer" and page.notes["fallback"].startswith("server-error")


def test_falls_back_when_the_reply_cannot_be_parsed(ollama_double: OllamaDouble) -> None:
    ollama_double.reply = "I would rather not answer in fields."
    page = write_page(_request(), ollama_double.settings())
    assert page.generator == "canon-composer" and page.notes["fallback"].startswith("parse-error: AdapterParseError")
    assert ollama_double.count("/api/chat") == 1  # no second try through JSONAdapter


def test_falls_back_when_the_page_is_empty(ollama_double: OllamaDouble) -> None:
    _answering(ollama_double, page_text=" ")
    page = write_page(_request(), ollama_double.settings())
    assert page.generator == "canon-composer" and page.notes["fallback"].startswith("empty-output")


def test_a_down_llm_costs_one_probe(ollama_double: OllamaDouble) -> None:
    ollama_double.models = []
    settings = ollama_double.settings()
    pages = []
    workers = [threading.Thread(target=lambda i=i: pages.append(write_page(_request(request_event_id=f"ev-{i}"),
                                                                           settings))) for i in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(pages) == 8 and all(p.generator == "canon-composer" for p in pages)
    assert ollama_double.count("/api/tags") == 1


def test_the_probe_is_repeated_after_the_ttl(ollama_double: OllamaDouble) -> None:
    settings = ollama_double.settings()
    assert llm_status(settings, now=1000.0)[0]
    ollama_double.models = []
    assert llm_status(settings, now=1000.0 + REACHABILITY_TTL_S - 1)[0]  # still the cached answer
    assert not llm_status(settings, now=1000.0 + REACHABILITY_TTL_S + 1)[0]
    assert ollama_double.count("/api/tags") == 2


def test_check_page_and_trim() -> None:
    request = _request(max_words=60)
    style_ok, continuity = check_page(PAGE_TEXT, request)
    assert style_ok and 0.5 < continuity <= 1.0
    assert check_page(PAGE_TEXT, _request(max_words=40))[0] is False  # over max_words
    assert check_page("", request)[0] is False
    assert check_page("Too short.", request)[0] is False
    assert check_page(PAGE_TEXT + " [[ ## title ## ]]", _request())[0] is False
    assert check_page("Zebras juggle quantum marmalade.", request)[1] == 0.0
    text, cut = trim_to_words(PAGE_TEXT, 25)  # back to the sentence end at word 21
    assert cut and text.endswith("turnstile again.") and len(text.split()) == 21
    text, cut = trim_to_words(PAGE_TEXT, 20)  # the last sentence end (word 7) would lose too much: hard cut
    assert cut and len(text.split()) == 20 and text.endswith("the turnstile")
    assert trim_to_words(PAGE_TEXT, 100) == (PAGE_TEXT, False)


def test_concurrent_workers_keep_their_own_lm() -> None:
    """dspy.context per call, never dspy.configure: two workers on two servers never cross."""
    results: dict[str, list] = {"model-a": [], "model-b": []}
    with OllamaDouble(models=("model-a",)) as a, OllamaDouble(models=("model-b",)) as b:
        for double, title in ((a, "Page A"), (b, "Page B")):
            double.reply = dspy_reply({"page_text": PAGE_TEXT, "title": title})

        def work(double: OllamaDouble, model: str) -> None:
            for i in range(3):
                results[model].append(write_page(_request(request_event_id=f"{model}-{i}"), double.settings(model)))

        workers = [threading.Thread(target=work, args=(d, m)) for d, m in ((a, "model-a"), (b, "model-b"))]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert {body["model"] for body in a.bodies("/api/chat")} == {"model-a"}
        assert {body["model"] for body in b.bodies("/api/chat")} == {"model-b"}
    assert [(p.generator, p.title) for p in results["model-a"]] == [("llm:model-a", "Page A")] * 3
    assert [(p.generator, p.title) for p in results["model-b"]] == [("llm:model-b", "Page B")] * 3
