"""Apache Cassandra, single node, run straight from the cassandra-all jars."""
from __future__ import annotations

from pathlib import Path

from shared.probes import ProbeResult, probe_cassandra

from . import maven
from .java import find_java
from .render import read_options, render
from .server import Launch, Server
from .settings import LOCALSTACK_DIR

# Cassandra 5.0 runs on Java 11 and 17 only; a newer $JAVA_HOME is skipped for it.
SUPPORTED_JAVA = frozenset({11, 17})


class Cassandra(Server):
    name = "cassandra"
    protocol = "CQL probe"
    uses_maven = True

    @property
    def version(self) -> str:
        return self.settings.versions["CASSANDRA_VERSION"]

    @property
    def port(self) -> int:
        return self.settings.port("CASSANDRA_PORT", 9042)

    @property
    def storage_port(self) -> int:
        return self.settings.port("CASSANDRA_STORAGE_PORT", 7000)

    @property
    def jmx_port(self) -> int:
        return self.settings.port("CASSANDRA_JMX_PORT", 7199)

    @property
    def heap(self) -> str:
        return self.settings.get("CASSANDRA_HEAP", "1G")

    @property
    def commitlog_sync_period_ms(self) -> int:
        """How often the commit log syncs, which is when the CDC agent may read new changes (docs/CDC.md)."""
        return self.settings.millis("CASSANDRA_COMMITLOG_SYNC_PERIOD_MS", 100, minimum=10, maximum=10_000)

    @property
    def lib_dir(self) -> Path:
        return self.settings.cache_dir / "lib" / f"cassandra-{self.version}"

    @property
    def conf_dir(self) -> Path:
        return self.home / "conf"

    def ports(self) -> dict[str, int]:
        return {
            "CASSANDRA_PORT": self.port,
            "CASSANDRA_STORAGE_PORT": self.storage_port,
            "CASSANDRA_JMX_PORT": self.jmx_port,
        }

    def probe(self, timeout: float = 2.0) -> ProbeResult:
        return probe_cassandra("127.0.0.1", self.port, timeout)

    def prepare(self) -> None:
        maven.resolve(
            self.name,
            LOCALSTACK_DIR / "maven" / "cassandra" / "pom.xml",
            {"cassandra.version": self.version},
            self.lib_dir,
            self.settings.logs_dir / "maven-cassandra.log",
            self.reporter,
        )
        render("cassandra.yaml", self.conf_dir / "cassandra.yaml", {
            "cluster_name": self.settings.get("CASSANDRA_CLUSTER_NAME", "gibsey-local"),
            "storage_port": self.storage_port,
            "native_port": self.port,
            "data_dir": self.home,
            "commitlog_sync_period_ms": self.commitlog_sync_period_ms,
        })
        render("logback.xml", self.conf_dir / "logback.xml", {})
        (self.home / "triggers").mkdir(parents=True, exist_ok=True)

    def launch(self) -> Launch:
        java, _ = find_java(self.settings, SUPPORTED_JAVA)
        argv = [
            java,
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            *read_options("jvm17-server.options"),
            f"-Dcassandra.config=file://{self.conf_dir / 'cassandra.yaml'}",
            f"-Dlogback.configurationFile={self.conf_dir / 'logback.xml'}",
            f"-Dcassandra.storagedir={self.home}",
            f"-Dcassandra.logdir={self.settings.logs_dir}",
            f"-Dcassandra.triggers_dir={self.home / 'triggers'}",
            "-Dcassandra-foreground=yes",
            f"-Dcassandra.jmx.local.port={self.jmx_port}",
            "-cp", f"{self.conf_dir}:{self.lib_dir}/*",
            "org.apache.cassandra.service.CassandraDaemon",
        ]
        return Launch(argv, dict(self.settings.env), self.home)
