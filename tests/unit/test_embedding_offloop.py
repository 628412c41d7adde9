"""Embedding off the event loop (issue 5): the model in a worker process (shared/rag/embed_worker.py).

No servers needed, but the model is loaded three times (in this process for the inline reference, in this
process's worker, in the eventlet script's worker) and once more for the crash test: about a minute on an
idle 2-core machine, several on a busy one. The eventlet checks run in a child interpreter,
because monkey-patching must not leak into the rest of the unit suite.
"""

from __future__ import annotations

import json
import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from shared.rag.embed_worker import EmbedWorkerError, shared_client
from shared.rag.embedding import DIMENSIONS, Embedder, embed_mode, encode_with, load_model

ROOT = Path(__file__).resolve().parents[2]
WORDS = ("the entrance way reader symbol book answers page character colour mirror fork loop garden door "
         "light river story author night window letter voice cat shadow silence name").split()


def _sentences(n: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16))).capitalize() + "." for _ in range(n)]


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped by whoever inherited it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def client():
    """This process's worker (the one Embedder uses in process mode), stopped after the module."""
    worker = shared_client()
    yield worker
    worker.close()


def test_mode_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("GIBSEY_EMBED_MODE", raising=False)
    assert embed_mode() == "inline"  # plain Python: nothing to keep free
    monkeypatch.setenv("GIBSEY_EMBED_MODE", "Process")
    assert embed_mode() == "process"
    monkeypatch.setenv("GIBSEY_EMBED_MODE", "thread")
    with pytest.raises(ValueError, match="GIBSEY_EMBED_MODE"):
        embed_mode()


def test_process_mode_gives_the_inline_vectors(monkeypatch, model, client):
    monkeypatch.setenv("GIBSEY_EMBED_MODE", "process")
    embedder = Embedder()
    embedder.load()
    assert client.pid is not None and client.pid != os.getpid()
    texts = _sentences(300)
    vectors = embedder.encode(texts)
    assert embedder.mode == "process"
    assert vectors.shape == (300, DIMENSIONS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors, encode_with(model, texts), atol=1e-5)
    assert embedder.encode([]).shape == (0, DIMENSIONS)
    one = embedder.encode(["where does the reader meet the entrance way?"])
    assert one.shape == (1, DIMENSIONS)
    assert np.allclose(one, encode_with(model, ["where does the reader meet the entrance way?"]), atol=1e-6)


def test_a_failed_request_is_reported_and_the_worker_stays(client):
    pid = client.ping()
    with pytest.raises(EmbedWorkerError, match="failed on encode"):
        client.encode([None])  # the tokenizer refuses it, in the worker
    assert client.encode(["still here"]).shape == (1, DIMENSIONS)
    assert client.pid == pid


def test_a_worker_that_dies_is_replaced(client, model):
    pid, starts = client.ping(), client.starts
    os.kill(pid, signal.SIGKILL)
    vectors = client.encode(["after the crash", "a second page"])
    assert client.pid != pid and client.starts == starts + 1
    assert np.allclose(vectors, encode_with(model, ["after the crash", "a second page"]), atol=1e-6)


# Runs under eventlet's monkey-patching, GIBSEY_EMBED_MODE unset: a ticker green thread notes the time every
# 10 ms while a large batch is encoded; then concurrent callers and an interrupted caller; then the script
# waits on stdin until the test kills it.
EVENTLET_SCRIPT = r"""
import eventlet
eventlet.monkey_patch()
import json, sys, time
import numpy as np
from shared.rag.embedding import Embedder
from shared.rag.embed_worker import shared_client

texts = json.load(open(sys.argv[1]))
ticks, state = [], {"stop": False}

def ticker():
    while not state["stop"]:
        ticks.append(time.monotonic())
        eventlet.sleep(0.01)

embedder = Embedder()
thread = eventlet.spawn(ticker)
t = time.monotonic()
embedder.load()
load_s, load_ticks = time.monotonic() - t, len(ticks)
t0 = time.monotonic()
vectors = embedder.encode(texts)
t1 = time.monotonic()
state["stop"] = True
thread.wait()
np.save(sys.argv[2], vectors)
worker = shared_client().pid

# 16 green threads at once, 4 texts each: every caller gets its own rows back
pool = eventlet.GreenPool(16)
parts = list(pool.imap(lambda i: embedder.encode(texts[i:i + 4]), range(0, 64, 4)))
concurrent_ok = all(np.allclose(p, vectors[4 * n:4 * n + 4], atol=1e-5) for n, p in enumerate(parts))
# a caller that gives up while waiting: its late reply is skipped by the next call, same worker
with eventlet.Timeout(0.05, False):
    embedder.encode(texts[:800])
after_interrupt_ok = bool(np.allclose(embedder.encode(texts[:3]), vectors[:3], atol=1e-5))
points = [t0] + [x for x in ticks if t0 <= x <= t1] + [t1]
gaps = np.diff(points) * 1000
print(json.dumps({"mode": embedder.mode, "worker_pid": worker, "load_s": load_s,
                  "concurrent_ok": concurrent_ok, "after_interrupt_ok": after_interrupt_ok,
                  "same_worker": shared_client().pid == worker,
                  "ticks_during_load": load_ticks, "encode_s": t1 - t0, "ticks": len(points) - 2,
                  "max_gap_ms": float(gaps.max()), "median_gap_ms": float(np.median(gaps)),
                  "p99_gap_ms": float(np.percentile(gaps, 99))}), flush=True)
sys.stdin.readline()
"""


def test_green_threads_keep_running_while_a_large_batch_is_encoded(tmp_path, model):
    texts = _sentences(2000, seed=11)
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    env = {k: v for k, v in os.environ.items() if k != "GIBSEY_EMBED_MODE"}
    proc = subprocess.Popen([sys.executable, "-c", EVENTLET_SCRIPT, str(tmp_path / "texts.json"),
                             str(tmp_path / "vectors.npy")], cwd=ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            assert sel.select(timeout=900), "the eventlet script did not report in 15 minutes"
        line = proc.stdout.readline()
        assert line, f"the eventlet script failed (exit code {proc.poll()})"
        report = json.loads(line)
        print("off-loop report:", json.dumps(report))
        assert report["mode"] == "process"  # the default under eventlet
        assert report["concurrent_ok"] and report["after_interrupt_ok"] and report["same_worker"]
        assert report["ticks_during_load"] > 0.5 * report["load_s"] / 0.01  # loading does not stop the loop
        # The ticker kept its ~10 ms beat for the whole encode. (Inline, its one gap is the whole encode.)
        assert report["ticks"] > 0.5 * report["encode_s"] / 0.01
        assert report["median_gap_ms"] < 25
        # ~100 ms is the aim, met on a quiet machine; the bound leaves room for a loaded shared CI host.
        assert report["max_gap_ms"] < 500
        vectors = np.load(tmp_path / "vectors.npy")
        assert vectors.shape == (2000, DIMENSIONS) and vectors.dtype == np.float32
        sample = list(range(0, 2000, 10))  # the inline reference for every 10th row: the batch is not redone
        assert np.allclose(vectors[sample], encode_with(model, [texts[i] for i in sample]), atol=1e-5)

        worker = report["worker_pid"]
        assert _alive(worker)
        proc.kill()  # SIGKILL: no atexit, no clean-up; the worker must notice by itself
        proc.wait(10)
        deadline = time.monotonic() + 5
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker), "the embedding worker outlived its parent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
