"""Small helpers shared by the local stack manager (``processors.stack.manager``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"


class StackError(Exception):
    """The local stack cannot be brought up or down; the message says why and what to do."""


def say(message: str) -> None:
    """Print one progress line."""
    print(f"==> {message}", flush=True)


def note(message: str) -> None:
    """Print an indented detail line under the last progress line."""
    print(f"    {message}", flush=True)


@dataclass(frozen=True)
class Deadline:
    """A point in (monotonic) time by which a service must be up."""

    at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds, seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file, indented, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"    (no log at {path})"
    tail = text.splitlines()[-lines:]
    return "\n".join(f"    | {line}" for line in tail) or "    (log is empty)"


def require_tool(name: str, debian_package: str) -> str:
    """Absolute path of the executable ``name``, or a StackError that says what to install."""
    path = shutil.which(name)
    if path is None:
        raise StackError(f"`{name}` was not found on PATH; install it first, e.g. `apt-get install {debian_package}`")
    return path


def run(cmd: Sequence[str], *, what: str, cwd: Path | None = None, timeout: float | None = None) -> str:
    """Run a command to completion and return its output; StackError (with the output) on failure."""
    try:
        done = subprocess.run(
            list(cmd),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{what} did not finish within {timeout:.0f} s") from exc
    except OSError as exc:
        raise StackError(f"{what} could not be run: {exc}") from exc
    if done.returncode != 0:
        output = "\n".join(f"    | {line}" for line in done.stdout.splitlines()[-25:])
        raise StackError(f"{what} failed (exit code {done.returncode}):\n{output}")
    return done.stdout


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` exists and is not a zombie (reaping it if it is our child)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    """The command line of process ``pid`` (empty when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
