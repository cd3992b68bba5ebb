"""The PostgreSQL half of the local stack: reuse the configured database or run a local server.

The local server comes from Debian's packages (``/usr/lib/postgresql/<version>/bin``) and keeps
its files in ``<state_dir>/postgres`` (``data/``, ``postgres.log``, ``run/`` for the socket).
initdb and postgres refuse to run as root, so as root they run as the ``postgres`` OS user
(``runuser -u postgres --``), which then owns that directory.
"""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from processors.config import Settings
from processors.stack.common import (
    DEPLOY_DIR,
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

PG_LIB = Path("/usr/lib/postgresql")
# Used instead of <state_dir>/postgres when we run as root and the postgres OS user cannot
# traverse the state directory's parents (e.g. a state dir under /root, mode 0700). The
# postgres server must be able to reach its data directory, so it lives here instead, shared
# by every state dir on the machine.
FALLBACK_HOME = Path("/var/lib/dealflow/postgres")
CONF_TEMPLATE = DEPLOY_DIR / "postgres" / "dealflow.conf"
INCLUDE_LINE = "include_if_exists = 'dealflow.conf'"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
LISTEN_HOST = "127.0.0.1"
SUPERUSER = "postgres"
OS_USER = "postgres"
MAX_SOCKET_PATH = 100  # unix socket paths are limited to 107 bytes


# --------------------------------------------------------------------------- paths and URL


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


@dataclass(frozen=True)
class PgPaths:
    """Where the managed server keeps its files."""

    home: Path

    @classmethod
    def of(cls, settings: Settings) -> PgPaths:
        state_dir = settings.state_dir
        if os.geteuid() == 0 and state_dir.exists() and not _os_user_can_enter(state_dir):
            return cls(FALLBACK_HOME)
        return cls(state_dir / "postgres")

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def log(self) -> Path:
        return self.home / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        sockets = self.home / "run"
        return sockets if len(f"{sockets}/.s.PGSQL.65535") <= MAX_SOCKET_PATH else Path("/tmp")


def _os_user_can_enter(directory: Path) -> bool:
    """True when the postgres OS user can traverse ``directory`` and all its parents."""
    _postgres_account()
    done = subprocess.run(
        ["runuser", "-u", OS_USER, "--", "test", "-x", str(directory)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _postgres_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        raise StackError(
            f"there is no `{OS_USER}` OS user to run PostgreSQL as; "
            f"install PostgreSQL with `apt-get install postgresql`"
        ) from None


def _as_os_user(cmd: list[str]) -> list[str]:
    """``cmd`` run as the postgres OS user when we are root (initdb/postgres refuse root)."""
    return ["runuser", "-u", OS_USER, "--", *cmd] if os.geteuid() == 0 else cmd


def _chown_to_os_user(*paths: Path) -> None:
    if os.geteuid() != 0:
        return
    account = _postgres_account()
    for path in paths:
        os.chown(path, account.pw_uid, account.pw_gid)


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


def _bin_dir(paths: PgPaths) -> Path:
    """The bin directory of the installed PostgreSQL to use (the data dir's version, else the newest)."""
    installed = sorted(
        (p.parent.parent for p in PG_LIB.glob("*/bin/postgres")),
        key=lambda d: [int(x) for x in d.name.split(".") if x.isdigit()],
    )
    if not installed:
        raise StackError(
            f"no PostgreSQL server found under {PG_LIB}; install it with "
            f"`apt-get install postgresql` (or set DEALFLOW_DATABASE_URL to an existing database)"
        )
    version_file = paths.data / "PG_VERSION"
    if version_file.is_file():
        version = version_file.read_text().strip()
        for candidate in installed:
            if candidate.name == version:
                return candidate / "bin"
        raise StackError(
            f"{paths.data} was created by PostgreSQL {version}, which is not installed; "
            f"install it (`apt-get install postgresql-{version}`) or remove that directory"
        )
    return installed[-1] / "bin"


def _start_server(paths: PgPaths, port: int, deadline: Deadline) -> None:
    """initdb (first run only), write our config, and ``pg_ctl start``."""
    bin_dir = _bin_dir(paths)
    _prepare_home(paths)
    if not (paths.data / "PG_VERSION").is_file():
        _initdb(paths, bin_dir)
    _write_config(paths, port)
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
        run(_as_os_user(cmd), what="pg_ctl start", cwd=paths.home)
    except StackError as exc:
        raise StackError(
            f"PostgreSQL did not start within {deadline.seconds:.0f} s ({exc}).\n"
            f"Last lines of {paths.log}:\n{log_tail(paths.log)}"
        ) from exc


def _prepare_home(paths: PgPaths) -> None:
    """Create the server's directory (owned by the postgres OS user when we are root)."""
    if paths.home == FALLBACK_HOME:
        say(f"the postgres OS user cannot reach the state dir: keeping PostgreSQL in {FALLBACK_HOME}")
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.socket_dir.mkdir(parents=True, exist_ok=True)
    paths.log.touch(exist_ok=True)
    _chown_to_os_user(paths.home, paths.log)
    if paths.socket_dir != Path("/tmp"):
        _chown_to_os_user(paths.socket_dir)


def _initdb(paths: PgPaths, bin_dir: Path) -> None:
    """Create the database cluster (trust auth on 127.0.0.1 only, superuser ``postgres``)."""
    if paths.data.exists():  # a previous initdb broke off half-way: start over
        shutil.rmtree(paths.data)
    say(f"initialising PostgreSQL data directory {paths.data} (first run only)")
    cmd = [
        str(bin_dir / "initdb"),
        "-D",
        str(paths.data),
        "--auth=trust",
        "-U",
        SUPERUSER,
        "--encoding=UTF8",
        "--locale=C.UTF-8",
    ]
    run(_as_os_user(cmd), what="initdb", cwd=paths.home)


def _write_config(paths: PgPaths, port: int) -> None:
    """Render ``deploy/postgres/dealflow.conf`` into the data dir and include it."""
    text = Template(CONF_TEMPLATE.read_text()).substitute(port=port, socket_dir=str(paths.socket_dir))
    conf = paths.data / "dealflow.conf"
    conf.write_text(text)
    _chown_to_os_user(conf)
    main_conf = paths.data / "postgresql.conf"
    if INCLUDE_LINE not in main_conf.read_text():
        with main_conf.open("a") as handle:
            handle.write(f"\n# Added by `dealflow stack up`:\n{INCLUDE_LINE}\n")


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
        str(_bin_dir(paths) / "pg_ctl"),
        "-D",
        str(paths.data),
        "-m",
        "fast",
        "-w",
        "-t",
        "60",
        "stop",
    ]
    run(_as_os_user(cmd), what="pg_ctl stop", cwd=paths.home)
    note(f"stopped after {time.monotonic() - started:.1f} s")
