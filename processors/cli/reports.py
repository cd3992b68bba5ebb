"""The manager's read-only commands: ``pipeline``, ``deal``, ``review``, ``digest`` (PostgreSQL) and
``benchmarks`` (Kafka)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone

from processors.cli.common import settings_of
from processors.kafka.security import client_options


def cmd_benchmarks(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from processors.core.benchmarks import DailyBenchmarks, Stay
    from processors.kafka.clients import read_records
    from processors.playbooks.loader import load_playbook
    from schemas.stays import StayCompleted

    settings = settings_of(args)
    benchmarks = DailyBenchmarks(load_playbook(settings.playbook))
    read = 0
    for record in read_records(settings.kafka_bootstrap, settings.topics.stays, timeout=args.timeout,
                               options=client_options(settings)):
        read += 1
        recorded_at = datetime.fromtimestamp(record.timestamp / 1000, timezone.utc)
        benchmarks.add(Stay.of(StayCompleted.model_validate_json(record.value), recorded_at))
    today = datetime.now(timezone.utc).date()
    print(f"stage benchmarks in force today ({today} UTC; {read} stays in {settings.topics.stays}, "
          "those recorded before today count):")
    for stage, days, source in benchmarks.describe(today):
        print(f"  {stage:<16} {days:>8g} days  {source}")
    return 0


def cmd_pipeline(args: argparse.Namespace) -> int:
    from processors.cli.views import print_tables, stage_order, table, to_json
    from processors.playbooks.loader import load_playbook
    from projections.queries import pipeline

    settings = settings_of(args)
    rows = stage_order(load_playbook(settings.playbook), pipeline(settings.database_url))
    if args.json:
        print(to_json(rows))
    else:
        print_tables(table("Pipeline: deals per stage", rows, ["status", "stage", "deals", "amount", "open_alerts"]))
    return 0


def cmd_deal(args: argparse.Namespace) -> int:
    from processors.cli.views import print_tables, table, to_json
    from projections.queries import deal

    found = deal(settings_of(args).database_url, args.deal_id)
    if found is None:
        print(f"no deal {args.deal_id!r} in the projections", file=sys.stderr)
        return 1
    if args.json:
        print(to_json(found))
        return 0
    row = found["deal"]
    summary = [{"field": key, "value": value} for key, value in row.items()]
    alerts = [{key: value for key, value in alert.items() if key != "coaching"} for alert in found["alerts"]]
    coaching = [{"alert": item["type"], "rule": item["rule"], "to": item["addressed_to"],
                 "next best action": item["next_best_action"], "questions": item["questions"]}
                for item in found["coaching"]]
    print_tables(table(f"Deal {args.deal_id}", summary), table("Timeline", found["timeline"]),
                 table("Alerts (open conditions first)", alerts),
                 table("Blockers", found["blockers"]) if found["blockers"] else "Blockers: none recorded",
                 table("Coaching of the open conditions", coaching) if coaching else "Coaching: no open condition",
                 table("Engagement", found["engagement"]))
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from processors.cli.views import print_tables, queue_rows, table, to_json
    from projections.queries import review

    rows = review(settings_of(args).database_url, args.cadence, seed=args.seed, per_stage=args.per_stage,
                  manager=args.manager)
    if args.json:
        print(to_json(rows))
        return 0
    titles = {"weekly": "Weekly review: every late-stage deal",
              "monthly": "Monthly review: mid-stage deals stuck longer than the stage average",
              "quarterly": f"Quarterly audit sample (seed {args.seed}, {args.per_stage} per stage)"}
    title = titles[args.cadence] + (f", manager {args.manager}" if args.manager else "")
    columns = {"weekly": ["deal_id", "name", "owner_id", "stage", "days_in_stage", "next_step_due", "close_date",
                          "close_date_risk", "open_alerts", "needs_action", "manager", "blocker", "coaching"],
               "monthly": ["deal_id", "name", "owner_id", "stage", "days_in_stage", "average_days", "ratio",
                           "missing_criteria", "manager", "blocker", "coaching"]}.get(args.cadence)
    print_tables(table(title, queue_rows(rows), columns))
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    from processors.cli.views import digest_tables, print_tables, to_json
    from projections.digest import digest

    until = datetime.now(timezone.utc)
    since = args.since or until - timedelta(days=7)
    found = digest(settings_of(args).database_url, args.owner, args.team, since, until, manager=args.manager)
    if args.json:
        print(to_json(found))
    else:
        print_tables(*digest_tables(found))
    return 0
