"""RabbitMQ from the Debian package, run as our own node with all state under the state dir.

The package's system service is ignored: we start /usr/lib/rabbitmq/bin/rabbitmq-server
with RABBITMQ_* variables pointing into .localstack/, a private HOME (Erlang cookie)
and our own epmd when none is running, so ``down`` can stop everything it started.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from shared.probes import ProbeResult, probe_rabbitmq

from . import proc
from .errors import StackError
from .render import render
from .server import Launch, Server

SERVER_SCRIPTS = ("/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/sbin/rabbitmq-server")


class RabbitMQ(Server):
    name = "rabbitmq"
    protocol = "AMQP probe"

    @property
    def port(self) -> int:
        return self.settings.port("AMQP_PORT", 5672)

    @property
    def dist_port(self) -> int:
        return self.settings.port("RABBITMQ_DIST_PORT", 25672)

    @property
    def epmd_port(self) -> int:
        return self.settings.port("ERL_EPMD_PORT", 4369)

    @property
    def node_name(self) -> str:
        return self.settings.get("RABBITMQ_NODENAME", "gibsey@localhost")

    @property
    def epmd_pid_file(self) -> Path:
        return self.settings.run_dir / "epmd.pid"

    @property
    def epmd_tag(self) -> str:
        return f"epmd:{self.settings.state_dir}"

    def ports(self) -> dict[str, int]:
        return {"AMQP_PORT": self.port, "RABBITMQ_DIST_PORT": self.dist_port}

    def probe(self, timeout: float = 2.0) -> ProbeResult:
        return probe_rabbitmq("127.0.0.1", self.port, timeout)

    def server_script(self) -> str | None:
        return next((path for path in SERVER_SCRIPTS if os.access(path, os.X_OK)), None)

    def prepare(self) -> None:
        if self.server_script() is None:
            self._install()
        for sub in ("home", "mnesia", "log"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        render("rabbitmq.conf", self.home / "rabbitmq.conf", {})
        render("enabled_plugins", self.home / "enabled_plugins", {})
        (self.home / "rabbitmq-env.conf").touch()
        self._ensure_epmd()

    def _install(self) -> None:
        """apt-get install the pinned package; only root can, so others get a clear reason."""
        package = self.settings.versions["RABBITMQ_PACKAGE"]
        if os.geteuid() != 0:
            raise StackError(f"{package} is not installed and we are not root; run: sudo apt-get install -y {package}")
        log = self.settings.logs_dir / "apt-rabbitmq.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.say(f"installing the Debian package {package} with apt-get (log {log})")
        started = time.monotonic()
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", package]
        with open(log, "a") as out:
            code = subprocess.run(install, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
            if code != 0:  # stale package lists are the usual cause
                subprocess.run(["apt-get", "update"], stdout=out, stderr=subprocess.STDOUT, env=env)
                code = subprocess.run(install, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
        if code != 0 or self.server_script() is None:
            raise StackError(f"apt-get install {package} failed (exit {code})", log)
        self.say(f"installed {package} in {time.monotonic() - started:.1f}s")

    def _epmd_listening(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(1.0)
            return sock.connect_ex(("127.0.0.1", self.epmd_port)) == 0

    def _ensure_epmd(self) -> None:
        """Erlang nodes register with epmd; if none runs, start one we own (and stop later)."""
        if self._epmd_listening():
            return
        epmd = shutil.which("epmd") or "/usr/lib/erlang/bin/epmd"
        proc.spawn(
            [epmd, "-port", str(self.epmd_port)],
            env=dict(self.settings.env), cwd=self.home, log=self.settings.logs_dir / "epmd.log",
            pid_file=self.epmd_pid_file, tag=self.epmd_tag,
        )
        deadline = time.monotonic() + 10
        while not self._epmd_listening():
            if time.monotonic() > deadline:
                raise StackError(f"epmd did not listen on port {self.epmd_port}", self.settings.logs_dir / "epmd.log")
            time.sleep(0.1)

    def launch(self) -> Launch:
        script = self.server_script()
        if script is None:
            raise StackError("rabbitmq-server is not installed")
        env = {
            **self.settings.env,
            "HOME": str(self.home / "home"),
            "RABBITMQ_NODENAME": self.node_name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_MNESIA_BASE": str(self.home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.home / "log"),
            "RABBITMQ_LOGS": "-",  # log to stdout, which goes to logs/rabbitmq.log
            "RABBITMQ_CONFIG_FILE": str(self.home / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.home / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.home / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(self.home / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.home / "rabbitmq.pid"),
        }
        return Launch([script], env, self.home)

    def after_stop(self) -> list[str]:
        """Stop the epmd we started, unless another Erlang node still uses it."""
        pid = proc.read_pid(self.epmd_pid_file, self.epmd_tag)
        if pid is None:
            return []
        names = subprocess.run(
            [shutil.which("epmd") or "epmd", "-port", str(self.epmd_port), "-names"],
            capture_output=True, text=True,
        ).stdout
        others = [line for line in names.splitlines() if line.startswith("name ")]
        if others:
            return [f"left epmd pid {pid} running ({len(others)} other Erlang node(s) registered)"]
        how = proc.stop_group(pid, 10.0)
        self.epmd_pid_file.unlink(missing_ok=True)
        return [f"{how} epmd pid {pid}"]
