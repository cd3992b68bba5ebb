"""The Kafka half of the local stack: a single-node KRaft broker run from Maven-resolved jars.

Layout under ``<state_dir>/kafka``: ``libs/`` (jars + ``.complete`` marker), ``server.properties``
(rendered from ``deploy/kafka/server.properties``), ``data/`` (log.dirs), ``broker.log``,
``broker.pid`` and ``maven.log``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from string import Template

from processors.config import Settings
from processors.stack.common import (
    DEPLOY_DIR,
    Deadline,
    StackError,
    cmdline,
    log_tail,
    note,
    pid_alive,
    port_open,
    require_tool,
    run,
    say,
)

HOST = "127.0.0.1"
BROKER_PORT = 9092
CONTROLLER_PORT = 9093
ADDRESS = f"{HOST}:{BROKER_PORT}"

POM = DEPLOY_DIR / "kafka" / "pom.xml"
PROPERTIES_TEMPLATE = DEPLOY_DIR / "kafka" / "server.properties"
LOG4J_CONFIG = DEPLOY_DIR / "kafka" / "log4j2.xml"
JAVA_HEAP = "-Xmx768m"
MIN_JAVA = 17
STOP_GRACE_SECONDS = 30.0
PROBE_TIMEOUT_MS = 3000
LOG_ROTATE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class KafkaPaths:
    """Where the managed broker keeps its files."""

    root: Path

    @classmethod
    def of(cls, settings: Settings) -> KafkaPaths:
        return cls(settings.state_dir / "kafka")

    @property
    def libs(self) -> Path:
        return self.root / "libs"

    @property
    def libs_marker(self) -> Path:
        return self.libs / ".complete"

    @property
    def properties(self) -> Path:
        return self.root / "server.properties"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "broker.log"

    @property
    def maven_log(self) -> Path:
        return self.root / "maven.log"

    @property
    def pid_file(self) -> Path:
        return self.root / "broker.pid"


@dataclass
class Broker:
    """A broker to use: already answering (``ready``) or still starting."""

    address: str
    managed: bool
    pid: int | None = None
    process: subprocess.Popen[bytes] | None = None  # set when this run started it
    ready: bool = False

    @property
    def started_now(self) -> bool:
        return self.process is not None


# --------------------------------------------------------------------------- probing


@contextlib.contextmanager
def _quiet_kafka_client() -> Iterator[None]:
    """Silence kafka-python's connection errors while probing a port that may be closed."""
    logger = logging.getLogger("kafka")
    previous = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(previous)


def parse_bootstrap(bootstrap: str) -> tuple[str, int]:
    """Host and port of the first ``host:port`` entry of a bootstrap list."""
    first = bootstrap.split(",")[0].strip()
    host, sep, port = first.rpartition(":")
    if not sep or not port.isdigit():
        return first or "localhost", BROKER_PORT
    return host.strip("[]") or "localhost", int(port)


def cluster_id_at(address: str) -> str | None:
    """The cluster id of the Kafka broker answering at ``address``, or None if none answers."""
    from kafka import KafkaAdminClient  # imported lazily: it is slow and only needed here

    with _quiet_kafka_client():
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=address,
                client_id="dealflow-stack",
                bootstrap_timeout_ms=PROBE_TIMEOUT_MS,
                request_timeout_ms=PROBE_TIMEOUT_MS,
            )
        except Exception:  # noqa: BLE001 - any failure means "no Kafka broker here"
            return None
        try:
            cluster_id = admin.describe_cluster().get("cluster_id")
        except Exception:  # noqa: BLE001
            return None
        finally:
            admin.close()
    return cluster_id or None


def own_cluster_id(paths: KafkaPaths) -> str | None:
    """The cluster id our data directory was formatted with (None before the first format)."""
    meta = paths.data / "meta.properties"
    try:
        for line in meta.read_text().splitlines():
            if line.startswith("cluster.id="):
                return line.split("=", 1)[1].strip()
    except OSError:
        return None
    return None


def managed_pid(paths: KafkaPaths) -> int | None:
    """Pid of the broker we started, if it is still running (checked against its command line)."""
    try:
        pid = int(paths.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    args = cmdline(pid)
    if pid_alive(pid) and "kafka.Kafka" in args and str(paths.properties) in args:
        return pid
    return None


# --------------------------------------------------------------------------- up


def start_kafka(settings: Settings) -> Broker:
    """Find a broker to use or start ours (without waiting for it); see ``wait_for_kafka``."""
    paths = KafkaPaths.of(settings)
    host, port = parse_bootstrap(settings.kafka_bootstrap)
    address = f"{host}:{port}"
    pid = managed_pid(paths)
    ours = host in ("127.0.0.1", "localhost") and port == BROKER_PORT

    if port_open(host, port):
        cluster_id = cluster_id_at(address)
        if cluster_id is not None:
            managed = pid is not None and cluster_id == own_cluster_id(paths)
            if managed:
                say(f"Kafka already up at {ADDRESS} (pid {pid}, managed)")
                return Broker(ADDRESS, managed=True, pid=pid, ready=True)
            say(f"Kafka broker already answering at {address}: reusing it (not managed by dealflow)")
            return Broker(address, managed=False, ready=True)
        if pid is None or not ours:
            raise StackError(
                f"{address} (DEALFLOW_KAFKA_BOOTSTRAP) is taken by something that is not a "
                f"Kafka broker; stop that program or point DEALFLOW_KAFKA_BOOTSTRAP elsewhere"
            )
    if pid is not None:
        say(f"Kafka broker already started (pid {pid}, managed); waiting for it to answer")
        return Broker(ADDRESS, managed=True, pid=pid)

    _check_ports_free()
    java = _require_java()
    _resolve_jars(paths)
    _render_properties(paths, settings.partitions)
    _format_storage(paths, java)
    return _spawn_broker(paths, java)


def wait_for_kafka(broker: Broker, settings: Settings, deadline: Deadline) -> None:
    """Block until ``broker`` answers a metadata request; StackError (with log tail) otherwise."""
    if broker.ready:
        return
    paths = KafkaPaths.of(settings)
    say(f"waiting for Kafka at {broker.address}")
    started = time.monotonic()
    while True:
        exit_code = _exit_code(broker)
        if exit_code is not None:
            paths.pid_file.unlink(missing_ok=True)
            raise StackError(
                f"the Kafka broker exited during startup ({exit_code}); "
                f"last lines of {paths.log}:\n{log_tail(paths.log)}"
            )
        if port_open(HOST, BROKER_PORT) and cluster_id_at(broker.address) is not None:
            broker.ready = True
            note(f"Kafka answered after {time.monotonic() - started:.1f} s")
            return
        if deadline.expired():
            raise StackError(
                f"the Kafka broker (pid {broker.pid}) did not answer at {broker.address} within "
                f"{deadline.seconds:.0f} s; it was left running (`dealflow stack down` stops it). "
                f"Last lines of {paths.log}:\n{log_tail(paths.log)}"
            )
        time.sleep(0.5)


def _exit_code(broker: Broker) -> str | None:
    """Description of how the starting broker ended, or None while it is still running."""
    if broker.process is not None:
        code = broker.process.poll()
        return None if code is None else f"exit code {code}"
    if broker.pid is not None and not pid_alive(broker.pid):
        return "process gone"
    return None


def _check_ports_free() -> None:
    """StackError when the broker or controller port is taken by a program that is not ours."""
    if port_open(HOST, BROKER_PORT):
        if cluster_id_at(ADDRESS) is not None:
            raise StackError(
                f"another Kafka broker (not managed by dealflow) already listens on {ADDRESS}; "
                f"use it with `export DEALFLOW_KAFKA_BOOTSTRAP={ADDRESS}` or stop it first"
            )
        raise StackError(
            f"port {ADDRESS} is taken by a program that is not a Kafka broker; "
            f"stop it (see `ss -ltnp 'sport = :{BROKER_PORT}'`) and run `dealflow stack up` again"
        )
    if port_open(HOST, CONTROLLER_PORT):
        raise StackError(
            f"port {HOST}:{CONTROLLER_PORT} (the KRaft controller port) is taken by another "
            f"program; stop it (see `ss -ltnp 'sport = :{CONTROLLER_PORT}'`) and try again"
        )


def _require_java() -> str:
    """Path of ``java``; StackError when it is missing or older than Java 17."""
    java = require_tool("java", "openjdk-17-jre-headless")
    output = run([java, "-version"], what="`java -version`")
    match = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if match:
        major = int(match.group(1))
        if major == 1 and match.group(2):  # old "1.8" style
            major = int(match.group(2))
        if major < MIN_JAVA:
            raise StackError(
                f"Kafka 4 needs Java {MIN_JAVA} or newer but `java` is Java {major}; "
                f"install openjdk-17-jre-headless (`apt-get install openjdk-17-jre-headless`)"
            )
    return java


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def _resolve_jars(paths: KafkaPaths) -> None:
    """Copy the broker's jars into ``libs/`` with Maven unless a previous run completed it."""
    digest = _pom_digest()
    if paths.libs_marker.is_file() and paths.libs_marker.read_text().strip() == digest:
        return
    mvn = require_tool("mvn", "maven")
    say("resolving Kafka jars with Maven (first run only)…")
    paths.libs.mkdir(parents=True, exist_ok=True)
    for stale in paths.libs.glob("*.jar"):  # the pom changed, or an earlier run broke off
        stale.unlink()
    cmd = [
        mvn,
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={paths.libs}",
    ]
    try:
        output = run(cmd, what="Maven (resolving the Kafka jars)")
    except StackError as exc:
        raise StackError(f"{exc}\n    (check network access to Maven Central)") from exc
    paths.maven_log.write_text(output)
    if not any(paths.libs.glob("kafka_2.13-*.jar")):
        raise StackError(f"Maven finished but no Kafka jar is in {paths.libs}; see {paths.maven_log}")
    paths.libs_marker.write_text(digest + "\n")
    note(f"{sum(1 for _ in paths.libs.glob('*.jar'))} jars in {paths.libs}")


def _render_properties(paths: KafkaPaths, partitions: int) -> None:
    """Write ``server.properties`` from the template in ``deploy/kafka``."""
    values = {
        "host": HOST,
        "broker_port": BROKER_PORT,
        "controller_port": CONTROLLER_PORT,
        "log_dirs": str(paths.data),
        "num_partitions": partitions,
    }
    text = Template(PROPERTIES_TEMPLATE.read_text()).substitute(values)
    paths.properties.write_text(text)


def _java_cmd(java: str, paths: KafkaPaths, *args: str) -> list[str]:
    """A java command line with the broker's classpath and logging config."""
    return [
        java,
        "-cp",
        f"{paths.libs}/*",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        *args,
    ]


def _new_cluster_id() -> str:
    """Base64url of 16 random bytes, no padding (and not starting with '-', like Kafka's)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _format_storage(paths: KafkaPaths, java: str) -> None:
    """Format the KRaft storage directory once (it keeps its cluster id afterwards)."""
    if own_cluster_id(paths) is not None:
        return
    cluster_id = _new_cluster_id()
    say(f"formatting Kafka storage in {paths.data} (cluster id {cluster_id})")
    cmd = _java_cmd(
        java,
        paths,
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(paths.properties),
    )
    run(cmd, what="Kafka StorageTool format", timeout=120)


def _spawn_broker(paths: KafkaPaths, java: str) -> Broker:
    """Start the broker fully detached, logging to ``broker.log``; write the pid file."""
    say(f"starting Kafka {ADDRESS} (log: {paths.log})")
    _rotate(paths.log)
    cmd = _java_cmd(java, paths, "kafka.Kafka", str(paths.properties))
    cmd.insert(1, JAVA_HEAP)
    with paths.log.open("ab") as log:
        log.write(f"\n===== dealflow stack up: starting broker at {time.ctime()} =====\n".encode())
        log.flush()
        process = subprocess.Popen(
            cmd,
            cwd=paths.root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    paths.pid_file.write_text(f"{process.pid}\n")
    return Broker(ADDRESS, managed=True, pid=process.pid, process=process)


def _rotate(log: Path) -> None:
    """Keep one old broker log once the current one grows large."""
    with contextlib.suppress(OSError):
        if log.stat().st_size > LOG_ROTATE_BYTES:
            log.replace(log.with_suffix(".log.1"))


# --------------------------------------------------------------------------- status / down


@dataclass(frozen=True)
class KafkaStatus:
    """What ``status`` reports about Kafka."""

    up: bool
    address: str
    detail: str


def kafka_status(settings: Settings) -> KafkaStatus:
    """Whether a broker answers (ours, at 127.0.0.1:9092, or the configured bootstrap)."""
    paths = KafkaPaths.of(settings)
    pid = managed_pid(paths)
    if pid is not None:
        address = ADDRESS
    else:
        host, port = parse_bootstrap(settings.kafka_bootstrap)
        address = f"{host}:{port}"
    host, port = parse_bootstrap(address)
    cluster_id = cluster_id_at(address) if port_open(host, port) else None
    if cluster_id is None:
        detail = f"(pid {pid}, managed, not answering; see {paths.log})" if pid else ""
        return KafkaStatus(False, address, detail)
    if pid is not None and cluster_id == own_cluster_id(paths):
        return KafkaStatus(True, address, f"(pid {pid}, managed)")
    return KafkaStatus(True, address, "(external, not managed by dealflow)")


def stop_kafka(settings: Settings) -> None:
    """Stop the broker we started (SIGTERM, then SIGKILL after 30 s); never touch others."""
    paths = KafkaPaths.of(settings)
    pid = managed_pid(paths)
    if pid is None:
        paths.pid_file.unlink(missing_ok=True)
        say("Kafka: no managed broker running (nothing to stop)")
        return
    say(f"stopping Kafka (pid {pid})")
    started = time.monotonic()
    _signal(pid, signal.SIGTERM)
    if not _wait_gone(pid, STOP_GRACE_SECONDS):
        note(f"still running after {STOP_GRACE_SECONDS:.0f} s: sending SIGKILL")
        _signal(pid, signal.SIGKILL)
        if not _wait_gone(pid, 10.0):
            raise StackError(f"could not stop the Kafka broker (pid {pid})")
    paths.pid_file.unlink(missing_ok=True)
    note(f"stopped after {time.monotonic() - started:.1f} s")


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pid: int, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``pid`` to exit; True when it did."""
    deadline = Deadline.after(seconds)
    while not deadline.expired():
        if not pid_alive(pid):
            return True
        time.sleep(0.2)
    return not pid_alive(pid)
