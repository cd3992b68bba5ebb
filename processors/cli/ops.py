"""Operating commands: ``stack``, ``topics``, ``migrate``, ``rebuild`` and ``contract``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from processors.cli.common import settings_of
from processors.cli.kafka_access import check_kafka_access
from processors.kafka.security import client_options


def cmd_stack(args: argparse.Namespace) -> int:
    from processors.stack import manager as stack

    settings = settings_of(args)
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
    from processors.kafka.topics import ensure_contract_topics

    settings = settings_of(args)
    check_kafka_access(settings)
    created = ensure_contract_topics(settings.kafka_bootstrap, settings.topics, settings.partitions,
                                     client_options(settings), settings.replication_factor)
    print("created: " + (", ".join(created) if created else "nothing (all topics exist)"))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from projections.migrate import apply_migrations

    applied = apply_migrations(settings_of(args).database_url)
    print("applied: " + (", ".join(applied) if applied else "nothing (schema is up to date)"))
    return 0


def _progress(total: int) -> Callable[[int], None]:
    def show(done: int) -> None:
        width = 40
        filled = int(width * done / total) if total else width
        print(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done:>9,}/{total:,} records", end="", flush=True)

    return show


def cmd_rebuild(args: argparse.Namespace) -> int:
    from processors.playbooks.loader import load_playbook
    from projections.migrate import apply_migrations
    from projections.projector import Projector

    settings = settings_of(args)
    apply_migrations(settings.database_url)
    projector = Projector(settings.kafka_bootstrap, settings.database_url, settings.topics.events,
                          settings.topics.alerts, load_playbook(settings.playbook), batch_size=args.batch_size,
                          client_options=client_options(settings))
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
