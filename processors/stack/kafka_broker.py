"""The Kafka half of the local stack: a single-node KRaft broker run from Maven-resolved jars.

Finding a broker to use or starting ours, waiting for it, its status and stopping it; its
files (jars, config, storage) are prepared by ``processors.stack.kafka_setup``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processors.config import Settings
from processors.stack.common import (
    Deadline,
    StackError,
    cmdline,
    log_tail,
    note,
    pid_alive,
    port_open,
    say,
)
from processors.stack.kafka_setup import (
    BROKER_PORT,
    CONTROLLER_PORT,
    HOST,
    KafkaPaths,
    format_storage,
    java_cmd,
    own_cluster_id,
    render_properties,
    require_java,
    resolve_jars,
)

ADDRESS = f"{HOST}:{BROKER_PORT}"

JAVA_HEAP = "-Xmx768m"
STOP_GRACE_SECONDS = 30.0
PROBE_TIMEOUT_MS = 3000
LOG_ROTATE_BYTES = 50 * 1024 * 1024


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


def _probe(address: str, ask: Callable[[Any], Any]) -> Any:
    """``ask(admin)`` of the broker at ``address`` through a short-lived admin client; None on any failure."""
    from kafka import KafkaAdminClient  # imported lazily: it is slow and only needed here

    with _quiet_kafka_client():
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=address,
                client_id="dealflow-stack",
                bootstrap_timeout_ms=PROBE_TIMEOUT_MS,
                request_timeout_ms=PROBE_TIMEOUT_MS,
            )
        except Exception:  # noqa: BLE001 - any failure means "no Kafka broker here (yet)"
            return None
        try:
            return ask(admin)
        except Exception:  # noqa: BLE001
            return None
        finally:
            admin.close()


def cluster_id_at(address: str) -> str | None:
    """The cluster id of the Kafka broker answering at ``address``, or None if none answers."""
    cluster_id = _probe(address, lambda admin: admin.describe_cluster().get("cluster_id"))
    return cluster_id or None


def group_coordinator_at(address: str) -> bool:
    """Whether the broker at ``address`` names a group coordinator (it creates ``__consumer_offsets``
    on first ask; until then it answers CoordinatorNotAvailable)."""
    def ask(admin: Any) -> bool:
        admin.list_group_offsets({"dealflow-stack-probe": None})  # raises while there is no coordinator
        return True

    return _probe(address, ask) is True


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
    java = require_java()
    resolve_jars(paths)
    render_properties(paths, settings.partitions)
    format_storage(paths, java)
    return _spawn_broker(paths, java)


def wait_for_kafka(broker: Broker, settings: Settings, deadline: Deadline) -> None:
    """Block until ``broker`` answers metadata and group-coordinator requests; StackError (with log tail) otherwise."""
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
        if (port_open(HOST, BROKER_PORT) and cluster_id_at(broker.address) is not None
                and group_coordinator_at(broker.address)):
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


def _spawn_broker(paths: KafkaPaths, java: str) -> Broker:
    """Start the broker fully detached, logging to ``broker.log``; write the pid file."""
    say(f"starting Kafka {ADDRESS} (log: {paths.log})")
    _rotate(paths.log)
    cmd = java_cmd(java, paths, "kafka.Kafka", str(paths.properties))
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
