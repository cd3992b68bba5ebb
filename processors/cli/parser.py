"""The ``dealflow`` argument parser: every subcommand, its options, their help and defaults."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import date, datetime, time, timezone
from typing import Any

from processors.cli import devtools, live, ops, reports
from processors.config import DEFAULT_DATABASE_URL

EPILOG = f"""\
configuration (environment variables, read by processors/config.py):
  DEALFLOW_KAFKA_BOOTSTRAP   Kafka bootstrap servers (default: localhost:9092)
  DEALFLOW_DATABASE_URL      PostgreSQL URL of the projections
                             (default: {DEFAULT_DATABASE_URL})
  DEALFLOW_PLAYBOOK          playbook TOML file (default: the built-in playbook)
  DEALFLOW_KAFKA_SECURITY_PROTOCOL, DEALFLOW_KAFKA_SASL_*, DEALFLOW_KAFKA_SSL_*
                             Kafka TLS and SASL (default: PLAINTEXT)
  DEALFLOW_METRICS_PORT, DEALFLOW_METRICS_HOST, DEALFLOW_LOG_FORMAT, DEALFLOW_HOME, ...
every variable and its default: README.md, section "Configuration".
"""

PLAYBOOK_HELP = "playbook TOML file (default: $DEALFLOW_PLAYBOOK, else the built-in playbook)"
MANAGER_HELP = ("only the deals of this manager: those whose newest alert carries manager ID (the alert's "
                "`manager`, the manager of the owner's playbook team when the alert was raised)")
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


class HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default after its help, unless the default is None or False."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "%(default)" in text or default is None or default is False or default is argparse.SUPPRESS:
            return text
        if not action.option_strings and action.nargs not in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text
        return f"{text} (default: %(default)s)"


class TopHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """``HelpFormatter`` that keeps the lines of the epilog (the configuration variables)."""


def parse_time(text: str) -> datetime:
    """A moment: a date (2026-12-01, meaning midnight UTC) or a timestamp with a timezone offset."""
    text = text.strip()
    try:
        if _DATE_ONLY.fullmatch(text):
            return datetime.combine(date.fromisoformat(text), time(), timezone.utc)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or a timestamp: give e.g. 2026-12-01 (midnight UTC) "
            f"or 2026-12-01T09:30:00+00:00") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no timezone offset: give e.g. 2026-03-31T23:59:59Z "
                                         f"(or a plain date, meaning midnight UTC)")
    return moment


Command = Callable[[argparse.Namespace], int]


def _command(sub: Any, name: str, func: Command, summary: str, needs: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose one-line help (and description) says what it does and what it needs."""
    text = f"{summary} (needs {needs})" if needs else summary
    parser: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".",
                                                     formatter_class=HelpFormatter)
    parser.set_defaults(func=func)
    return parser


def _add_ops(sub: Any) -> None:
    p = _command(sub, "stack", ops.cmd_stack, "manage the local Kafka + PostgreSQL stack",
                 "Java 17+ and Maven for Kafka, and PostgreSQL's server packages, unless they already run")
    p.add_argument("action", choices=["up", "status", "down"],
                   help="up: start (idempotent), create the topics, apply the migrations; status: show; down: stop")
    _command(sub, "topics", ops.cmd_topics, "create the Kafka topics", "a running Kafka broker")
    _command(sub, "migrate", ops.cmd_migrate, "apply the database migrations", "PostgreSQL")
    p = _command(sub, "rebuild", ops.cmd_rebuild,
                 "drop and rebuild every projection from offset 0 of the log topics", "Kafka and PostgreSQL")
    p.add_argument("--playbook", help=PLAYBOOK_HELP)
    p.add_argument("--batch-size", type=int, default=2000, help="records per projector transaction")
    p = _command(sub, "contract", ops.cmd_contract, "export the JSON Schemas and AsyncAPI document")
    p.add_argument("--check", action="store_true", help="fail if the checked-in files drifted")


def _add_live(sub: Any) -> None:
    p = _command(sub, "worker", live.cmd_worker, "run the processors and the projector",
                 "Kafka and PostgreSQL; --only processors needs Kafka only")
    p.add_argument("--only", choices=["processors", "projector"], help="run only one half (default: both)")
    p.add_argument("--playbook", help=PLAYBOOK_HELP)
    p.add_argument("--loglevel", default="info", choices=["debug", "info", "warn", "error"], help="log level")

    p = _command(sub, "backtest", live.cmd_backtest, "replay a JSONL file of inbound messages through the core",
                 "no service; PostgreSQL with --database-url")
    p.add_argument("input", help="JSON-lines file of engagement and commands, or - for stdin")
    p.add_argument("--playbook", help=PLAYBOOK_HELP)
    p.add_argument("--as-of", type=parse_time, metavar="T",
                   help="advance the clock to this moment at the end: a date (2026-12-01, midnight UTC) or "
                        "a timestamp with an offset (default: the clock stops at the last message)")
    p.add_argument("--out", help="alerts output, JSON lines (default: stdout)")
    p.add_argument("--events-out", help="facts output, JSON lines (default: not written)")
    p.add_argument("--database-url", help="also build the PostgreSQL projections from the backtest (a separate "
                                          "database, to compare a playbook's analytics before adopting it)")

    p = _command(sub, "tail", live.cmd_tail, "print facts, alerts and dead letters as they arrive", "Kafka")
    p.add_argument("--from-beginning", action="store_true", help="start at the topics' first records, not the end")
    p.add_argument("--no-facts", action="store_true", help="alerts and dead letters only")
    p.add_argument("--seconds", type=float, default=0.0, help="stop after this many seconds; 0 runs until Ctrl-C")


def _add_reports(sub: Any) -> None:
    p = _command(sub, "benchmarks", reports.cmd_benchmarks,
                 "show the stage benchmarks in force today (learned from the stays topic, "
                 "the stays recorded before today)", "Kafka")
    p.add_argument("--playbook", help=PLAYBOOK_HELP)
    p.add_argument("--timeout", type=float, default=3.0, help="stop reading after this many idle seconds")

    p = _command(sub, "pipeline", reports.cmd_pipeline, "deals per stage with counts, amounts and open alerts",
                 "PostgreSQL with the projections")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = _command(sub, "deal", reports.cmd_deal,
                 "one deal's timeline: stage changes, evidence, engagement, alerts", "PostgreSQL with the projections")
    p.add_argument("deal_id", help="the deal's id, as in its messages")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p = _command(sub, "review", reports.cmd_review,
                 "inspection queues: weekly late-stage, monthly stuck, quarterly audit sample",
                 "PostgreSQL with the projections")
    p.add_argument("cadence", choices=["weekly", "monthly", "quarterly"], help="which inspection queue")
    p.add_argument("--seed", type=float, default=1.0, help="quarterly: seed of the reproducible sample")
    p.add_argument("--per-stage", type=int, default=3, help="quarterly: deals sampled per stage")
    p.add_argument("--manager", metavar="ID", help=MANAGER_HELP + "; quarterly: sampled among them")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = _command(sub, "digest", reports.cmd_digest,
                 "what an owner's, a team's or a manager's alerts did since a moment, grouped by deal: conditions "
                 "opened, escalated, resolved, those still needing action, and notifications",
                 "PostgreSQL with the projections")
    p.epilog = ("example: dealflow digest --team emea --since 2026-11-24   "
                "(or --owner rep-ana, --manager mgr-eve; --json for scripts)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--owner", metavar="ID", help="the alerts of this owner (the alert's owner_id)")
    who.add_argument("--team", metavar="NAME", help="the alerts of this team (the alert's team, from the playbook)")
    who.add_argument("--manager", metavar="ID",
                     help="the alerts addressed through this manager (the alert's manager: the manager of the "
                          "owner's playbook team when it was raised)")
    p.add_argument("--since", type=parse_time, metavar="T",
                   help="start of the period: a date (2026-11-24, midnight UTC) or a timestamp with an offset "
                        "(default: 7 days ago)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")


def _add_forecast(sub: Any) -> None:
    from processors.cli import forecast

    p = _command(sub, "forecast", forecast.cmd_forecast,
                 "the evidence forecast per period, team and owner, beside the weighted pipeline; with --backtest, "
                 "how accurate it was on the log's own history",
                 "Kafka, or a file with --input / --events; PostgreSQL with --save")
    p.epilog = ("examples: dealflow forecast --period 2027-Q1 --team emea   |   dealflow forecast --input org.jsonl "
                "--backtest   |   dealflow forecast --events facts.jsonl --alerts alerts.jsonl --as-of 2026-09-01 "
                "--json")
    p.add_argument("--period", metavar="P", help="one period: a quarter (2027-Q1) or a month (2027-03); default: "
                                                  "every period with open deals from the current one on")
    p.add_argument("--period-kind", choices=["quarter", "month"], default="quarter",
                   help="periods by quarter or month of the close date (implied by --period)")
    p.add_argument("--as-of", type=parse_time, metavar="T",
                   help="forecast as it would have been at T, from what was known then (default: now; for a file, "
                        "its last record)")
    p.add_argument("--team", metavar="NAME", help="only this playbook team's deals")
    p.add_argument("--backtest", action="store_true",
                   help="replay the history: the forecast at every week of every complete period against what was "
                        "won, for the evidence forecast and the weighted-pipeline baseline")
    p.add_argument("--input", metavar="FILE", help="a backtest input (engagement and commands, JSON lines), "
                                                   "replayed through the core first")
    p.add_argument("--events", metavar="FILE", help="facts written by `dealflow backtest --events-out`")
    p.add_argument("--alerts", metavar="FILE", help="alerts written by `dealflow backtest --out` (with --events)")
    p.add_argument("--save", action="store_true", help="also save the forecast as a snapshot in PostgreSQL "
                                                       "(forecast_snapshots, forecast_deals); run it weekly; with "
                                                       "--backtest, save every weekly forecast of the replay")
    p.add_argument("--deals", type=int, default=15, help="open deals shown (largest first)")
    p.add_argument("--timeout", type=float, default=5.0, help="Kafka: stop reading after this many idle seconds")
    p.add_argument("--playbook", help=PLAYBOOK_HELP)
    p.add_argument("--json", action="store_true", help="print JSON instead of tables (every line and deal)")


def _add_devtools(sub: Any) -> None:
    p = _command(sub, "sample", devtools.cmd_sample,
                 "produce the built-in sample stream to Kafka, or write it as JSONL with --out",
                 "Kafka unless --out is given")
    p.add_argument("--out", help="write the sample as JSONL to this file instead of producing it to Kafka "
                                 "(default: produce to Kafka)")
    p.add_argument("--delay", type=float, default=0.0, help="seconds between messages produced to Kafka")

    p = _command(sub, "simulate", devtools.cmd_simulate,
                 "generate a realistic, seeded stream of a sales organisation, to Kafka or as JSONL with --out",
                 "Kafka unless --out is given")
    p.add_argument("--deals", type=int, default=200, help="number of deals")
    p.add_argument("--days", type=float, default=90.0, help="time span of the stream, ending at --end")
    p.add_argument("--seed", type=int, default=7, help="random seed: the same seed and --end give the same stream")
    p.add_argument("--end", type=parse_time, metavar="T",
                   help="event time of the end of the stream: a date (midnight UTC) or a timestamp with an offset "
                        "(default: now, so the same seed gives a different stream on another day; "
                        "pass --end for a reproducible one)")
    p.add_argument("--out", help="write JSONL (for `dealflow backtest`) to this file, - for stdout "
                                 "(default: produce to Kafka)")
    p.add_argument("--rate", type=float, default=0.0,
                   help="rate limit when producing to Kafka, in messages/s; 0 is as fast as possible")
    p.add_argument("--playbook", help=PLAYBOOK_HELP)

    p = _command(sub, "bench", devtools.cmd_bench, "benchmark against the raw Kafka client",
                 "Kafka and PostgreSQL, e.g. `dealflow stack up`")
    p.add_argument("--messages", type=int, default=20_000, help="end-to-end stream size")
    p.add_argument("--latency-rate", type=float, action="append", metavar="R",
                   help="offered load of a latency run in msg/s; repeat for several (default: 100 and 1000)")
    p.add_argument("--latency-seconds", type=float, default=15.0, help="duration of each latency run")
    p.add_argument("--backtest-messages", type=int, default=1_000_000, help="size of the backtest run")
    p.add_argument("--state-deals", type=int, default=1_000_000, help="deals in the state-memory measurement")
    p.add_argument("--recovery-deals", type=int, default=100_000,
                   help="deals the batch worker restores from its changelog in the recovery measurement (0: skip)")
    p.add_argument("--runtime", action="append", choices=("faust", "batch"), metavar="NAME",
                   help="worker runtime measured end to end (faust or batch); repeat for several "
                        "(default: both, in the same run)")
    p.add_argument("--workers", type=int, default=2, metavar="N",
                   help="also measure N batch workers in one consumer group end to end, beside one (0: skip)")

    p = _command(sub, "soak", devtools.cmd_soak,
                 "a steady load for minutes: worker memory and consumer lag over time",
                 "Kafka and PostgreSQL, e.g. `dealflow stack up`")
    p.add_argument("--minutes", type=float, default=10.0, help="length of the timed part")
    p.add_argument("--rate", type=float, default=100.0, help="offered load (msg/s)")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    p.add_argument("--warmup", type=int, default=None,
                   help="messages handled before the clock starts (default: as many as the timed part)")
    p.add_argument("--fixed-deals", action="store_true",
                   help="the timed part carries on the warm-up's deals only (a steady deal population)")

    p = _command(sub, "demo", devtools.cmd_demo, "run the live pipeline on the sample stream",
                 "Kafka and PostgreSQL: `dealflow stack up` first")
    p.add_argument("--seconds", type=float, default=60.0, help="how long to watch the output")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: ``dealflow <command> [options]``."""
    parser = argparse.ArgumentParser(prog="dealflow", description="Evidence-based deal progression on Kafka.",
                                     epilog=EPILOG, formatter_class=TopHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_ops(sub)
    _add_live(sub)
    _add_reports(sub)
    _add_forecast(sub)
    _add_devtools(sub)
    return parser
