"""The Ollama LM boundary, against the Ollama TEST DOUBLE: the real `ollama` client over real HTTP."""

from __future__ import annotations

import asyncio

import dspy
import ollama
import pytest

from shared.config import ConfigError
from shared.qdpi.lm import LMUnavailable, OllamaLM, llm_timeout_s, lm_reachable, ollama_lm
from tests.doubles.ollama import DEFAULT_MODEL, OllamaDouble, dspy_reply

pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs:DeprecationWarning")

MESSAGES = [{"role": "system", "content": "You are London Fox."}, {"role": "user", "content": "Begin."}]


def _lm(double: OllamaDouble, *, stream: bool = False, timeout_s: float = 5.0) -> OllamaLM:
    return OllamaLM(DEFAULT_MODEL, double.url, timeout_s=timeout_s, stream=stream)


def test_forward_returns_an_openai_shaped_response(ollama_double: OllamaDouble) -> None:
    ollama_double.reply = "The counter stays white."
    response = _lm(ollama_double).forward(messages=MESSAGES, temperature=0.2)
    assert response.choices[0].message.content == "The counter stays white."
    assert response.choices[0].finish_reason == "stop"
    assert response.model == DEFAULT_MODEL
    assert response.usage == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    (sent,) = ollama_double.bodies("/api/chat")
    assert sent["model"] == DEFAULT_MODEL and sent["stream"] is False
    assert sent["messages"] == MESSAGES
    assert sent["options"] == {"temperature": 0.2, "num_predict": 1024}


def test_streaming_ndjson_is_assembled(ollama_double: OllamaDouble) -> None:
    text = "She checks the logs. She checks the seed. She checks whether she typed her own name."
    ollama_double.reply, ollama_double.chunk_chars = text, 5
    response = _lm(ollama_double, stream=True).forward(messages=MESSAGES)
    assert response.choices[0].message.content == text
    assert ollama_double.bodies("/api/chat")[0]["stream"] is True


def test_double_streams_ndjson_to_the_plain_client(ollama_double: OllamaDouble) -> None:
    ollama_double.reply, ollama_double.chunk_chars = "one two three four", 4
    with ollama.Client(host=ollama_double.url, timeout=5) as client:
        parts = list(client.chat(DEFAULT_MODEL, MESSAGES, stream=True))
        assert "".join(p.message.content for p in parts) == "one two three four"
        assert len(parts) == 6 and parts[-1].done and not parts[0].done
        assert client.generate(DEFAULT_MODEL, "Begin.").response == "one two three four"


def test_dspy_predict_over_the_lm(ollama_double: OllamaDouble) -> None:
    class Echo(dspy.Signature):
        """Answer."""

        question: str = dspy.InputField()
        answer: str = dspy.OutputField()

    ollama_double.reply = dspy_reply({"answer": "a red ring"})
    with dspy.context(lm=_lm(ollama_double)):
        assert dspy.Predict(Echo)(question="what is on the counter?").answer == "a red ring"
    (sent,) = ollama_double.bodies("/api/chat")
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert "what is on the counter?" in sent["messages"][1]["content"]


def test_dspy_cache_is_off_so_every_call_reaches_the_server(ollama_double: OllamaDouble) -> None:
    lm = _lm(ollama_double)
    assert lm.cache is False and lm.num_retries == 0
    assert lm("Begin.") == lm("Begin.") == [ollama_double.reply]
    assert ollama_double.count("/api/chat") == 2


def test_aforward(ollama_double: OllamaDouble) -> None:
    response = asyncio.run(_lm(ollama_double).aforward(messages=MESSAGES))
    assert response.choices[0].message.content == ollama_double.reply


@pytest.mark.parametrize("stream", [False, True])
def test_model_not_found(ollama_double: OllamaDouble, stream: bool) -> None:
    ollama_double.models = ["mistral:7b"]
    with pytest.raises(LMUnavailable) as caught:
        _lm(ollama_double, stream=stream).forward(messages=MESSAGES)
    assert caught.value.reason == "model-not-found"
    assert DEFAULT_MODEL in str(caught.value)


@pytest.mark.parametrize("stream", [False, True])
def test_timeout(ollama_double: OllamaDouble, stream: bool) -> None:
    ollama_double.delay_s = 2.0
    with pytest.raises(LMUnavailable) as caught:
        _lm(ollama_double, stream=stream, timeout_s=0.2).forward(messages=MESSAGES)
    assert caught.value.reason == "timeout"


@pytest.mark.parametrize("status,reason", [(500, "server-error"), (503, "server-error"), (400, "rejected")])
def test_http_errors(ollama_double: OllamaDouble, status: int, reason: str) -> None:
    ollama_double.fail_status = status
    with pytest.raises(LMUnavailable) as caught:
        _lm(ollama_double).forward(messages=MESSAGES)
    assert caught.value.reason == reason and str(status) in caught.value.detail


@pytest.mark.parametrize("stream", [False, True])
def test_stopped_server(stream: bool) -> None:
    with OllamaDouble() as double:
        lm = _lm(double, stream=stream)
    with pytest.raises(LMUnavailable) as caught:
        lm.forward(messages=MESSAGES)
    assert caught.value.reason == "unreachable"


def test_lm_unavailable_passes_through_dspy_unwrapped(ollama_double: OllamaDouble) -> None:
    ollama_double.fail_status = 500
    with dspy.context(lm=_lm(ollama_double)), pytest.raises(LMUnavailable):
        dspy.Predict("question -> answer")(question="anyone there?")


def test_lm_reachable(ollama_double: OllamaDouble) -> None:
    ok, why = lm_reachable(ollama_double.settings(), timeout=2)
    assert ok and why.startswith("ok:")
    assert ollama_double.count("/api/tags") == 1
    ollama_double.models = ["llama3:latest"]
    assert lm_reachable(ollama_double.settings("llama3"), timeout=2)[0]  # no tag means :latest
    ok, why = lm_reachable(ollama_double.settings(), timeout=2)
    assert not ok and why.startswith("model-not-found:") and "llama3:latest" in why


def test_lm_reachable_when_stopped() -> None:
    with OllamaDouble() as double:
        settings = double.settings()
    ok, why = lm_reachable(settings, timeout=1)
    assert not ok and why.startswith("unreachable:")


def test_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, ollama_double: OllamaDouble) -> None:
    assert llm_timeout_s({}) == 60.0
    assert llm_timeout_s({"GIBSEY_LLM_TIMEOUT_S": " 2.5 "}) == 2.5
    for bad in ("soon", "0", "-1"):
        with pytest.raises(ConfigError, match="GIBSEY_LLM_TIMEOUT_S"):
            llm_timeout_s({"GIBSEY_LLM_TIMEOUT_S": bad})
    monkeypatch.setenv("GIBSEY_LLM_TIMEOUT_S", "7")
    lm = ollama_lm(ollama_double.settings())
    assert lm.timeout_s == 7.0 and lm.model == DEFAULT_MODEL and lm.base_url == ollama_double.url
