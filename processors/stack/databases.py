"""Dropping a scratch database (the bench's, the soak's, a test's) even while autovacuum is on it."""

from __future__ import annotations

import time

import psycopg


def drop_database(url: str, database: str, attempts: int = 20) -> None:
    """``DROP DATABASE IF EXISTS database WITH (FORCE)``, connected by ``url`` (another database).

    ``FORCE`` ends the sessions of the role, but not an autovacuum worker on the database: the
    server refuses that to a role without ``pg_signal_backend`` (InsufficientPrivilege). A plain
    ``DROP DATABASE`` stops autovacuum itself, so that is tried next, then both again, briefly
    apart, until one succeeds.
    """
    for attempt in range(attempts):
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                try:
                    conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                except psycopg.errors.InsufficientPrivilege:
                    conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)
