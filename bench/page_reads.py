"""Page reads at the gateway under load, and canon ingest speed.

    .venv/bin/python bench/page_reads.py [--corpus PATH] [--clients 50] [--seconds 20] [--workers 2]

1. Ingests the corpus (default: the canon beside the repo, else the demo) into a throwaway keyspace and
   times it (pages/s).
2. Starts the real gateway (gunicorn -k asgi) against that keyspace and drives it with N concurrent
   keep-alive clients for S seconds: GET /pages/{random n}. As a baseline in the same run, the same load
   on GET /api/v1/qdpi/characters (served from memory, no Cassandra), so the ratio says what the database
   read costs on this machine, whatever else the machine is doing.
Client, gateway and Cassandra share the machine's cores; the numbers are for this box, not a capacity plan.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.canon import load_corpus  # noqa: E402
from shared.canon.ingest import ingest  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.storage.cassandra import close_session, open_session  # noqa: E402
from shared.storage.schema import apply_schema  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def drive(url: str, paths: list[str], clients: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    deadline = time.monotonic() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            path = random.choice(paths)
            started = time.perf_counter()
            try:
                resp = await http.get(url + path)
                if resp.status_code != 200:
                    errors[f"HTTP {resp.status_code}: {resp.text[:120]}"] += 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
            latencies.append(time.perf_counter() - started)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    cuts = statistics.quantiles(latencies, n=100)
    return {"requests": len(latencies), "rps": len(latencies) / seconds, "errors": sum(errors.values()),
            "error_kinds": dict(errors),
            "p50": cuts[49] * 1000, "p95": cuts[94] * 1000, "p99": cuts[98] * 1000}


def main() -> int:
    canon = REPO.parent / "shared" / "gibsey-canon" / "corpus"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=canon if canon.is_dir() else REPO / "corpus" / "demo")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    base = Settings.from_env()
    settings = replace(base, cassandra_keyspace=f"gibsey_bench_{uuid.uuid4().hex[:6]}")
    session = open_session(settings)
    gateway = None
    try:
        apply_schema(session, settings)
        corpus = load_corpus(args.corpus)
        started = time.monotonic()
        report = ingest(session, settings.cassandra_keyspace, corpus)
        took = time.monotonic() - started
        print(f"corpus: {args.corpus} ({report.pages_total} pages)")
        print(f"ingest into an empty keyspace: {took:.2f} s, {report.pages_written / took:.0f} pages/s")
        started = time.monotonic()
        ingest(session, settings.cassandra_keyspace, corpus)
        print(f"ingest again (nothing to write): {time.monotonic() - started:.2f} s")

        port = free_port()
        env = {**os.environ, "CASSANDRA_KEYSPACE": settings.cassandra_keyspace, "GIBSEY_HTTP_PORT": str(port),
               "GIBSEY_HTTP_WORKERS": str(args.workers), "GIBSEY_LOG_LEVEL": "WARNING"}
        gateway = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "-c", "gateway/gunicorn_conf.py",
                                    "--access-logfile", "/dev/null", "gateway.asgi:app"],
                                   cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(url + "/pages/1", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        pages = [f"/pages/{random.randint(1, len(corpus.pages))}" for _ in range(1000)]
        print(f"load: {args.clients} concurrent clients x {args.seconds:.0f} s each, gateway workers={args.workers}")
        print("| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | errors |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        results = {}
        for name, paths in (("GET /api/v1/qdpi/characters (baseline, no DB)", ["/api/v1/qdpi/characters"]),
                            ("GET /pages/{n}, random n", pages)):
            r = asyncio.run(drive(url, paths, args.clients, args.seconds))
            results[name] = r
            print(f"| {name} | {r['requests']} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} "
                  f"| {r['errors']} |")
            for kind, count in r["error_kinds"].items():
                print(f"  error x{count}: {kind}", file=sys.stderr)
        baseline, reads = results.values()
        print(f"page reads / baseline throughput: {reads['rps'] / baseline['rps']:.2f}")
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(timeout=20)
        session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")
        close_session(session)
    return 0


if __name__ == "__main__":
    sys.exit(main())
