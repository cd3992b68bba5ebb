"""The command line as a newcomer meets it: every option explained with its default, the services
each command needs, the configuration variables, and ``--as-of`` taking a date or a timestamp."""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from processors.cli.main import main
from processors.cli.parser import build_parser

# What each command's help must name among the services it needs (checked against the code).
NEEDS = {
    "stack": ("Java", "Maven", "PostgreSQL"), "topics": ("Kafka",), "migrate": ("PostgreSQL",),
    "worker": ("Kafka", "PostgreSQL"), "rebuild": ("Kafka", "PostgreSQL"), "tail": ("Kafka",),
    "benchmarks": ("Kafka",), "pipeline": ("PostgreSQL",), "deal": ("PostgreSQL",), "review": ("PostgreSQL",),
    "digest": ("PostgreSQL",), "forecast": ("Kafka", "PostgreSQL with --save"),
    "sample": ("Kafka unless --out",), "simulate": ("Kafka unless --out",), "bench": ("Kafka", "PostgreSQL"),
    "soak": ("Kafka", "PostgreSQL"), "demo": ("Kafka", "PostgreSQL"), "backtest": ("PostgreSQL with --database-url",),
}


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def _options(command: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in command._actions if not isinstance(a, argparse._HelpAction)]


def _has_default(action: argparse.Action) -> bool:
    return action.default is not None and action.default is not False and action.default is not argparse.SUPPRESS


def _entry(help_text: str, option: str) -> str:
    """The lines of ``help_text`` that describe ``option`` (its invocation line and the indented ones after)."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().split(" ")[0].rstrip(",") == option
                 and line.startswith("  -"))
    entry = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith(" " * 6) or line.lstrip().startswith("-"):
            break
        entry.append(line)
    return " ".join(" ".join(entry).split())


def test_every_option_of_every_subcommand_has_help() -> None:
    commands = _subcommands()
    assert set(commands) == set(NEEDS) | {"contract"}  # every command but contract needs something
    missing = [f"{name} {a.option_strings or a.dest}" for name, command in commands.items()
               for a in _options(command) if not (a.help or "").strip()]
    assert missing == []


def test_options_with_a_default_show_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one entry per option, help unwrapped
    checked = 0
    for name, command in _subcommands().items():
        text = command.format_help()
        assert "(default: None)" not in text and "(default: False)" not in text, name
        for action in _options(command):
            if action.option_strings and _has_default(action):
                assert f"(default: {action.default})" in _entry(text, action.option_strings[0]), (name, action.dest)
                checked += 1
    assert checked >= 15  # e.g. bench --messages, soak --rate, simulate --seed, worker --loglevel


@pytest.mark.parametrize(("name", "needs"), sorted(NEEDS.items()))
def test_each_command_says_what_it_needs(name: str, needs: tuple[str, ...]) -> None:
    description = " ".join(_subcommands()[name].format_help().split())
    for service in needs:
        assert service in description, (name, service)


def test_simulate_and_sample_say_they_produce_to_kafka_and_end_defaults_to_now(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    commands = _subcommands()
    simulate = commands["simulate"].format_help()
    assert "default: now" in _entry(simulate, "--end") and "reproducible" in _entry(simulate, "--end")
    assert "produce to Kafka" in _entry(simulate, "--out")
    assert "Kafka" in _entry(commands["sample"].format_help(), "--out")


def _as_of(text: str) -> datetime:
    return build_parser().parse_args(["backtest", "in.jsonl", "--as-of", text]).as_of  # type: ignore[no-any-return]


def test_as_of_takes_a_date_or_a_timestamp() -> None:
    assert _as_of("2026-12-01") == datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert _as_of("2026-12-01T09:30:00Z") == datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
    moment = _as_of("2026-12-01T09:30:00+02:00")
    assert moment.utcoffset() == timedelta(hours=2) and moment == datetime(2026, 12, 1, 7, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(("text", "says"), [
    ("garbage", "is not a date or a timestamp"),
    ("2026-13-01", "is not a date or a timestamp"),
    ("2026-12-01T09:30:00", "has no timezone offset"),
])
def test_as_of_rejects_bad_input_clearly(capsys: pytest.CaptureFixture[str], text: str, says: str) -> None:
    with pytest.raises(SystemExit) as exited:
        _as_of(text)
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "argument --as-of" in error and says in error and "Traceback" not in error


def test_top_level_help_points_to_the_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for name in ("DEALFLOW_KAFKA_BOOTSTRAP", "DEALFLOW_DATABASE_URL", "DEALFLOW_KAFKA_SECURITY_PROTOCOL"):
        assert name in text
    assert "README" in text and "Configuration" in text


def test_python_dash_m_runs_the_same_command_line() -> None:
    result = subprocess.run([sys.executable, "-m", "processors.cli", "simulate", "--help"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and "usage: dealflow simulate" in result.stdout
