"""Kafka with SASL: the right credentials work (PLAIN and SCRAM), wrong ones fail clearly and process nothing.

Runs a second, private Apache Kafka broker (the same jars as `dealflow stack up`) with a
SASL_PLAINTEXT listener on free ports.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from processors.config import Settings, Topics
from processors.stack.kafka_setup import new_cluster_id
from tests.builders import create_message
from tests.helpers import require_tool, unavailable
from tests.integration.support import REPO_ROOT, WorkerProcess, fresh_database, settings_env, wait_for

ADMIN, ADMIN_SECRET = "admin", "admin-secret"
USER, SECRET = "dealflow", "dealflow-secret"
SCRAM_USER, SCRAM_SECRET = "scram-user", "scram-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def sasl_broker(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    java = require_tool("java")
    libs = base_settings.state_dir / "kafka" / "libs"
    if not any(libs.glob("kafka_2.13-*.jar")):
        unavailable(f"no Kafka jars in {libs}: run `dealflow stack up` first")
    home = tmp_path_factory.mktemp("sasl-broker")
    port, controller = _free_port(), _free_port()
    jaas_plain = (f'org.apache.kafka.common.security.plain.PlainLoginModule required username="{ADMIN}" '
                  f'password="{ADMIN_SECRET}" user_{ADMIN}="{ADMIN_SECRET}" user_{USER}="{SECRET}";')
    jaas_scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    (home / "server.properties").write_text("\n".join([
        "process.roles=broker,controller", "node.id=1", f"controller.quorum.voters=1@127.0.0.1:{controller}",
        f"listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}", "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=SASL_PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256", "sasl.mechanism.inter.broker.protocol=PLAIN",
        f"listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas_plain}",
        f"listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config={jaas_scram}",
        f"log.dirs={home / 'data'}", "num.partitions=2", "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0", "auto.create.topics.enable=true", "",
    ]))
    classpath = f"{libs}/*"
    cluster = new_cluster_id()  # never starting with "-", which the storage tool would read as an option
    subprocess.run([java, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", cluster, "-c",
                    str(home / "server.properties"), "--add-scram",
                    f"SCRAM-SHA-256=[name={SCRAM_USER},password={SCRAM_SECRET}]"],
                   check=True, capture_output=True, timeout=120)
    log = open(home / "broker.log", "wb")
    broker = subprocess.Popen([java, "-Xmx512m", "-cp", classpath, "kafka.Kafka", str(home / "server.properties")],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail(f"the SASL broker did not start:\n{(home / 'broker.log').read_text()[-3000:]}")
        time.sleep(3)  # let the controller elect itself
        yield f"127.0.0.1:{port}"
    finally:
        broker.terminate()
        try:
            broker.wait(30)
        except subprocess.TimeoutExpired:
            broker.kill()
        log.close()


def _env(settings: Settings, mechanism: str, user: str, password: str) -> dict[str, str]:
    return settings_env(settings) | {
        "DEALFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "DEALFLOW_KAFKA_SASL_MECHANISM": mechanism,
        "DEALFLOW_KAFKA_SASL_USERNAME": user, "DEALFLOW_KAFKA_SASL_PASSWORD": password}


def _topics(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "processors.cli", "topics"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _settings(base: Settings, bootstrap: str) -> Settings:
    run = uuid.uuid4().hex[:6]
    topics = Topics(**{name: f"sasl{run}.{value}" for name, value in Topics().__dict__.items()})
    return replace(base, kafka_bootstrap=bootstrap, topics=topics, app_id=f"dealflow-sasl-{run}", metrics_port=0,
                   partitions=2)


def test_wrong_credentials_fail_clearly_and_process_nothing(sasl_broker: str, base_settings: Settings,
                                                           tmp_path: Path) -> None:
    settings = _settings(base_settings, sasl_broker)
    env = _env(settings, "PLAIN", USER, "not-the-password")
    result = _topics(env)
    assert result.returncode != 0
    assert "credentials were refused" in result.stderr and "not-the-password" not in result.stderr
    worker = subprocess.run([sys.executable, "-m", "processors.cli", "worker"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert worker.returncode != 0 and "credentials were refused" in worker.stderr
    assert "not-the-password" not in worker.stderr + worker.stdout
    created = _topics(_env(settings, "PLAIN", ADMIN, ADMIN_SECRET))
    assert created.returncode == 0 and settings.topics.commands in created.stdout  # nothing was created before


def test_scram_credentials_work(sasl_broker: str, base_settings: Settings) -> None:
    result = _topics(_env(_settings(base_settings, sasl_broker), "SCRAM-SHA-256", SCRAM_USER, SCRAM_SECRET))
    assert result.returncode == 0, result.stderr
    assert "created:" in result.stdout


def test_worker_processes_with_the_right_plain_credentials(sasl_broker: str, base_settings: Settings,
                                                           tmp_path: Path) -> None:
    settings = _settings(base_settings, sasl_broker)
    with fresh_database(base_settings) as url:
        settings = replace(settings, database_url=url)
        env = _env(settings, "PLAIN", USER, SECRET)
        assert _topics(env).returncode == 0
        worker = WorkerProcess(settings, tmp_path / "sasl-worker.log", "--only", "processors", extra_env={
            k: v for k, v in env.items() if k.startswith("DEALFLOW_KAFKA_")})
        try:
            from kafka import KafkaConsumer, KafkaProducer

            options: dict[str, Any] = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
                                       "sasl_plain_username": USER, "sasl_plain_password": SECRET}
            message = create_message(deal_id="sasl-deal", event_id="sasl-1")
            producer = KafkaProducer(bootstrap_servers=sasl_broker, **options)
            producer.send(settings.topics.commands, key=b"sasl-deal", value=json.dumps(message).encode())
            producer.flush()
            producer.close()
            consumer = KafkaConsumer(settings.topics.events, bootstrap_servers=sasl_broker,
                                     auto_offset_reset="earliest", **options)
            facts: list[dict[str, Any]] = []

            def created() -> bool:
                for records in consumer.poll(timeout_ms=500).values():
                    facts.extend(json.loads(r.value) for r in records)
                return any(f["type"] == "deal.created" and f["caused_by"] == "sasl-1" for f in facts)

            wait_for(created, timeout=120, what="deal.created through the SASL broker", worker=worker)
            consumer.close()
            assert SECRET not in worker.output()
        finally:
            worker.stop()
    assert os.environ.get("DEALFLOW_KAFKA_SASL_PASSWORD") is None  # the test never leaked into this process
