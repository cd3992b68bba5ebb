"""The live and replay commands: ``worker`` (processors and projector), ``tail`` and ``backtest``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import IO, Any

from processors.cli.common import settings_of
from processors.cli.kafka_access import check_kafka_access
from processors.config import Settings
from processors.kafka.security import client_options


def start_projector(settings: Settings) -> tuple[threading.Thread, threading.Event]:
    """Run the projector in a background thread; set the event to stop it."""
    from processors.observability.instrument import ProjectorObserver
    from processors.playbooks.loader import load_playbook
    from projections.projector import Projector

    projector = Projector(settings.kafka_bootstrap, settings.database_url, settings.topics.events,
                          settings.topics.alerts, load_playbook(settings.playbook),
                          batch_size=settings.projector_batch,
                          observer=ProjectorObserver(), client_options=client_options(settings))
    stop = threading.Event()

    def run_or_exit() -> None:
        # Crash-only: a projector that died of an unexpected error takes the process with it, so
        # its supervisor restarts it (offsets are in the database: nothing is lost), rather than
        # leaving a worker that looks alive and projects nothing.
        try:
            projector.run(stop)
        except BaseException:
            import logging

            logging.getLogger("dealflow.projector").exception("the projector failed; exiting")
            os._exit(70)

    thread = threading.Thread(target=run_or_exit, name="projector", daemon=True)
    thread.start()
    return thread, stop


def _serve_http(settings: Settings) -> None:
    import logging

    from processors.observability.http_server import serve

    try:
        server = serve(settings)
    except OSError as exc:
        raise SystemExit(f"dealflow: cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: "
                         f"{exc.strerror} (set DEALFLOW_METRICS_PORT, or 0 for any free port)") from None
    host, port = server.server_address[:2]
    logging.getLogger("dealflow").warning("metrics and health on http://%s:%s/metrics /healthz /readyz", host, port)


def cmd_worker(args: argparse.Namespace) -> int:
    import logging.config

    from processors.observability.logs import logging_config
    from projections.migrate import apply_migrations

    settings = settings_of(args)
    logging.config.dictConfig(logging_config(args.loglevel, settings.log_format))
    check_kafka_access(settings)
    _serve_http(settings)
    if args.only in (None, "projector"):
        apply_migrations(settings.database_url)
    if args.only == "projector":
        from projections.projector import tune_collector

        thread, stop = start_projector(settings)
        tune_collector()  # as the batch worker's process does for the projector beside it
        try:
            while thread.is_alive():
                thread.join(0.5)
        except KeyboardInterrupt:
            stop.set()
            thread.join(10)
        return 0
    if args.only is None:
        start_projector(settings)
    if settings.runtime == "batch":
        from processors.runtime.batch_worker import run_batch_worker

        run_batch_worker(settings)
    else:
        from processors.runtime.worker import run_worker

        run_worker(settings, args.loglevel)
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from kafka import KafkaConsumer

    from processors.cli.render import render

    settings = settings_of(args)
    roles = {settings.topics.events: "events", settings.topics.alerts: "alerts",
             settings.topics.deadletter: "deadletter"}
    if args.no_facts:
        roles.pop(settings.topics.events)
    consumer = KafkaConsumer(*roles, bootstrap_servers=settings.kafka_bootstrap,
                             auto_offset_reset="earliest" if args.from_beginning else "latest",
                             enable_auto_commit=False, **client_options(settings))
    deadline = time.monotonic() + args.seconds if args.seconds else None
    try:
        while deadline is None or time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=300).values():
                for record in records:
                    try:
                        payload: dict[str, Any] = json.loads(record.value)
                    except ValueError:
                        continue
                    print(render(roles[record.topic], payload), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return 0


def _open_in(path: str) -> IO[str]:
    return sys.stdin if path == "-" else open(path, encoding="utf-8")


def cmd_backtest(args: argparse.Namespace) -> int:
    from processors.playbooks.loader import load_playbook
    from processors.replay.backtest import run_backtest

    playbook = load_playbook(settings_of(args).playbook)
    alerts_out = open(args.out, "wb") if args.out else sys.stdout.buffer
    events_out = open(args.events_out, "wb") if args.events_out else None
    projection = None
    if args.database_url:
        from projections.direct import DirectProjection

        projection = DirectProjection(args.database_url, playbook)
    with _open_in(args.input) as lines:
        summary = run_backtest(lines, playbook, alerts_out, events_out, as_of=args.as_of,
                               sink=projection.add if projection else None)
    if projection is not None:
        projection.close()
        print(f"projected {projection.written:,} facts and alerts into the database", file=sys.stderr)
    for stream in (alerts_out, events_out):
        if stream is not None and stream is not sys.stdout.buffer:
            stream.close()
    print(summary.render(), file=sys.stderr)
    return 0
