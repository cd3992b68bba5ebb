"""Versioned SQL migrations, applied in order, once each (``dealflow migrate``)."""

from __future__ import annotations

from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = 748_221_903  # advisory lock: two processes never migrate at once


def migration_files() -> list[Path]:
    """Migration files in the order they apply (by their numeric prefix)."""
    return sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def apply_migrations(database_url: str) -> list[str]:
    """Apply the migrations not yet applied; return their names. Idempotent.

    With nothing to apply it needs no privilege beyond reading ``schema_migrations``, so a
    least-privilege role (see the README, Security) can run the worker.
    """
    try:
        return _apply(database_url)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise MigrationPrivilegeError(
            "the database role may not change the schema and migrations are pending: run "
            "`dealflow migrate` once as the schema owner, then start again") from exc


class MigrationPrivilegeError(RuntimeError):
    """Migrations are pending and the connecting role may not apply them."""


def _apply(database_url: str) -> list[str]:
    applied_now: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            row = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
            if row is None or row[0] is None:  # checked first: a role without CREATE can start when all is applied
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
                )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for path in migration_files():
                if path.stem in done:
                    continue
                with conn.transaction():
                    conn.execute(path.read_text(encoding="utf-8"))  # type: ignore[arg-type]
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (path.stem,))
                applied_now.append(path.stem)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
