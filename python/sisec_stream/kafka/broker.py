"""A local single-node Apache Kafka 4 broker (KRaft: broker and controller in one
process) on 127.0.0.1, for laptops, tests and CI.

Jars come from Maven Central through Maven (``pom.xml`` beside this file); data,
config, logs and the pid file live in one folder (default ``.kafka/``, ignored by
git). ``start`` is idempotent and waits until the broker answers a metadata
request; ``stop`` ends exactly the process whose pid it recorded.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sisec_stream.errors import SisecError

__all__ = ["BrokerError", "BrokerSettings", "BrokerStatus", "start", "status", "stop"]

_MAIN_CLASS = "kafka.Kafka"
# Brokers started by this process, so `stop` can reap them (no zombies) and
# Python does not warn that a child it still owns is running.
_children: dict[int, subprocess.Popen[bytes]] = {}

# Jars that must be present for the broker and its logging to work.
_REQUIRED_JARS = ("kafka_2.13-", "kafka-clients-", "log4j-core-", "log4j-slf4j-impl-")


class BrokerError(SisecError, RuntimeError):
    """The local broker could not be set up, started or stopped; says what to do."""


@dataclass(frozen=True)
class BrokerSettings:
    """Where and how the local broker runs.

    Attributes:
        home: Folder for jars (``lib/``), data, config, log and pid file.
        port: Client (PLAINTEXT) port on ``host``; the controller uses ``port + 1``.
        host: Loopback address to listen on.
        heap: JVM heap (``-Xmx``); small, the broker is for one machine's tests.
        lib_dir: Where the jars go (default ``home/lib``); tests share one.
    """

    home: Path = Path(".kafka")
    port: int = 9092
    host: str = "127.0.0.1"
    heap: str = "512m"
    lib_dir: Path | None = None

    @property
    def jars(self) -> Path:
        """The folder of broker jars."""
        return self.lib_dir if self.lib_dir is not None else self.home / "lib"

    @property
    def bootstrap(self) -> str:
        """``bootstrap.servers`` for clients."""
        return f"{self.host}:{self.port}"

    @property
    def log_file(self) -> Path:
        """The broker's log (Log4j2)."""
        return self.home / "broker.log"

    @property
    def pid_file(self) -> Path:
        """Pid of the running broker."""
        return self.home / "broker.pid"

    @property
    def config_file(self) -> Path:
        """The generated ``server.properties``."""
        return self.home / "server.properties"

    @property
    def data_dir(self) -> Path:
        """Kafka's ``log.dirs`` (the topic data)."""
        return self.home / "data"


@dataclass(frozen=True)
class BrokerStatus:
    """What ``status`` found."""

    pid: int | None
    answering: bool
    settings: BrokerSettings

    @property
    def running(self) -> bool:
        """A broker process of ours is alive."""
        return self.pid is not None

    def describe(self) -> str:
        """One line for the terminal."""
        s = self.settings
        if self.pid is None:
            return f"kafka: not running (home {s.home})"
        state = "answering" if self.answering else "NOT answering yet"
        return f"kafka: running, pid {self.pid}, {state} on {s.bootstrap}; log {s.log_file}"


def _resource(name: str) -> Path:
    return Path(str(resources.files("sisec_stream.kafka").joinpath(name)))


def _have_jars(lib: Path) -> bool:
    names = [p.name for p in lib.glob("*.jar")] if lib.is_dir() else []
    return all(any(n.startswith(prefix) for n in names) for prefix in _REQUIRED_JARS)


def ensure_jars(settings: BrokerSettings) -> Path:
    """Fetch the broker jars with Maven into ``settings.jars`` unless present."""
    lib = settings.jars
    if _have_jars(lib):
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError(
            "Maven (mvn) is not on PATH; it fetches the Kafka jars from Maven Central. "
            "Install it (Debian: apt-get install maven) and retry."
        )
    lib.mkdir(parents=True, exist_ok=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(_resource("pom.xml")),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={lib.resolve()}",
        "-DincludeScope=runtime",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not _have_jars(lib):
        tail = (proc.stdout + proc.stderr)[-2000:]
        raise BrokerError(f"Maven could not fetch the Kafka jars into {lib}:\n{tail}")
    return lib


def _server_properties(s: BrokerSettings) -> str:
    controller = f"{s.host}:{s.port + 1}"
    return "\n".join(
        [
            "# Written by sisec-stream kafka start; edits are overwritten.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{controller}",
            f"listeners=PLAINTEXT://{s.bootstrap},CONTROLLER://{controller}",
            f"advertised.listeners=PLAINTEXT://{s.bootstrap}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={s.data_dir.resolve()}",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            # One node: no point waiting for other group members to join.
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "",
        ]
    )


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise BrokerError("java is not on PATH; Kafka needs Java 17 (Debian: openjdk-17-jre)")
    return java


def _classpath(s: BrokerSettings) -> str:
    return str(s.jars.resolve() / "*")


def _cluster_id() -> str:
    """A random cluster id (22 base64url characters) that does not start with a
    dash: the storage tool would read ``-x...`` as an option and fail (one format
    in 64 did: the flaky broker start seen in session 2). Kafka's own ids avoid it
    the same way."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _format_storage(s: BrokerSettings) -> None:
    if (s.data_dir / "meta.properties").exists():
        return
    cluster_id = _cluster_id()
    cmd = [
        _java(),
        "-cp",
        _classpath(s),
        "-Xmx256m",
        f"-Dlog4j2.configurationFile={_resource('log4j2.properties')}",
        f"-Dsisec.kafka.log={s.log_file.resolve()}",
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(s.config_file),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BrokerError(f"formatting {s.data_dir} failed:\n{(proc.stdout + proc.stderr)[-2000:]}")


def _read_pid(s: BrokerSettings) -> int | None:
    try:
        pid = int(s.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _is_our_broker(pid, s) else None


def _is_our_broker(pid: int, s: BrokerSettings) -> bool:
    """The pid is alive and is the broker started with our config (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return _MAIN_CLASS.encode() in cmdline and str(s.config_file.resolve()).encode() in cmdline


def _answers(s: BrokerSettings, timeout: float = 1.0) -> bool:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    quiet = logging.getLogger("sisec_stream.kafka.probe")
    quiet.setLevel(logging.CRITICAL)
    # librdkafka takes a logging.Logger here (its stubs only list scalar values).
    admin = AdminClient({"bootstrap.servers": s.bootstrap, "logger": quiet})  # type: ignore[dict-item]
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException:
        return False
    return True


def status(settings: BrokerSettings | None = None) -> BrokerStatus:
    """Is our broker running, and does it answer?"""
    s = settings or BrokerSettings()
    pid = _read_pid(s)
    return BrokerStatus(pid, pid is not None and _answers(s), s)


def _log_tail(s: BrokerSettings, n: int = 30) -> str:
    for path in (s.home / "broker.out", s.log_file):
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        if lines:
            return f"last lines of {path}:\n" + "\n".join(lines[-n:])
    return "(no log written)"


def start(settings: BrokerSettings | None = None, timeout: float = 90.0) -> BrokerStatus:
    """Start the broker unless ours is already running; wait until it answers."""
    s = settings or BrokerSettings()
    current = status(s)
    if current.answering:
        return current
    if current.running and current.pid is not None:
        pid = current.pid
        return _wait_answering(s, pid, lambda: _is_our_broker(pid, s), timeout)
    s.home.mkdir(parents=True, exist_ok=True)
    ensure_jars(s)
    s.config_file.write_text(_server_properties(s))
    _format_storage(s)
    cmd = [
        _java(),
        f"-Xmx{s.heap}",
        f"-Xms{s.heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={_resource('log4j2.properties')}",
        f"-Dsisec.kafka.log={s.log_file.resolve()}",
        "-cp",
        _classpath(s),
        _MAIN_CLASS,
        str(s.config_file.resolve()),
    ]
    with (s.home / "broker.out").open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal must not kill the broker
        )
    _children[proc.pid] = proc
    s.pid_file.write_text(f"{proc.pid}\n")
    # Our own child: poll() is exact (its /proc cmdline is Python's until exec).
    return _wait_answering(s, proc.pid, lambda: proc.poll() is None, timeout)


def _wait_answering(
    s: BrokerSettings, pid: int, alive: Callable[[], bool], timeout: float
) -> BrokerStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            child = _children.pop(pid, None)
            if child is not None:
                child.wait()
            s.pid_file.unlink(missing_ok=True)
            raise BrokerError(f"the broker exited during start-up. {_log_tail(s)}")
        if _answers(s):
            return BrokerStatus(pid, True, s)
        time.sleep(0.5)
    raise BrokerError(
        f"the broker (pid {pid}) did not answer on {s.bootstrap} within {timeout:.0f} s; "
        f"it is left running for inspection (stop it with `sisec-stream kafka stop`). "
        f"{_log_tail(s)}"
    )


def stop(settings: BrokerSettings | None = None, timeout: float = 30.0) -> bool:
    """Stop our broker by its recorded pid (SIGTERM, then SIGKILL after ``timeout``).

    Returns:
        True if a broker was stopped, False if none of ours was running.
    """
    s = settings or BrokerSettings()
    pid = _read_pid(s)
    if pid is None:
        s.pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _is_our_broker(pid, s):
        time.sleep(0.2)
    if _is_our_broker(pid, s):
        os.kill(pid, signal.SIGKILL)
        while _is_our_broker(pid, s) and time.monotonic() < deadline + 10:
            time.sleep(0.1)
    child = _children.pop(pid, None)
    if child is not None:
        child.wait(timeout=10)  # reap our own child
    s.pid_file.unlink(missing_ok=True)
    return True
