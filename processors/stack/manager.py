"""Local stack manager behind ``dealflow stack up|status|down`` (in the spirit of ``confluent local``).

``up`` brings up a single-node Kafka 4 broker (KRaft, jars resolved with Maven) and a PostgreSQL
server (Debian's packages), creates the topics and applies the database migrations. Everything
it starts lives under ``settings.state_dir``; a Kafka broker or database that already answers
at the configured address is reused and never stopped. Run it as ``python -m processors.stack.manager``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from processors.config import Settings
from processors.kafka.topics import ensure_contract_topics
from processors.stack.common import Deadline, StackError, note, say
from processors.stack.kafka_broker import kafka_status, start_kafka, stop_kafka, wait_for_kafka
from processors.stack.postgres_server import ensure_postgres, postgres_status, stop_postgres

__all__ = ["StackError", "down", "status", "up"]


def up(settings: Settings, *, timeout: float = 120.0) -> None:
    """Bring the local stack up (idempotent) and print the addresses to use.

    ``timeout`` bounds the wait for the services to answer; the one-time Maven download of
    the Kafka jars is not counted.
    """
    began = time.monotonic()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(settings.state_dir):
        broker = start_kafka(settings)  # returns while the broker boots, so both start together
        deadline = Deadline.after(timeout)
        postgres_started = ensure_postgres(settings, deadline)
        wait_for_kafka(broker, settings, deadline)
        _ensure_topics(broker.address, settings)
        _apply_migrations(settings.database_url)
    if not broker.started_now and not postgres_started:
        say("everything was already up: nothing started")
    _print_summary(broker.address, settings.database_url, time.monotonic() - began)


def status(settings: Settings) -> int:
    """Print the state of each service; 0 when all are up, else 1."""
    kafka = kafka_status(settings)
    postgres = postgres_status(settings)
    _status_line("kafka", kafka.up, kafka.address, kafka.detail)
    _status_line("postgres", postgres.up, postgres.url, postgres.detail)
    return 0 if kafka.up and postgres.up else 1


def down(settings: Settings) -> None:
    """Stop what ``up`` started (idempotent); data is kept, external services are left alone."""
    if not settings.state_dir.is_dir():
        say(f"nothing to stop (no state directory {settings.state_dir})")
        return
    with _exclusive(settings.state_dir):
        stop_kafka(settings)
        stop_postgres(settings)


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _exclusive(state_dir: Path) -> Iterator[None]:
    """Serialise concurrent ``up``/``down`` runs on the same state directory."""
    with (state_dir / ".stack.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another `dealflow stack` command is running on this state dir; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _ensure_topics(bootstrap: str, settings: Settings) -> None:
    topics = settings.topics.all()
    say(f"ensuring {len(topics)} topics ({settings.partitions} partitions each when created)")
    # the local broker is plaintext; the stays topic is compacted
    created = ensure_contract_topics(bootstrap, settings.topics, settings.partitions, options={})
    note(f"created: {', '.join(created)}" if created else "all topics already exist")


def _apply_migrations(database_url: str) -> None:
    say("applying database migrations")
    try:
        from projections.migrate import apply_migrations
    except ImportError as exc:
        note(f"skipped: projections.migrate is not available ({exc})")
        return
    try:
        apply_migrations(database_url)
    except Exception as exc:  # noqa: BLE001 - reported as a stack error with its cause
        raise StackError(f"applying the database migrations failed: {exc}") from exc


def _status_line(name: str, is_up: bool, address: str, detail: str) -> None:
    state = "up" if is_up else "down"
    print(f"{name:<10} {state:<5} {address} {detail}".rstrip(), flush=True)


def _print_summary(bootstrap: str, database_url: str, elapsed: float) -> None:
    print(f"\nStack up in {elapsed:.1f} s.", flush=True)
    print(f"Kafka bootstrap: {bootstrap}")
    print(f"Database URL: {database_url}")
    print("\nTo use it from a shell:")
    print(f"  export DEALFLOW_KAFKA_BOOTSTRAP={shlex.quote(bootstrap)}")
    print(f"  export DEALFLOW_DATABASE_URL={shlex.quote(database_url)}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m processors.stack.manager up|status|down``."""
    parser = argparse.ArgumentParser(prog="python -m processors.stack.manager", description=__doc__)
    parser.add_argument("command", choices=["up", "status", "down"])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for services (up only)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    try:
        if args.command == "up":
            up(settings, timeout=args.timeout)
        elif args.command == "status":
            return status(settings)
        else:
            down(settings)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
