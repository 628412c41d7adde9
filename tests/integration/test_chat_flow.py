"""Character chat end to end on the live stack: gunicorn gateway, the retrieval and ledger functions over
RabbitMQ, Cassandra; the canon when it is beside the repo, else the shipped demo corpus.

Covers issue 6's must-shows: the Arieol question answered with a verified two-sentence quote, (p.N) and
context, and a debit in the ledger; a retried request not charged again; 402 before any work; the Ollama
TEST DOUBLE answering through the real client; a stream broken off mid-reply ending in `error` with a refund.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import time
import uuid
from typing import Iterator

import httpx
import pytest

from shared.chat.grounding import normalise
from shared.qdpi.composer import split_sentences
from tests.doubles.ollama import DEFAULT_MODEL, OllamaDouble
from tests.integration.flow_support import BIN, REPO, Process, free_port

pytestmark = pytest.mark.integration
CANON = REPO.parent / "shared" / "gibsey-canon" / "corpus"
CORPUS = CANON if CANON.is_dir() else REPO / "corpus" / "demo"
GRANT = 12  # two turns at 5, then 402


def _gibsey(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(BIN / "gibsey"), *args], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def chat_env(env, tmp_path_factory, cassandra_session) -> Iterator[dict[str, str]]:
    """A keyspace of its own holding the corpus, with its shards built (the RAG path is tested elsewhere);
    dropped afterwards."""
    keyspace = f"gibsey_test_chat_{uuid.uuid4().hex[:8]}"
    chat = {**env, "CASSANDRA_KEYSPACE": keyspace,
            "GIBSEY_INDEX_DIR": str(tmp_path_factory.mktemp("chat-index")), "GIBSEY_NEW_USER_GRANT": str(GRANT)}
    try:
        _gibsey(chat, "schema", "apply")
        _gibsey(chat, "ingest", str(CORPUS))
        _gibsey(chat, "reindex", "--all")
        _gibsey(chat, "summaries", "run")  # the nightly notes, which a chat turn draws on
        yield chat
    finally:
        cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")


@pytest.fixture(scope="module")
def chat_functions(chat_env) -> Iterator[None]:
    started = [_rpc_function("retrieval", chat_env), _rpc_function("ledger", chat_env)]
    yield
    for proc in started:
        proc.stop()


def _rpc_function(name: str, env: dict[str, str]) -> Process:
    proc = Process([str(BIN / "nameko"), "run", "--config", "functions/nameko.yaml", f"functions.{name}.service"],
                   {**env, "GIBSEY_SERVICE_NAME": name})
    proc.wait_for("Connected to amqp", timeout=120)
    return proc


def _gateway(env: dict[str, str], **extra: str) -> tuple[Process, str]:
    """A gateway, returned once the retrieval and ledger functions answer through it."""
    port = free_port()
    proc = Process([str(BIN / "gunicorn"), "-c", "gateway/gunicorn_conf.py", "gateway.asgi:app"],
                   {**env, "GIBSEY_HTTP_PORT": str(port), **extra})
    proc.wait_for("ASGI server listening")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if (httpx.get(f"{url}/api/v1/retrieve", params={"q": "ready"}, timeout=30).status_code == 200
                    and httpx.get(f"{url}/api/v1/users/probe/credits", timeout=30).status_code == 200):
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(1)
    proc.stop()
    raise TimeoutError("retrieval and ledger did not answer through the gateway within 120 s")


@pytest.fixture(scope="module")
def composer_gateway(chat_env, chat_functions) -> Iterator[str]:
    proc, url = _gateway(chat_env)  # OLLAMA_BASE_URL points where nothing listens: the canon composer answers
    yield url
    proc.stop()


def _chat(gateway: str, **body) -> list[dict]:
    request = {"session_id": f"s-{uuid.uuid4().hex[:8]}", "user_id": f"u-{uuid.uuid4().hex[:8]}",
               "char_id": "arieol-owlist", "message": "Why did you climb the tower?",
               "request_id": uuid.uuid4().hex, **body}
    events, current = [], {}
    with httpx.stream("POST", f"{gateway}/api/v1/chat", json=request, timeout=60) as resp:
        if resp.status_code != 200:
            return [{"status": resp.status_code, "body": json.loads(resp.read())}]
        for line in resp.iter_lines():
            if not line:
                if current.get("event"):
                    events.append({"event": current["event"], "data": json.loads(current.get("data", "null"))})
                current = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(":")
                current[key] = value.lstrip()
    return events


def _assert_grounded(gateway: str, done: dict) -> None:
    answer = done["answer"]
    assert done["citations"], answer
    citation = done["citations"][0]
    page = httpx.get(f"{gateway}/api/v1/page/{citation['page_id']}", timeout=10).json()
    sentences = [normalise(s) for s in split_sentences(page["text"])]
    runs = {" ".join(sentences[i:j]) for i in range(len(sentences)) for j in range(i + 2, min(i + 4, len(sentences)) + 1)}
    assert normalise(citation["quote"]) in runs  # two or three consecutive sentences of the page, verbatim
    assert normalise(citation["quote"]) in normalise(answer)
    assert f"(p.{citation['page_number']})" in answer and citation["page_number"] == page["page_number"]
    assert re.search(rf"section {page['section']}, “.+”, in .+'s pages", answer)  # the line of novel context


def test_the_arieol_question_is_answered_grounded_and_paid_for(composer_gateway):
    user, request_id = f"u-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    events = _chat(composer_gateway, user_id=user, request_id=request_id)
    names = [e["event"] for e in events]
    assert names[0] == "connection" and names[-1] == "done" and "citation" in names and names.count("token") > 3
    done = events[-1]["data"]
    assert done["generator"] == "canon-composer" and done["credits_left"] == GRANT - 5
    _assert_grounded(composer_gateway, done)
    note = httpx.get(f"{composer_gateway}/api/v1/summaries/{done['book_note']['cluster_id']}", timeout=10).json()
    assert done["citations"][0]["page_id"] in note["member_pages"]
    characters = httpx.get(f"{composer_gateway}/api/v1/qdpi/characters", timeout=10).json()
    colour = next(c["colour"] for c in characters["characters"] if c["id"] == "arieol-owlist")
    assert {e["data"]["color"] for e in events if e["event"] == "token"} == {colour}

    again = _chat(composer_gateway, user_id=user, request_id=request_id)  # a retried request
    assert again[-1]["event"] == "done" and again[-1]["data"]["credits_left"] == GRANT - 5
    ledger = httpx.get(f"{composer_gateway}/api/v1/users/{user}/ledger.csv", timeout=10).text
    rows = [r for r in csv.DictReader(io.StringIO(ledger)) if r["request_id"] == request_id]
    assert [int(r["delta"]) for r in rows] == [-5] and "arieol-owlist" in rows[0]["reason"]


def test_short_of_credits_is_402_before_any_work(composer_gateway):
    user = f"u-{uuid.uuid4().hex[:8]}"
    assert _chat(composer_gateway, user_id=user)[-1]["event"] == "done"
    assert _chat(composer_gateway, user_id=user)[-1]["event"] == "done"
    refused = _chat(composer_gateway, user_id=user)
    assert refused == [{"status": 402, "body": refused[0]["body"]}]
    assert (refused[0]["body"]["needed"], refused[0]["body"]["available"]) == (5, GRANT - 10)


def test_ask_is_the_same_turn_as_json(composer_gateway):
    body = {"session_id": "s-ask", "user_id": f"u-{uuid.uuid4().hex[:8]}", "char_id": "shamrock-stillman",
            "message": "Why do you love rainbows?", "request_id": uuid.uuid4().hex}
    resp = httpx.post(f"{composer_gateway}/api/v1/ask", json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    reply = resp.json()
    assert reply["credits"] == GRANT - 5 and reply["generator"] == "canon-composer"
    _assert_grounded(composer_gateway, {"answer": reply["answer"], "citations": reply["citations"]})
    bad = httpx.post(f"{composer_gateway}/api/v1/ask", json={**body, "char_id": "nobody"}, timeout=10)
    assert bad.status_code == 422 and "char_id" in bad.json()["detail"]


def _quoting_reply(request: dict) -> str:
    """The double 'answers' like a good model: a sentence, then the first passage it was given, cited."""
    system = request["messages"][0]["content"]
    marker, quote = re.search(r"^- (\(p\.\d+\)) (.+)$", system, re.M).groups()
    return f"The stairs kept asking. “{quote}” {marker}"


@pytest.fixture(scope="module")
def double_gateway(chat_env, chat_functions) -> Iterator[tuple[str, OllamaDouble]]:
    with OllamaDouble(reply=_quoting_reply) as double:
        proc, url = _gateway(chat_env, OLLAMA_BASE_URL=double.url, OLLAMA_MODEL=DEFAULT_MODEL)
        yield url, double
        proc.stop()


def test_the_llm_answers_through_the_ollama_test_double(double_gateway):
    gateway, double = double_gateway
    double.cut_after_chunks = None
    events = _chat(gateway)
    done = events[-1]["data"]
    assert done["generator"] == f"llm:{DEFAULT_MODEL}" and done["answer"].startswith("The stairs kept asking.")
    _assert_grounded(gateway, done)
    sent = double.bodies("/api/chat")[-1]
    assert sent["stream"] is True and "PASSAGES:" in sent["messages"][0]["content"]


def test_a_reply_broken_off_mid_stream_ends_in_error_and_is_refunded(double_gateway):
    gateway, double = double_gateway
    double.cut_after_chunks = 2
    user = f"u-{uuid.uuid4().hex[:8]}"
    try:
        events = _chat(gateway, user_id=user)
    finally:
        double.cut_after_chunks = None
    assert [e["event"] for e in events] == ["connection", "token", "token", "error"]
    assert events[-1]["data"]["refunded"] is True and events[-1]["data"]["credits_left"] == GRANT
    balance = httpx.get(f"{gateway}/api/v1/users/{user}/credits", timeout=10).json()
    assert balance["balance"] == GRANT


def test_the_nightly_run_over_the_embedded_book_writes_k_notes_of_200_to_300_words(chat_env, cassandra_session):
    """Issue 7's must-show, on the book chat_env embedded (the canon when present): `gibsey summaries run`
    wrote k rows (48, fewer when the book has fewer pages), each 200-300 words citing its own pages."""
    from shared.summaries.store import SummaryStore

    pointer, rows = SummaryStore(cassandra_session, chat_env["CASSANDRA_KEYSPACE"]).latest()
    assert pointer.run_id and len(rows) == pointer.clusters == min(48, pointer.pages)
    if CORPUS == CANON:
        assert pointer.pages > 700 and len(rows) == 48
    for r in rows:
        assert 200 <= r.words <= 300, (r.cluster_id, r.words, r.summary)
        cited = set(re.findall(r"\((p\.[^,()\s]+)\)", r.summary))  # borrowed pages read (p.N, cluster M)
        assert cited and cited <= set(r.page_labels), (r.cluster_id, cited - set(r.page_labels))
    print(f"summaries over {pointer.pages} pages: {len(rows)} clusters, {pointer.generator}, "
          f"{pointer.duration_ms / 1000:.1f} s")
