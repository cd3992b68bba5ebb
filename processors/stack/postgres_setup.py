"""Preparing the managed PostgreSQL server's files: where they live, its binaries, initdb, its config.

The local server comes from Debian's packages (``/usr/lib/postgresql/<version>/bin``) and keeps
its files in ``<state_dir>/postgres`` (``data/``, ``postgres.log``, ``run/`` for the socket).
initdb and postgres refuse to run as root, so as root they run as the ``postgres`` OS user
(``runuser -u postgres --``), which then owns that directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from string import Template

from processors.config import Settings
from processors.stack.common import DEPLOY_DIR, StackError, run, say

PG_LIB = Path("/usr/lib/postgresql")
# Used instead of <state_dir>/postgres when we run as root and the postgres OS user cannot
# traverse the state directory's parents (e.g. a state dir under /root, mode 0700). The
# postgres server must be able to reach its data directory, so it lives here instead, shared
# by every state dir on the machine.
FALLBACK_HOME = Path("/var/lib/dealflow/postgres")
CONF_TEMPLATE = DEPLOY_DIR / "postgres" / "dealflow.conf"
INCLUDE_LINE = "include_if_exists = 'dealflow.conf'"
SUPERUSER = "postgres"
OS_USER = "postgres"
MAX_SOCKET_PATH = 100  # unix socket paths are limited to 107 bytes


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


def as_os_user(cmd: list[str]) -> list[str]:
    """``cmd`` run as the postgres OS user when we are root (initdb/postgres refuse root)."""
    return ["runuser", "-u", OS_USER, "--", *cmd] if os.geteuid() == 0 else cmd


def _chown_to_os_user(*paths: Path) -> None:
    if os.geteuid() != 0:
        return
    account = _postgres_account()
    for path in paths:
        os.chown(path, account.pw_uid, account.pw_gid)


def server_bin_dir(paths: PgPaths) -> Path:
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


def prepare_home(paths: PgPaths) -> None:
    """Create the server's directory (owned by the postgres OS user when we are root)."""
    if paths.home == FALLBACK_HOME:
        say(f"the postgres OS user cannot reach the state dir: keeping PostgreSQL in {FALLBACK_HOME}")
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.socket_dir.mkdir(parents=True, exist_ok=True)
    paths.log.touch(exist_ok=True)
    _chown_to_os_user(paths.home, paths.log)
    if paths.socket_dir != Path("/tmp"):
        _chown_to_os_user(paths.socket_dir)


def initdb(paths: PgPaths, bin_dir: Path) -> None:
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
    run(as_os_user(cmd), what="initdb", cwd=paths.home)


def write_config(paths: PgPaths, port: int) -> None:
    """Render ``deploy/postgres/dealflow.conf`` into the data dir and include it."""
    text = Template(CONF_TEMPLATE.read_text()).substitute(port=port, socket_dir=str(paths.socket_dir))
    conf = paths.data / "dealflow.conf"
    conf.write_text(text)
    _chown_to_os_user(conf)
    main_conf = paths.data / "postgresql.conf"
    if INCLUDE_LINE not in main_conf.read_text():
        with main_conf.open("a") as handle:
            handle.write(f"\n# Added by `dealflow stack up`:\n{INCLUDE_LINE}\n")
