"""Apache Kafka, single-node KRaft (broker + controller in one JVM)."""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from shared.probes import ProbeResult, probe_kafka

from . import maven
from .errors import StackError
from .java import find_java
from .render import render
from .server import Launch, Server
from .settings import LOCALSTACK_DIR

UUID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")


class Kafka(Server):
    name = "kafka"
    protocol = "ApiVersions probe"
    uses_maven = True

    @property
    def version(self) -> str:
        return self.settings.versions["KAFKA_VERSION"]

    @property
    def port(self) -> int:
        return self.settings.port("KAFKA_PORT", 9092)

    @property
    def controller_port(self) -> int:
        return self.settings.port("KAFKA_CONTROLLER_PORT", 9093)

    @property
    def heap(self) -> str:
        return self.settings.get("KAFKA_HEAP", "512m")

    @property
    def lib_dir(self) -> Path:
        return self.settings.cache_dir / "lib" / f"kafka-{self.version}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def config(self) -> Path:
        return self.home / "server.properties"

    def ports(self) -> dict[str, int]:
        return {"KAFKA_PORT": self.port, "KAFKA_CONTROLLER_PORT": self.controller_port}

    def probe(self, timeout: float = 2.0) -> ProbeResult:
        return probe_kafka("127.0.0.1", self.port, timeout)

    def _java(self, *args: str) -> list[str]:
        java, _ = find_java(self.settings)
        return [
            java, *args,
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.xml'}",
            "-cp", f"{self.lib_dir}/*",
        ]

    def prepare(self) -> None:
        versions = self.settings.versions
        maven.resolve(
            self.name,
            LOCALSTACK_DIR / "maven" / "kafka" / "pom.xml",
            {
                "kafka.version": self.version,
                "log4j.version": versions["LOG4J_VERSION"],
                "slf4j.version": versions["SLF4J_VERSION"],
            },
            self.lib_dir,
            self.settings.logs_dir / "maven-kafka.log",
            self.reporter,
        )
        render("log4j2.xml", self.home / "log4j2.xml", {})
        render("server.properties", self.config, {
            "port": self.port, "controller_port": self.controller_port, "data_dir": self.data_dir,
        })
        if not (self.data_dir / "meta.properties").is_file():
            self._format()

    def _format(self) -> None:
        """Format KRaft storage once; the cluster id is kept next to it for reference."""
        started = time.monotonic()
        self.settings.logs_dir.mkdir(parents=True, exist_ok=True)
        printed = self._run_tool("random-uuid")
        # stdout also carries log4j output (our config logs to stdout); pick the id line.
        ids = [line.strip() for line in printed.splitlines() if UUID_RE.match(line.strip())]
        if not ids:
            raise StackError("StorageTool random-uuid printed no cluster id", self.log_path)
        cluster_id = ids[-1]
        self._run_tool("format", "-t", cluster_id, "-c", str(self.config))
        (self.home / "cluster.id").write_text(cluster_id + "\n")
        self.say(f"formatted storage in {self.data_dir} (cluster id {cluster_id}) in {time.monotonic() - started:.1f}s")

    def _run_tool(self, *args: str) -> str:
        argv = [*self._java("-Xmx256m"), "kafka.tools.StorageTool", *args]
        out = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        with open(self.log_path, "a") as log:
            log.write(f"===== localstack: StorageTool {' '.join(args)} (exit {out.returncode})\n")
            log.write(out.stdout + out.stderr)
        if out.returncode != 0:
            last = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StackError(f"StorageTool {args[0]} failed (exit {out.returncode}: {last[0][:160]})", self.log_path)
        return out.stdout

    def launch(self) -> Launch:
        argv = [
            *self._java(f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                        "-Djava.awt.headless=true"),
            "kafka.Kafka", str(self.config),
        ]
        return Launch(argv, dict(self.settings.env), self.home)
