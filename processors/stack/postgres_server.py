"""The PostgreSQL half of the local stack: reuse the configured database or run a local server.

Finding the database, starting and waiting for the managed server, creating the URL's role and
database, its status and stopping it; the server's files (binaries, initdb, config, the postgres
OS user) are prepared by ``processors.stack.postgres_setup``.
"""

from __future__ import annotations

import getpass
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from processors.config import Settings
from processors.stack.common import (
    Deadline,
    StackError,
    cmdline,
    log_tail,
    note,
    pid_alive,
    port_open,
    run,
    say,
)
from processors.stack.postgres_setup import (
    SUPERUSER,
    PgPaths,
    as_os_user,
    initdb,
    prepare_home,
    server_bin_dir,
    write_config,
)

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
LISTEN_HOST = "127.0.0.1"


# --------------------------------------------------------------------------- the database URL


@dataclass(frozen=True)
class DbTarget:
    """The parts of ``settings.database_url`` the stack manager needs."""

    url: str
    host: str
    port: int
    user: str
    password: str | None
    dbname: str

    @classmethod
    def parse(cls, url: str) -> DbTarget:
        try:
            params = conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise StackError(f"invalid DEALFLOW_DATABASE_URL {redact(url)!r}: {exc}") from exc
        user = str(params.get("user") or getpass.getuser())
        return cls(
            url=url,
            host=str(params.get("host") or ""),
            port=int(params.get("port") or 5432),
            user=user,
            password=str(params["password"]) if params.get("password") else None,
            dbname=str(params.get("dbname") or user),
        )

    @property
    def is_local(self) -> bool:
        return self.host in LOCAL_HOSTS


def redact(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# --------------------------------------------------------------------------- probing


def connect_error(url: str) -> str | None:
    """None when ``url`` accepts a connection, else the (one-line) reason."""
    try:
        with psycopg.connect(url, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return " ".join(str(exc).split()) or type(exc).__name__


@dataclass(frozen=True)
class Running:
    """A managed server found running from ``postmaster.pid``."""

    pid: int
    port: int


def running_server(paths: PgPaths) -> Running | None:
    """The managed server, if its postmaster is alive."""
    try:
        lines = (paths.data / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    args = cmdline(pid)
    if pid_alive(pid) and args and Path(args[0]).name in ("postgres", "postmaster"):
        return Running(pid, port)
    return None


# --------------------------------------------------------------------------- up


def ensure_postgres(settings: Settings, deadline: Deadline) -> bool:
    """Make ``settings.database_url`` answer, starting a local server if needed.

    Returns True when this call started the server.
    """
    target = DbTarget.parse(settings.database_url)
    shown = redact(target.url)
    error = connect_error(target.url)
    paths = PgPaths.of(settings)
    running = running_server(paths)
    if error is None:
        how = f"pid {running.pid}, managed" if running else "external, not managed by dealflow"
        say(f"PostgreSQL already up at {shown} ({how})")
        return False
    if not target.is_local:
        raise StackError(
            f"the database at {shown} does not answer ({error}), and it is not on this machine, "
            f"so `dealflow stack up` cannot start it; set DEALFLOW_DATABASE_URL to a reachable "
            f"database or to a 127.0.0.1 URL"
        )
    started = False
    if running is None:
        if port_open(LISTEN_HOST, target.port):
            raise StackError(
                f"port {LISTEN_HOST}:{target.port} is taken by another program (not the "
                f"dealflow-managed PostgreSQL), and {shown} does not work there: {error}. "
                f"Stop that program, or set DEALFLOW_DATABASE_URL to a database that works"
            )
        _start_server(paths, target.port, deadline)
        started = True
    elif running.port != target.port:
        raise StackError(
            f"the managed PostgreSQL (pid {running.pid}) runs on port {running.port} but "
            f"DEALFLOW_DATABASE_URL says {target.port}; run `dealflow stack down` first"
        )
    _wait_for_server(paths, target.port, deadline)
    _create_role_and_database(target)
    error = connect_error(target.url)
    if error is not None:
        raise StackError(f"the local PostgreSQL is up but {shown} does not work: {error}")
    return started


def _start_server(paths: PgPaths, port: int, deadline: Deadline) -> None:
    """initdb (first run only), write our config, and ``pg_ctl start``."""
    bin_dir = server_bin_dir(paths)
    prepare_home(paths)
    if not (paths.data / "PG_VERSION").is_file():
        initdb(paths, bin_dir)
    write_config(paths, port)
    say(f"starting PostgreSQL {bin_dir.parent.name} on {LISTEN_HOST}:{port} (log: {paths.log})")
    cmd = [
        str(bin_dir / "pg_ctl"),
        "-D",
        str(paths.data),
        "-l",
        str(paths.log),
        "-w",
        "-t",
        str(max(1, int(deadline.remaining()))),
        "start",
    ]
    try:
        run(as_os_user(cmd), what="pg_ctl start", cwd=paths.home)
    except StackError as exc:
        raise StackError(
            f"PostgreSQL did not start within {deadline.seconds:.0f} s ({exc}).\n"
            f"Last lines of {paths.log}:\n{log_tail(paths.log)}"
        ) from exc


def _wait_for_server(paths: PgPaths, port: int, deadline: Deadline) -> None:
    """Block until the server accepts a superuser connection on 127.0.0.1."""
    last_error = ""
    while True:
        try:
            with _superuser_connection(port):
                return
        except psycopg.Error as exc:
            last_error = " ".join(str(exc).split())
        if deadline.expired():
            raise StackError(
                f"PostgreSQL did not accept connections on {LISTEN_HOST}:{port} within "
                f"{deadline.seconds:.0f} s ({last_error}). Last lines of {paths.log}:\n"
                f"{log_tail(paths.log)}"
            )
        time.sleep(0.3)


def _superuser_connection(port: int) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=LISTEN_HOST,
        port=port,
        user=SUPERUSER,
        dbname="postgres",
        connect_timeout=3,
        autocommit=True,
    )


def _create_role_and_database(target: DbTarget) -> None:
    """Create the URL's role and database (owned by it) when missing.

    The local development role may create databases: the integration tests give each test
    session a database of its own.
    """
    with _superuser_connection(target.port) as conn:
        role_exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (target.user,)).fetchone()
        if not role_exists:
            say(f"creating database role {target.user}")
            statement = sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(target.user))
            if target.password:
                statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(target.password))
            conn.execute(statement)
        else:
            conn.execute(sql.SQL("ALTER ROLE {} CREATEDB").format(sql.Identifier(target.user)))
        db_exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.dbname,)).fetchone()
        if not db_exists:
            say(f"creating database {target.dbname} (owner {target.user})")
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(target.dbname), sql.Identifier(target.user)
                )
            )


# --------------------------------------------------------------------------- status / down


@dataclass(frozen=True)
class PgStatus:
    """What ``status`` reports about PostgreSQL."""

    up: bool
    url: str
    detail: str


def postgres_status(settings: Settings) -> PgStatus:
    """Whether the configured database answers, and whether it is our managed server."""
    shown = redact(settings.database_url)
    paths = PgPaths.of(settings)
    running = running_server(paths)
    error = connect_error(settings.database_url)
    if error is None:
        detail = f"(pid {running.pid}, managed)" if running else "(external, not managed by dealflow)"
        return PgStatus(True, shown, detail)
    if running:
        return PgStatus(False, shown, f"(managed server pid {running.pid} runs, but: {error})")
    return PgStatus(False, shown, "")


def stop_postgres(settings: Settings) -> None:
    """Stop the managed server (``pg_ctl stop -m fast``); never an external database."""
    paths = PgPaths.of(settings)
    running = running_server(paths)
    if running is None:
        say("PostgreSQL: no managed server running (nothing to stop)")
        return
    say(f"stopping PostgreSQL (pid {running.pid})")
    started = time.monotonic()
    cmd = [
        str(server_bin_dir(paths) / "pg_ctl"),
        "-D",
        str(paths.data),
        "-m",
        "fast",
        "-w",
        "-t",
        "60",
        "stop",
    ]
    run(as_os_user(cmd), what="pg_ctl stop", cwd=paths.home)
    note(f"stopped after {time.monotonic() - started:.1f} s")
