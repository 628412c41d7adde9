"""Chat smoke run (issue 6): the 100 questions of tests/data/chat_questions.json across all 16 characters,
through the real gateway, retrieval and ledger functions, against the canon.

    .venv/bin/python bench/chat_smoke.py [--corpus PATH] [--double-only | --composer-only]

Two runs over the same stack: the canon composer (OLLAMA_BASE_URL points where nothing listens), then the
Ollama TEST DOUBLE (tests/doubles/ollama.py) answering through the real `ollama` client with a reply that
quotes the first passage it was given. Per question: success (a `done` event), a verified `(p.N)` quote
(the cited quote is >= 2 consecutive sentences of that page as the gateway serves it, and is in the
answer), time to the first `token` and to `done`. Each question is asked by a new user (the grant pays).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._stack import Child, cleanup, function, gibsey, new_run, start_gateway  # noqa: E402
from bench.stats import cuts  # noqa: E402
from shared.chat.grounding import normalise  # noqa: E402
from shared.qdpi.composer import split_sentences  # noqa: E402
from tests.doubles.ollama import DEFAULT_MODEL, OllamaDouble  # noqa: E402
from tests.integration.flow_support import free_port  # noqa: E402

QUESTIONS = REPO / "tests" / "data" / "chat_questions.json"


def quoting_reply(request: dict) -> str:
    """What the double says: one sentence of its own, then the first passage it was given, cited."""
    system = request["messages"][0]["content"]
    for line in system.splitlines():
        if line.startswith("- (p."):
            marker, quote = line[2:].split(" ", 1)
            return f"I remember it this way. “{quote}” {marker}"
    return "I have nothing to quote."


def ask(http: httpx.Client, question: dict) -> dict:
    body = {"session_id": f"smoke-{uuid.uuid4().hex[:8]}", "user_id": f"smoke-{uuid.uuid4().hex[:8]}",
            "request_id": uuid.uuid4().hex, **question}
    started, first, done, error = time.perf_counter(), None, None, None
    event = None
    with http.stream("POST", "/api/v1/chat", json=body) as resp:
        if resp.status_code != 200:
            return {"ok": False, "error": f"HTTP {resp.status_code}"}
        for line in resp.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event:
                if event == "token" and first is None:
                    first = time.perf_counter() - started
                elif event == "done":
                    done = json.loads(line[5:])
                elif event == "error":
                    error = json.loads(line[5:])
    return {"ok": done is not None, "first_s": first, "total_s": time.perf_counter() - started, "done": done,
            "error": error}


def verified(http: httpx.Client, done: dict, pages: dict[str, list[str]]) -> bool:
    for citation in done["citations"]:
        if citation["page_id"] not in pages:
            text = http.get(f"/api/v1/page/{citation['page_id']}").json()["text"]
            pages[citation["page_id"]] = [normalise(s) for s in split_sentences(text)]
        sentences, quote = pages[citation["page_id"]], normalise(citation["quote"])
        runs = {" ".join(sentences[i:j]) for i in range(len(sentences)) for j in range(i + 2, len(sentences) + 1)}
        if quote in runs and quote in normalise(done["answer"]) and f"(p.{citation['page_number']})" in done["answer"]:
            return True
    return False


def wait_until_answering(http: httpx.Client, within_s: float = 120.0) -> None:
    """Until retrieval and the ledger answer through the gateway (their RPC queues exist)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if (http.get("/api/v1/retrieve", params={"q": "warm up"}).status_code == 200
                    and http.get("/api/v1/users/warm-up/credits").status_code == 200):
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError("retrieval and the ledger did not answer through the gateway")


def smoke(base: str, questions: list[dict], label: str) -> dict:
    results, pages = [], {}
    with httpx.Client(base_url=base, timeout=60) as http:
        wait_until_answering(http)
        for question in questions:
            result = ask(http, question)
            result["verified"] = bool(result["ok"] and verified(http, result["done"], pages))
            results.append(result)
    ok = [r for r in results if r["ok"]]
    first, total = cuts([r["first_s"] for r in ok]), cuts([r["total_s"] for r in ok])
    generators = sorted({r["done"]["generator"] for r in ok})
    row = {"run": label, "questions": len(results), "success": len(ok) / len(results),
           "unverified": sum(1 for r in ok if not r["verified"]), "first_p50": first[49], "first_p95": first[94],
           "total_p50": total[49], "total_p95": total[94], "generators": generators,
           "errors": [r["error"] for r in results if not r["ok"]][:3]}
    print(f"| {label} | {row['questions']} | {row['success']:.0%} | {row['unverified']} | "
          f"{row['first_p50'] * 1000:.0f} / {row['first_p95'] * 1000:.0f} | "
          f"{row['total_p50'] * 1000:.0f} / {row['total_p95'] * 1000:.0f} | {', '.join(generators)} |", flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "gibsey-canon" / "corpus")
    parser.add_argument("--composer-only", action="store_true")
    parser.add_argument("--double-only", action="store_true")
    args = parser.parse_args()
    questions = json.loads(QUESTIONS.read_text())["questions"]
    run = new_run("chat")
    children: list[Child] = []
    try:
        print(f"setting up {run.keyspace}: schema, ingest {args.corpus}, reindex (logs in {run.log_dir})", flush=True)
        gibsey(run, "schema", "apply")
        gibsey(run, "ingest", str(args.corpus))
        gibsey(run, "reindex", "--all")
        children += [function(run, "retrieval", ready="section notes refreshed"), function(run, "ledger", ready=None)]
        print("| run | questions | success | replies without a verified (p.N) quote | first token p50 / p95 ms "
              "| full reply p50 / p95 ms | generator |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        if not args.double_only:
            gateway, url = start_gateway(run, OLLAMA_BASE_URL=f"http://127.0.0.1:{free_port()}")
            children.append(gateway)
            smoke(url, questions, "canon composer")
            gateway.stop()
        if not args.composer_only:
            with OllamaDouble(reply=quoting_reply) as double:
                gateway, url = start_gateway(run, OLLAMA_BASE_URL=double.url, OLLAMA_MODEL=DEFAULT_MODEL)
                children.append(gateway)
                smoke(url, questions, "Ollama test double")
                gateway.stop()
    finally:
        cleanup(run, children)
    return 0


if __name__ == "__main__":
    sys.exit(main())
