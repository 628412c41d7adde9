"""Change data capture: Debezium's standalone Cassandra 5 agent beside the local node.

The agent reads the node's ``cdc_raw`` directory (so it must run on this machine, against
the same cassandra.yaml), decodes the commit-log segments with Cassandra's own classes and
sends one JSON event per row change to Kafka. It starts after Cassandra and Kafka are healthy.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from shared.probes import ProbeResult
from shared.probes.result import ProtocolError, run_probe

from . import maven
from .cassandra import SUPPORTED_JAVA, Cassandra
from .errors import StackError
from .java import find_java
from .kafka import Kafka
from .render import read_options, render
from .server import Launch, Server
from .settings import LOCALSTACK_DIR

MAIN_CLASS = "dev.gibsey.localstack.CdcAgent"
AGENT_SOURCE = LOCALSTACK_DIR / "java" / "CdcAgent.java"
OFFSETS_FILE = "commitlog_offset.properties"


class Cdc(Server):
    name = "cdc"
    protocol = "agent /health probe"
    uses_maven = True
    requires = ("cassandra", "kafka")

    @property
    def version(self) -> str:
        return self.settings.versions["DEBEZIUM_CASSANDRA_VERSION"]

    @property
    def port(self) -> int:
        return self.settings.port("CDC_HTTP_PORT", 8083)

    @property
    def heap(self) -> str:
        return self.settings.get("CDC_HEAP", "1g")

    @property
    def keyspace(self) -> str:
        """The keyspace whose CDC tables are routed to cdc.<table> (the app's CASSANDRA_KEYSPACE)."""
        name = self.settings.get("CASSANDRA_KEYSPACE", "gibsey")
        if not (name[0].isalpha() and name.replace("_", "a").isalnum() and name.isascii() and name.lower() == name):
            raise StackError(f"CASSANDRA_KEYSPACE={name!r} is not a lower-case CQL identifier (letters, digits, _)")
        return name

    @property
    def lib_dir(self) -> Path:
        return self.settings.cache_dir / "lib" / f"cdc-{self.version}"

    @property
    def classes_dir(self) -> Path:
        return self.settings.cache_dir / "lib" / f"cdc-{self.version}-agent"

    @property
    def conf_dir(self) -> Path:
        return self.home / "conf"

    @property
    def offsets_dir(self) -> Path:
        return self.home / "offsets"

    @property
    def node(self) -> Cassandra:
        return Cassandra(self.settings, self.reporter)

    def ports(self) -> dict[str, int]:
        return {"CDC_HTTP_PORT": self.port}

    # --- health ------------------------------------------------------------------------
    def probe(self, timeout: float = 2.0) -> ProbeResult:
        """GET /health (processor threads running and CQL session open) and /buildinfo (version).

        It does not prove that events reach Kafka; the detail adds when the agent last recorded
        an emitted (Kafka-acknowledged) change, from its offsets file.
        """
        base = f"http://127.0.0.1:{self.port}"

        def check() -> tuple[bool, str | None, str]:
            status, body = _get_json(base + "/health", timeout)
            if not isinstance(body, dict) or not body:
                raise ProtocolError(f"/health returned {str(body)[:80]!r}")
            check_result = next(iter(body.values()))
            healthy = status == 200 and isinstance(check_result, dict) and check_result.get("healthy") is True
            if not healthy:
                return False, None, f"/health HTTP {status}: {_unhealthy_parts(check_result)}"
            _, info = _get_json(base + "/buildinfo", timeout)
            version = info.get("version") if isinstance(info, dict) else None
            return True, version, f"processors running, CQL session open; {self.progress()}"

        return run_probe(self.name, check)

    def progress(self) -> str:
        """When the agent last recorded a change as sent (acknowledged by Kafka), and how many
        segments with CDC data wait in cdc_raw (normally 1: the one being written and read)."""
        try:
            path = self.offsets_dir / OFFSETS_FILE
            entries = [line for line in path.read_text().splitlines() if "=" in line and not line.startswith("#")]
            emitted = f"last change emitted {_ago(max(0.0, time.time() - path.stat().st_mtime))} ago" if entries else (
                "no change emitted yet")
        except OSError:
            emitted = "no offsets file yet"
        waiting = len(list((self.node.home / "cdc_raw").glob("*_cdc.idx")))
        return f"{emitted}; {waiting} segment(s) with CDC data in cdc_raw"

    # --- start -----------------------------------------------------------------------------
    def prepare(self) -> None:
        node = self.node
        maven.resolve(
            self.name,
            LOCALSTACK_DIR / "maven" / "cdc" / "pom.xml",
            {
                "debezium.version": self.version,
                "cassandra.version": self.settings.versions["CASSANDRA_VERSION"],
                "cassandra-driver.version": self.settings.versions["CASSANDRA_JAVA_DRIVER_VERSION"],
            },
            self.lib_dir,
            self.settings.logs_dir / "maven-cdc.log",
            self.reporter,
        )
        self._compile_agent()
        for sub in ("offsets", "relocation"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        render("cdc-driver.conf", self.conf_dir / "driver.conf", {"cql_port": node.port})
        render("cdc-logback.xml", self.conf_dir / "logback.xml", {})
        render("cdc.properties", self.conf_dir / "cdc.properties", {
            "cassandra_yaml": node.conf_dir / "cassandra.yaml",
            "driver_conf": self.conf_dir / "driver.conf",
            "cluster_name": self.settings.get("CASSANDRA_CLUSTER_NAME", "gibsey-local"),
            "offsets_dir": self.offsets_dir,
            "relocation_dir": self.home / "relocation",
            "http_port": self.port,
            "idx_poll_ms": self.settings.millis("CDC_IDX_POLL_MS", 50),
            "keyspace": self.keyspace,
            "kafka_port": Kafka(self.settings, self.reporter).port,
        })

    def _compile_agent(self) -> None:
        """javac localstack/java/CdcAgent.java against the agent's jars, once per source and classpath."""
        stamp = json.dumps({
            "source_sha256": hashlib.sha256(AGENT_SOURCE.read_bytes()).hexdigest(),
            "classpath": (self.lib_dir / maven.MARKER).read_text(),
        }, sort_keys=True)
        marker = self.classes_dir / maven.MARKER
        if marker.is_file() and marker.read_text() == stamp:
            return
        java, _ = find_java(self.settings, SUPPORTED_JAVA)
        javac = Path(os.path.realpath(java)).parent / "javac"
        if not os.access(javac, os.X_OK):
            raise StackError(
                f"no javac beside {java}: the agent's launcher ({AGENT_SOURCE.name}) is compiled on first "
                "start; install a JDK (apt-get install openjdk-17-jdk-headless) or set JAVA_HOME to one"
            )
        tmp = self.classes_dir.with_name(self.classes_dir.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        argv = [str(javac), "-nowarn", "-encoding", "UTF-8", "-d", str(tmp), "-cp", f"{self.lib_dir}/*",
                str(AGENT_SOURCE)]
        out = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        self.settings.logs_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as log:
            log.write(f"===== localstack: javac {AGENT_SOURCE.name} (exit {out.returncode})\n{out.stdout}{out.stderr}")
        if out.returncode != 0:
            first = next((line for line in out.stderr.splitlines() if "error" in line), "no output")
            raise StackError(f"javac {AGENT_SOURCE.name} failed ({first.strip()[:160]})", self.log_path)
        (tmp / maven.MARKER).write_text(stamp)
        shutil.rmtree(self.classes_dir, ignore_errors=True)
        tmp.rename(self.classes_dir)
        self.say(f"compiled {AGENT_SOURCE.name} into {self.classes_dir}")

    def launch(self) -> Launch:
        node_yaml = self.node.conf_dir / "cassandra.yaml"
        if not node_yaml.is_file():  # checked after the gate: Cassandra's own start renders it
            raise StackError(
                f"{node_yaml} does not exist: the agent reads the cdc_raw directory of the Cassandra "
                "node that localstack runs, and only that one"
            )
        if self.node.ownership().pid is None:
            raise StackError(
                f"the Cassandra on port {self.node.port} was not started by localstack; the agent can only "
                "read the cdc_raw directory of the node localstack runs"
            )
        self._prune_stale_links()
        java, _ = find_java(self.settings, SUPPORTED_JAVA)
        argv = [
            java,
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            *read_options("cdc-jvm17.options"),
            f"-Dlogback.configurationFile={self.conf_dir / 'logback.xml'}",
            "-cp", f"{self.classes_dir}:{self.lib_dir}/*",
            MAIN_CLASS,
            str(self.conf_dir / "cdc.properties"),
        ]
        return Launch(argv, dict(self.settings.env), self.home)


    def _prune_stale_links(self) -> None:
        """Delete cdc_raw links to segments that never held CDC data and that Cassandra has let go of.

        Cassandra hard-links every new commit-log segment into cdc_raw and removes the link when it
        discards a segment without CDC data, but the segment it had pre-allocated when it stopped
        keeps its link for good: one 32 MiB file per restart that the agent never reads (it only
        follows _cdc.idx files). Cassandra counts them against cdc_total_space and, when that is
        full, rejects writes to CDC tables. A link is stale when it has no _cdc.idx, its segment is
        gone from the commit-log directory and no other hard link to it remains.
        """
        cdc_raw = self.node.home / "cdc_raw"
        commitlog = self.node.home / "commitlog"
        stale = []
        for link in sorted(cdc_raw.glob("CommitLog-*.log")):
            try:
                if (
                    not link.with_name(link.stem + "_cdc.idx").exists()
                    and not (commitlog / link.name).exists()
                    and link.stat().st_nlink == 1
                ):
                    link.unlink()
                    stale.append(link.name)
            except FileNotFoundError:
                continue
        if stale:
            self.say(f"removed {len(stale)} stale segment link(s) without CDC data from {cdc_raw}")


def _get_json(url: str, timeout: float) -> tuple[int, object]:
    """GET a JSON document; an HTTP error status still returns its (JSON) body."""
    request = urllib.request.Request(url, headers={"User-Agent": "gibsey-probe"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            status, raw = resp.status, resp.read(1 << 16)
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read(1 << 16)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, BaseException):
            raise exc.reason from exc
        raise ProtocolError(str(exc.reason)) from exc
    try:
        return status, json.loads(raw)
    except ValueError:
        raise ProtocolError(f"HTTP {status}, not JSON: {raw[:60]!r}") from None


def _unhealthy_parts(result: object) -> str:
    """Which of the agent's checks failed, from its health-check message."""
    if not isinstance(result, dict):
        return str(result)[:120]
    try:
        parts = json.loads(result.get("message") or "{}")
    except ValueError:
        return str(result.get("message"))[:120]
    failed = [name.rsplit(".", 1)[-1].split("$")[-1] for name, ok in parts.items() if not ok]
    return ("not running: " + ", ".join(failed)) if failed else str(result.get("message"))[:120]


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"
