"""The ``dealflow`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from datetime import datetime, timezone
from typing import IO, Any

from processors.config import Settings
from processors.kafka.security import KafkaSecurity, KafkaSecurityError, client_options


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    playbook = getattr(args, "playbook", None)
    if playbook:
        settings = Settings(**{**settings.__dict__, "playbook": playbook})
    return settings


def cmd_stack(args: argparse.Namespace) -> int:
    from processors.stack import manager as stack

    settings = _settings(args)
    try:
        if args.action == "up":
            stack.up(settings)
        elif args.action == "down":
            stack.down(settings)
        else:
            return stack.status(settings)
    except stack.StackError as exc:
        print(f"dealflow stack {args.action}: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from processors.kafka.topics import ensure_topics

    settings = _settings(args)
    check_kafka_access(settings)
    created = ensure_topics(settings.kafka_bootstrap, settings.topics.all(), settings.partitions,
                            client_options(settings), settings.replication_factor)
    print("created: " + (", ".join(created) if created else "nothing (all topics exist)"))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from projections.migrate import apply_migrations

    applied = apply_migrations(_settings(args).database_url)
    print("applied: " + (", ".join(applied) if applied else "nothing (schema is up to date)"))
    return 0


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


def _progress(total: int) -> Any:
    def show(done: int) -> None:
        width = 40
        filled = int(width * done / total) if total else width
        print(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done:>9,}/{total:,} records", end="", flush=True)

    return show


def cmd_rebuild(args: argparse.Namespace) -> int:
    from processors.playbooks.loader import load_playbook
    from projections.migrate import apply_migrations
    from projections.projector import Projector

    settings = _settings(args)
    apply_migrations(settings.database_url)
    projector = Projector(settings.kafka_bootstrap, settings.database_url, settings.topics.events,
                          settings.topics.alerts, load_playbook(settings.playbook), batch_size=args.batch_size,
                          client_options=client_options())
    projector.start()
    try:
        total = projector.reset()
        print(f"==> rebuilding the projections from offset 0 of {settings.topics.events} and "
              f"{settings.topics.alerts} ({total:,} records)")
        started = time.monotonic()
        written = projector.catch_up(_progress(total))
        elapsed = time.monotonic() - started
        print(f"\n==> done: {written:,} records in {elapsed:.1f}s ({written / max(elapsed, 1e-9):,.0f}/s)")
    finally:
        projector.close()
    return 0


def check_kafka_access(settings: Settings) -> None:
    """Fail fast, with a clear message and before processing anything, when Kafka refuses us."""
    import logging

    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError


    class Remember(logging.Handler):  # the client logs why a connection failed; keep it for the message
        def __init__(self) -> None:
            super().__init__(logging.INFO)
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    remember = Remember()
    kafka_logger = logging.getLogger("kafka")
    level = kafka_logger.level
    kafka_logger.addHandler(remember)
    kafka_logger.setLevel(logging.INFO)
    try:
        security = KafkaSecurity.from_settings(settings.kafka_security)
        KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10_000,
                         bootstrap_timeout_ms=10_000, **security.client_options()).close()
    except KafkaSecurityError as exc:
        raise SystemExit(f"dealflow: {exc}") from None
    except KafkaError as exc:
        hint = ("the credentials were refused: check DEALFLOW_KAFKA_SASL_USERNAME, DEALFLOW_KAFKA_SASL_PASSWORD "
                "and DEALFLOW_KAFKA_SASL_MECHANISM" if _credentials_refused(security, exc, remember.messages)
                else "is the broker up and the security protocol right?")
        raise SystemExit(f"dealflow: cannot connect to Kafka at {settings.kafka_bootstrap} "
                         f"({security.describe()}): {type(exc).__name__}; {hint}") from None
    finally:
        kafka_logger.removeHandler(remember)
        kafka_logger.setLevel(level)


def _credentials_refused(security: KafkaSecurity, exc: Exception, client_log: list[str]) -> bool:
    """Whether a failed connection means the broker refused our SASL credentials.

    The broker answers bad credentials with an authentication error and closes the connection;
    under load the client may see only the close. So: an authentication error, or a SASL
    connection that the broker accepted but closed before the client finished connecting.
    """
    text = type(exc).__name__ + " " + " ".join(client_log)
    if "uthentication" in text:
        return True
    reached = any(": connected to " in line for line in client_log)
    completed = any(line.endswith(": Connected") for line in client_log)
    return security.uses_sasl and reached and not completed and "disconnected" in text


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

    settings = _settings(args)
    logging.config.dictConfig(logging_config(args.loglevel, settings.log_format))
    check_kafka_access(settings)
    _serve_http(settings)
    if args.only in (None, "projector"):
        apply_migrations(settings.database_url)
    if args.only == "projector":
        thread, stop = start_projector(settings)
        try:
            while thread.is_alive():
                thread.join(0.5)
        except KeyboardInterrupt:
            stop.set()
            thread.join(10)
        return 0
    if args.only is None:
        start_projector(settings)
    from processors.runtime.worker import run_worker

    run_worker(settings, args.loglevel)
    return 0


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give a timezone offset, e.g. 2026-03-31T23:59:59Z")
    return moment


def _open_in(path: str) -> IO[str]:
    return sys.stdin if path == "-" else open(path, encoding="utf-8")


def cmd_backtest(args: argparse.Namespace) -> int:
    from processors.playbooks.loader import load_playbook
    from processors.replay.backtest import run_backtest

    playbook = load_playbook(_settings(args).playbook)
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


def cmd_sample(args: argparse.Namespace) -> int:
    from processors.kafka.clients import produce
    from processors.tools.sample import sample_stream

    messages = sample_stream(datetime.now(timezone.utc))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            for message in messages:
                out.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
        print(f"wrote {len(messages)} messages to {args.out}")
        return 0
    settings = _settings(args)
    sent = produce(settings.kafka_bootstrap, settings.topics, messages, delay=args.delay)
    print(f"produced {sent} sample messages to {settings.topics.engagement} and {settings.topics.commands}")
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from kafka import KafkaConsumer

    from processors.cli.render import render

    settings = _settings(args)
    roles = {settings.topics.events: "events", settings.topics.alerts: "alerts",
             settings.topics.deadletter: "deadletter"}
    if args.no_facts:
        roles.pop(settings.topics.events)
    consumer = KafkaConsumer(*roles, bootstrap_servers=settings.kafka_bootstrap,
                             auto_offset_reset="earliest" if args.from_beginning else "latest",
                             enable_auto_commit=False, **client_options())
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


def cmd_benchmarks(args: argparse.Namespace) -> int:
    from pydantic import TypeAdapter

    from processors.core.benchmarks import BenchmarkLearner
    from processors.kafka.clients import read_topic
    from processors.playbooks.loader import load_playbook
    from schemas.facts import AnyFact

    settings = _settings(args)
    learner = BenchmarkLearner(load_playbook(settings.playbook))
    facts = TypeAdapter(AnyFact)
    read = 0
    for _, value in read_topic(settings.kafka_bootstrap, settings.topics.events, timeout=args.timeout):
        read += 1
        if b'"from_stage"' in value:
            learner.observe(facts.validate_json(value))
    print(f"stage benchmarks in use (from {read} facts in {settings.topics.events}):")
    for stage, days, source in learner.describe():
        print(f"  {stage:<16} {days:>8g} days  {source}")
    return 0


def cmd_pipeline(args: argparse.Namespace) -> int:
    from processors.cli.views import print_tables, stage_order, table, to_json
    from processors.playbooks.loader import load_playbook
    from projections.queries import pipeline

    settings = _settings(args)
    rows = stage_order(load_playbook(settings.playbook), pipeline(settings.database_url))
    if args.json:
        print(to_json(rows))
    else:
        print_tables(table("Pipeline: deals per stage", rows, ["status", "stage", "deals", "amount", "open_alerts"]))
    return 0


def cmd_deal(args: argparse.Namespace) -> int:
    from processors.cli.views import print_tables, table, to_json
    from projections.queries import deal

    found = deal(_settings(args).database_url, args.deal_id)
    if found is None:
        print(f"no deal {args.deal_id!r} in the projections", file=sys.stderr)
        return 1
    if args.json:
        print(to_json(found))
        return 0
    row = found["deal"]
    summary = [{"field": key, "value": value} for key, value in row.items()]
    print_tables(table(f"Deal {args.deal_id}", summary), table("Timeline", found["timeline"]),
                 table("Engagement", found["engagement"]))
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from processors.cli.views import print_tables, table, to_json
    from projections.queries import review

    rows = review(_settings(args).database_url, args.cadence, seed=args.seed, per_stage=args.per_stage)
    if args.json:
        print(to_json(rows))
        return 0
    titles = {"weekly": "Weekly review: every late-stage deal",
              "monthly": "Monthly review: mid-stage deals stuck longer than the stage average",
              "quarterly": f"Quarterly audit sample (seed {args.seed}, {args.per_stage} per stage)"}
    print_tables(table(titles[args.cadence], rows))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from processors.kafka.clients import produce
    from processors.playbooks.loader import load_playbook
    from processors.tools.simulate import SimulationSettings, simulate

    settings = _settings(args)
    end = args.end or datetime.now(timezone.utc)
    messages = simulate(SimulationSettings(deals=args.deals, days=args.days, seed=args.seed),
                        load_playbook(settings.playbook), end)
    if args.out:
        with (sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")) as out:
            for message in messages:
                out.write(json.dumps(message) + "\n")
        print(f"simulated {len(messages):,} messages for {args.deals:,} deals over {args.days:g} days "
              f"(seed {args.seed})", file=sys.stderr)
        return 0
    delay = 1.0 / args.rate if args.rate > 0 else 0.0
    print(f"producing {len(messages):,} simulated messages to {settings.kafka_bootstrap}"
          + (f" at {args.rate:g} msg/s" if delay else " as fast as possible"), file=sys.stderr)
    sent = produce(settings.kafka_bootstrap, settings.topics, messages, delay=delay)
    print(f"produced {sent:,} messages", file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from processors.tools.bench import BenchOptions, run_bench

    options = BenchOptions(messages=args.messages, latency_seconds=args.latency_seconds,
                           backtest_messages=args.backtest_messages, state_deals=args.state_deals)
    if args.latency_rate:
        options.latency_rates = tuple(args.latency_rate)
    print("==> dealflow bench (progress below; the table follows)", file=sys.stderr)
    report = run_bench(_settings(args), options)
    print("| measurement | result |\n|---|---|")
    print(report.render())
    return 0


def cmd_soak(args: argparse.Namespace) -> int:
    from processors.tools.soak import run_soak, summary

    samples = run_soak(_settings(args), args.minutes, args.rate, args.interval, args.warmup,
                       args.fixed_deals)
    print("| measurement | result |\n|---|---|")
    for name, value in summary(samples, args.rate):
        print(f"| {name} | {value} |")
    return 0


def cmd_contract(args: argparse.Namespace) -> int:
    from schemas.export import CONTRACT_DIR, check_contract, write_contract

    if args.check:
        drift = check_contract()
        for line in drift:
            print(line, file=sys.stderr)
        return 1 if drift else 0
    written = write_contract()
    print(f"wrote {len(written)} files under {CONTRACT_DIR}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from processors.tools.demo import run_demo

    return run_demo(_settings(args), seconds=args.seconds)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dealflow", description="Evidence-based deal progression on Kafka.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("stack", help="manage the local Kafka + PostgreSQL stack")
    p.add_argument("action", choices=["up", "status", "down"])
    p.set_defaults(func=cmd_stack)

    sub.add_parser("topics", help="create the Kafka topics").set_defaults(func=cmd_topics)
    sub.add_parser("migrate", help="apply the database migrations").set_defaults(func=cmd_migrate)

    p = sub.add_parser("worker", help="run the processors and the projector")
    p.add_argument("--only", choices=["processors", "projector"], help="run only one half")
    p.add_argument("--playbook", help="playbook TOML file (default: $DEALFLOW_PLAYBOOK or built-in)")
    p.add_argument("--loglevel", default="info", choices=["debug", "info", "warn", "error"])
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("rebuild", help="drop and rebuild every projection from offset 0 of the log topics")
    p.add_argument("--playbook", help="playbook TOML file")
    p.add_argument("--batch-size", type=int, default=2000)
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser("backtest", help="replay a JSONL file of inbound messages through the core")
    p.add_argument("input", help="JSON-lines file of engagement and commands, or - for stdin")
    p.add_argument("--playbook", help="playbook TOML file")
    p.add_argument("--as-of", type=_parse_time, help="advance the clock to this moment at the end")
    p.add_argument("--out", help="alerts output (JSON lines; default stdout)")
    p.add_argument("--events-out", help="facts output (JSON lines)")
    p.add_argument("--database-url", help="also build the PostgreSQL projections from the backtest (a separate "
                                          "database, to compare a playbook's analytics before adopting it)")
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("sample", help="produce the built-in sample stream (or write it with --out)")
    p.add_argument("--out", help="write the sample as JSONL instead of producing it")
    p.add_argument("--delay", type=float, default=0.0, help="seconds between messages")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("tail", help="print facts, alerts and dead letters as they arrive")
    p.add_argument("--from-beginning", action="store_true")
    p.add_argument("--no-facts", action="store_true", help="alerts and dead letters only")
    p.add_argument("--seconds", type=float, default=0.0, help="stop after this many seconds")
    p.set_defaults(func=cmd_tail)

    p = sub.add_parser("benchmarks", help="show the stage benchmarks in use (learned from the event log)")
    p.add_argument("--playbook", help="playbook TOML file")
    p.add_argument("--timeout", type=float, default=3.0, help="stop reading after this many idle seconds")
    p.set_defaults(func=cmd_benchmarks)

    p = sub.add_parser("contract", help="export the JSON Schemas and AsyncAPI document")
    p.add_argument("--check", action="store_true", help="fail if the checked-in files drifted")
    p.set_defaults(func=cmd_contract)

    p = sub.add_parser("pipeline", help="deals per stage with counts, amounts and open alerts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_pipeline)

    p = sub.add_parser("deal", help="one deal's timeline: stage changes, evidence, engagement, alerts")
    p.add_argument("deal_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_deal)

    p = sub.add_parser("review", help="inspection queues: weekly late-stage, monthly stuck, quarterly audit sample")
    p.add_argument("cadence", choices=["weekly", "monthly", "quarterly"])
    p.add_argument("--seed", type=float, default=1.0, help="quarterly: seed of the reproducible sample")
    p.add_argument("--per-stage", type=int, default=3, help="quarterly: deals sampled per stage")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_review)

    p = sub.add_parser("simulate", help="generate a realistic, seeded stream of a sales organisation")
    p.add_argument("--deals", type=int, default=200)
    p.add_argument("--days", type=float, default=90.0, help="time span of the stream (ending now, or --end)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--end", type=_parse_time, help="event time of the end of the stream (default: now)")
    p.add_argument("--out", help="write JSONL (for `dealflow backtest`) instead of producing to Kafka; - for stdout")
    p.add_argument("--rate", type=float, default=0.0, help="live rate limit in messages/s (0: as fast as possible)")
    p.add_argument("--playbook", help="playbook TOML file")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("bench", help="benchmark against the raw Kafka client (needs `dealflow stack up`)")
    p.add_argument("--messages", type=int, default=20_000, help="end-to-end stream size")
    p.add_argument("--latency-rate", type=float, action="append",
                   help="offered load of a latency run in msg/s; repeat for several (default: 100 and 1000)")
    p.add_argument("--latency-seconds", type=float, default=15.0)
    p.add_argument("--backtest-messages", type=int, default=1_000_000)
    p.add_argument("--state-deals", type=int, default=1_000_000)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("soak", help="a steady load for minutes: worker memory and consumer lag over time")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=100.0, help="offered load (msg/s)")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    p.add_argument("--warmup", type=int, default=None,
                   help="messages handled before the clock starts (default: as many as the timed part)")
    p.add_argument("--fixed-deals", action="store_true",
                   help="the timed part carries on the warm-up's deals only (a steady deal population)")
    p.set_defaults(func=cmd_soak)

    p = sub.add_parser("demo", help="run the live pipeline on the sample stream (stack must be up)")
    p.add_argument("--seconds", type=float, default=60.0, help="how long to watch the output")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
