"""Preparing the managed Kafka broker's files: Java, the Maven-resolved jars, its config, its storage.

Layout under ``<state_dir>/kafka``: ``libs/`` (jars + ``.complete`` marker), ``server.properties``
(rendered from ``deploy/kafka/server.properties``), ``data/`` (log.dirs), ``broker.log``,
``broker.pid`` and ``maven.log``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from processors.config import Settings
from processors.stack.common import DEPLOY_DIR, StackError, note, require_tool, run, say

HOST = "127.0.0.1"
BROKER_PORT = 9092
CONTROLLER_PORT = 9093

POM = DEPLOY_DIR / "kafka" / "pom.xml"
PROPERTIES_TEMPLATE = DEPLOY_DIR / "kafka" / "server.properties"
LOG4J_CONFIG = DEPLOY_DIR / "kafka" / "log4j2.xml"
MIN_JAVA = 17


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


def require_java() -> str:
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


def resolve_jars(paths: KafkaPaths) -> None:
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


def render_properties(paths: KafkaPaths, partitions: int) -> None:
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


def java_cmd(java: str, paths: KafkaPaths, *args: str) -> list[str]:
    """A java command line with the broker's classpath and logging config."""
    return [
        java,
        "-cp",
        f"{paths.libs}/*",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        *args,
    ]


def new_cluster_id() -> str:
    """Base64url of 16 random bytes, no padding (and not starting with '-', like Kafka's)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def format_storage(paths: KafkaPaths, java: str) -> None:
    """Format the KRaft storage directory once (it keeps its cluster id afterwards)."""
    if own_cluster_id(paths) is not None:
        return
    cluster_id = new_cluster_id()
    say(f"formatting Kafka storage in {paths.data} (cluster id {cluster_id})")
    cmd = java_cmd(
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
