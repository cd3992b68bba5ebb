"""The ``dealflow`` argument parser: every subcommand and its options."""

from __future__ import annotations

import argparse
from datetime import datetime

from processors.cli import devtools, live, ops, reports


def parse_time(text: str) -> datetime:
    """A timestamp with a timezone offset."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give a timezone offset, e.g. 2026-03-31T23:59:59Z")
    return moment


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: ``dealflow <command> [options]``."""
    parser = argparse.ArgumentParser(prog="dealflow", description="Evidence-based deal progression on Kafka.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("stack", help="manage the local Kafka + PostgreSQL stack")
    p.add_argument("action", choices=["up", "status", "down"])
    p.set_defaults(func=ops.cmd_stack)

    sub.add_parser("topics", help="create the Kafka topics").set_defaults(func=ops.cmd_topics)
    sub.add_parser("migrate", help="apply the database migrations").set_defaults(func=ops.cmd_migrate)

    p = sub.add_parser("worker", help="run the processors and the projector")
    p.add_argument("--only", choices=["processors", "projector"], help="run only one half")
    p.add_argument("--playbook", help="playbook TOML file (default: $DEALFLOW_PLAYBOOK or built-in)")
    p.add_argument("--loglevel", default="info", choices=["debug", "info", "warn", "error"])
    p.set_defaults(func=live.cmd_worker)

    p = sub.add_parser("rebuild", help="drop and rebuild every projection from offset 0 of the log topics")
    p.add_argument("--playbook", help="playbook TOML file")
    p.add_argument("--batch-size", type=int, default=2000)
    p.set_defaults(func=ops.cmd_rebuild)

    p = sub.add_parser("backtest", help="replay a JSONL file of inbound messages through the core")
    p.add_argument("input", help="JSON-lines file of engagement and commands, or - for stdin")
    p.add_argument("--playbook", help="playbook TOML file")
    p.add_argument("--as-of", type=parse_time, help="advance the clock to this moment at the end")
    p.add_argument("--out", help="alerts output (JSON lines; default stdout)")
    p.add_argument("--events-out", help="facts output (JSON lines)")
    p.add_argument("--database-url", help="also build the PostgreSQL projections from the backtest (a separate "
                                          "database, to compare a playbook's analytics before adopting it)")
    p.set_defaults(func=live.cmd_backtest)

    p = sub.add_parser("sample", help="produce the built-in sample stream (or write it with --out)")
    p.add_argument("--out", help="write the sample as JSONL instead of producing it")
    p.add_argument("--delay", type=float, default=0.0, help="seconds between messages")
    p.set_defaults(func=devtools.cmd_sample)

    p = sub.add_parser("tail", help="print facts, alerts and dead letters as they arrive")
    p.add_argument("--from-beginning", action="store_true")
    p.add_argument("--no-facts", action="store_true", help="alerts and dead letters only")
    p.add_argument("--seconds", type=float, default=0.0, help="stop after this many seconds")
    p.set_defaults(func=live.cmd_tail)

    p = sub.add_parser("benchmarks", help="show the stage benchmarks in use (learned from the event log)")
    p.add_argument("--playbook", help="playbook TOML file")
    p.add_argument("--timeout", type=float, default=3.0, help="stop reading after this many idle seconds")
    p.set_defaults(func=reports.cmd_benchmarks)

    p = sub.add_parser("contract", help="export the JSON Schemas and AsyncAPI document")
    p.add_argument("--check", action="store_true", help="fail if the checked-in files drifted")
    p.set_defaults(func=ops.cmd_contract)

    p = sub.add_parser("pipeline", help="deals per stage with counts, amounts and open alerts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=reports.cmd_pipeline)

    p = sub.add_parser("deal", help="one deal's timeline: stage changes, evidence, engagement, alerts")
    p.add_argument("deal_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=reports.cmd_deal)

    p = sub.add_parser("review", help="inspection queues: weekly late-stage, monthly stuck, quarterly audit sample")
    p.add_argument("cadence", choices=["weekly", "monthly", "quarterly"])
    p.add_argument("--seed", type=float, default=1.0, help="quarterly: seed of the reproducible sample")
    p.add_argument("--per-stage", type=int, default=3, help="quarterly: deals sampled per stage")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=reports.cmd_review)

    p = sub.add_parser("simulate", help="generate a realistic, seeded stream of a sales organisation")
    p.add_argument("--deals", type=int, default=200)
    p.add_argument("--days", type=float, default=90.0, help="time span of the stream (ending now, or --end)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--end", type=parse_time, help="event time of the end of the stream (default: now)")
    p.add_argument("--out", help="write JSONL (for `dealflow backtest`) instead of producing to Kafka; - for stdout")
    p.add_argument("--rate", type=float, default=0.0, help="live rate limit in messages/s (0: as fast as possible)")
    p.add_argument("--playbook", help="playbook TOML file")
    p.set_defaults(func=devtools.cmd_simulate)

    p = sub.add_parser("bench", help="benchmark against the raw Kafka client (needs `dealflow stack up`)")
    p.add_argument("--messages", type=int, default=20_000, help="end-to-end stream size")
    p.add_argument("--latency-rate", type=float, action="append",
                   help="offered load of a latency run in msg/s; repeat for several (default: 100 and 1000)")
    p.add_argument("--latency-seconds", type=float, default=15.0)
    p.add_argument("--backtest-messages", type=int, default=1_000_000)
    p.add_argument("--state-deals", type=int, default=1_000_000)
    p.set_defaults(func=devtools.cmd_bench)

    p = sub.add_parser("soak", help="a steady load for minutes: worker memory and consumer lag over time")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=100.0, help="offered load (msg/s)")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    p.add_argument("--warmup", type=int, default=None,
                   help="messages handled before the clock starts (default: as many as the timed part)")
    p.add_argument("--fixed-deals", action="store_true",
                   help="the timed part carries on the warm-up's deals only (a steady deal population)")
    p.set_defaults(func=devtools.cmd_soak)

    p = sub.add_parser("demo", help="run the live pipeline on the sample stream (stack must be up)")
    p.add_argument("--seconds", type=float, default=60.0, help="how long to watch the output")
    p.set_defaults(func=devtools.cmd_demo)
    return parser
