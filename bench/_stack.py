"""Shared by the RAG benchmarks (canon_cdc.py, freshness.py): a throwaway keyspace whose real CDC topic the
functions read, the function processes with their logs in files, and a watcher on that CDC topic.

The CDC agent routes only the keyspace it was started with (`gibsey`) to `cdc.pages`; any other keyspace's
changes go to `cdc.<keyspace>.pages` (docs/CDC.md). The embedder subscribes to GIBSEY_TOPIC_PREFIX +
"cdc.pages". So a keyspace named `gibsey_bench_<hex>_cdc` with the prefix `cdc.gibsey_bench_<hex>_` makes the
two names meet with existing configuration only:

    "cdc.gibsey_bench_<hex>_" + "cdc.pages" == "cdc." + "gibsey_bench_<hex>_cdc" + ".pages"

Every other topic of the run gets the same prefix (`cdc.gibsey_bench_<hex>_gibsey.index.update`, ...), so the
run reads and writes nothing of anyone else's, and cleaning up is "delete the topics with this prefix".
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import kombu
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.config import Settings  # noqa: E402
from shared.rag.shards import current_version  # noqa: E402
from shared.storage.cassandra import close_session, open_session  # noqa: E402
from shared.topics import CDC_PAGES  # noqa: E402
from tests.integration.flow_support import BIN, free_port  # noqa: E402


@dataclass(frozen=True)
class BenchRun:
    """One run's names: keyspace, topic prefix, consumer groups, index and log directories."""

    settings: Settings
    group_prefix: str
    workdir: Path

    @property
    def keyspace(self) -> str:
        return self.settings.cassandra_keyspace

    @property
    def cdc_topic(self) -> str:
        return CDC_PAGES.qualified(self.settings.topic_prefix)

    @property
    def index_dir(self) -> Path:
        return self.workdir / "index"

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment every child of the run gets (the project's own variables, nothing new)."""
        return {**os.environ, "CASSANDRA_KEYSPACE": self.keyspace, "GIBSEY_TOPIC_PREFIX": self.settings.topic_prefix,
                "GIBSEY_CONSUMER_GROUP_PREFIX": self.group_prefix, "GIBSEY_RPC_PREFIX": self.settings.rpc_prefix,
                "GIBSEY_INDEX_DIR": str(self.index_dir),
                "GIBSEY_LOG_LEVEL": "INFO", **extra}


def new_run(name: str) -> BenchRun:
    tag = uuid.uuid4().hex[:8]
    keyspace, prefix = f"gibsey_bench_{tag}_cdc", f"cdc.gibsey_bench_{tag}_"
    settings = replace(Settings.from_env(), cassandra_keyspace=keyspace, topic_prefix=prefix, rpc_prefix=f"b{tag}_")
    assert CDC_PAGES.qualified(prefix) == f"cdc.{keyspace}.pages"  # Debezium's default topic for the keyspace
    workdir = Path(tempfile.mkdtemp(prefix=f"gibsey-{name}-{tag}-"))
    (workdir / "logs").mkdir()
    return BenchRun(settings, f"bench-{tag}-", workdir)


def gibsey(run: BenchRun, *args: str) -> str:
    """Run the `gibsey` CLI for this run; stdout is returned, stderr (tqdm's bar, errors) goes to a log file."""
    log = run.log_dir / f"gibsey-{args[0]}.stderr"
    with log.open("a") as err:
        result = subprocess.run([str(BIN / "gibsey"), *args], cwd=REPO, env=run.env(), stdout=subprocess.PIPE,
                                stderr=err, text=True)
    if result.returncode != 0:
        tail = log.read_text().replace("\r", "\n").strip().splitlines()[-1:]
        raise RuntimeError(f"gibsey {' '.join(args)} failed ({result.returncode}): {' '.join(tail)}")
    return result.stdout


class Child:
    """A process of the run in its own session, stdout+stderr appended to `<log_dir>/<name>.log`."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path):
        self.name, self.log = name, log_dir / f"{name}.log"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_for(self, text: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}); read {self.log}")
            time.sleep(0.2)
        raise TimeoutError(f"{self.name}: no {text!r} within {timeout:.0f}s; read {self.log}")

    def log_records(self, msg: str) -> list[dict]:
        """The JSON log records of this process whose message is `msg`."""
        records = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{") and f'"msg": "{msg}"' in line:
                records.append(json.loads(line))
        return records

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def function(run: BenchRun, name: str, ready: str | None = "partitions assigned", **extra_env: str) -> Child:
    """`nameko run` of functions.<name>.service, as in the Procfile; waits for `ready` in its log."""
    child = Child(name, [str(BIN / "nameko"), "run", "--config", "functions/nameko.yaml", f"functions.{name}.service"],
                  run.env(GIBSEY_SERVICE_NAME=name, **extra_env), run.log_dir)
    try:
        if ready:
            child.wait_for(ready)
    except BaseException:
        child.stop()
        raise
    return child


def start_gateway(run: BenchRun, **extra_env: str) -> tuple[Child, str]:
    """The gunicorn gateway (1 worker) on a free port, as in the Procfile; returns it and its base URL."""
    port = free_port()
    child = Child("gateway", [str(BIN / "gunicorn"), "-c", "gateway/gunicorn_conf.py", "gateway.asgi:app"],
                  run.env(GIBSEY_HTTP_PORT=str(port), GIBSEY_HTTP_WORKERS="1", **extra_env), run.log_dir)
    try:
        child.wait_for("ASGI server listening", timeout=60)
    except BaseException:
        child.stop()
        raise
    return child, f"http://127.0.0.1:{port}"


def rpc_consumers(settings: Settings, service: str) -> int:
    """How many processes consume `service`'s RPC queue on the broker (0 if the queue does not exist).
    The run's RPC names carry its own GIBSEY_RPC_PREFIX, so another environment's functions never answer it."""
    with kombu.Connection(settings.amqp_uri) as conn:
        try:
            name = f"rpc-{settings.rpc_prefix}{service}"
            return conn.channel().queue_declare(queue=name, passive=True).consumer_count
        except Exception:  # noqa: BLE001 - amqp raises NotFound (404) for a queue nobody declared
            return 0


class CdcWatcher:
    """Reads the run's CDC topic in a thread (own consumer, no group) and notes when each page's first event
    arrived (time.monotonic()), so a benchmark can time insert -> event on Kafka."""

    def __init__(self, run: BenchRun):
        self._consumer = KafkaConsumer(bootstrap_servers=run.settings.kafka_bootstrap, enable_auto_commit=False,
                                       group_id=None)
        partitions = [TopicPartition(run.cdc_topic, p) for p in self._consumer.partitions_for_topic(run.cdc_topic)]
        self._consumer.assign(partitions)
        self._consumer.seek_to_end()
        for tp in partitions:
            self._consumer.position(tp)  # resolve "end" now, before anything is inserted
        self.arrived: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            for records in self._consumer.poll(timeout_ms=10).values():
                now = time.monotonic()
                for record in records:
                    page_id = json.loads(record.key)["page_id"] if record.key else None
                    if page_id is not None:
                        self.arrived.setdefault(page_id, now)
        self._consumer.close()

    def wait(self, page_id: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while page_id not in self.arrived and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.arrived.get(page_id)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def wait_until_captured(run: BenchRun, session, watcher: CdcWatcher, timeout: float = 60.0) -> float:
    """Insert title-only probe rows until one's event reaches the run's CDC topic: the agent registers a new
    keyspace's tables shortly after `schema apply`, and it skips mutations of tables it does not know yet.
    The probe has no text, so the embedder skips it and it never gets vectors. Returns seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        probe = f"bench-probe-{uuid.uuid4().hex[:8]}"
        session.execute(f"INSERT INTO {run.keyspace}.pages (page_id, title) VALUES (%s, 'cdc probe')", (probe,))
        if watcher.wait(probe, 2.0) is not None:
            return time.monotonic() - started
    raise TimeoutError(f"the CDC agent sent nothing for keyspace {run.keyspace} to {run.cdc_topic} in {timeout:.0f}s")


def shard_page_ids(index_dir: Path, section: int, version: int | None = None) -> set[str] | None:
    """The page ids in a section's current shard, or in its `version` (None before the first one); files named
    as in shared/rag/shards.py: `section-NN.current` holds K, `section-NN.vK.json` the items."""
    version = current_version(index_dir, section) if version is None else version
    if version == 0:
        return None
    try:
        items = json.loads((index_dir / f"section-{section:02d}.v{version}.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # swapped again meanwhile: the caller asks again
        return None
    return {item[0] for item in items}


def pages_with_vectors(session, keyspace: str) -> set[str]:
    return {row.page_id for row in session.execute(f"SELECT page_id FROM {keyspace}.page_vectors")}


def consumer_lag(run: BenchRun, group: str) -> dict[str, int]:
    """Per partition of what `group` (without the run's prefix) consumes: end offset minus committed offset."""
    admin = KafkaAdminClient(bootstrap_servers=run.settings.kafka_bootstrap, client_id="gibsey-bench-lag")
    consumer = KafkaConsumer(bootstrap_servers=run.settings.kafka_bootstrap)
    try:
        committed = admin.list_consumer_group_offsets(f"{run.group_prefix}{group}")
        ends = consumer.end_offsets(list(committed))
        return {f"{tp.topic}:{tp.partition}": ends[tp] - meta.offset for tp, meta in sorted(committed.items())}
    finally:
        consumer.close()
        admin.close()


def cleanup(run: BenchRun, children: list[Child]) -> None:
    """Stop the run's processes, drop its keyspace, delete its topics and consumer groups and its index files
    (the logs stay in the work dir for reading). The CDC agent's producer may re-create the CDC topic, empty,
    while the topic is still in its metadata (Kafka's auto-creation; seen here within a minute); docs/CDC.md's
    clean-up command removes such leftovers."""
    for child in reversed(children):
        child.stop()
    session = open_session(run.settings)
    try:
        session.execute(f"DROP KEYSPACE IF EXISTS {run.keyspace}", timeout=120)
    finally:
        close_session(session)
    admin = KafkaAdminClient(bootstrap_servers=run.settings.kafka_bootstrap, client_id="gibsey-bench-cleanup")
    try:
        topics = [t for t in admin.list_topics() if t.startswith(run.settings.topic_prefix)]
        if topics:
            admin.delete_topics(topics)
        groups = [g for g, _ in admin.list_consumer_groups() if g.startswith(run.group_prefix)]
        if groups:
            admin.delete_consumer_groups(groups)
    finally:
        admin.close()
    shutil.rmtree(run.index_dir, ignore_errors=True)
