"""The core stays pure: no Kafka, database, metrics, wall clock or randomness.

:func:`purity_offences` is the one checker: the real tests run it on the whole of
``processors/core`` (subpackages such as ``detection`` included), and the canary tests run it
on small modules written for the purpose, so the checker is shown to catch what it must.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "processors" / "core"
CORE_PACKAGE = "processors.core"
FORBIDDEN_MODULES = {"faust", "aiokafka", "kafka", "psycopg", "prometheus_client", "random", "secrets", "time",
                     "os", "socket", "asyncio", "threading"}
# pydantic: pure models
ALLOWED_PREFIXES = ("processors.core", "processors.forecast", "schemas", "__future__", "pydantic")
STDLIB_OK = {"collections", "dataclasses", "datetime", "decimal", "typing", "uuid", "hashlib", "itertools", "functools",
             "heapq", "math", "statistics", "bisect", "enum", "json", "operator", "re"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic"}
FORBIDDEN_BUILTINS = {"open", "input", "__import__", "eval", "exec"}


def modules_under(root: Path) -> list[Path]:
    """Every Python module under ``root``, subpackages included."""
    return sorted(root.rglob("*.py"))


def _imported(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    """Absolute names an import statement in ``package`` brings in (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        return [node.module] if node.module else []
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - (node.level - 1)]) if node.level - 1 < len(parts) else ""
    if node.module:
        return [f"{base}.{node.module}" if base else node.module]
    return [f"{base}.{alias.name}" if base else alias.name for alias in node.names]


def _allowed(name: str) -> bool:
    if any(name == prefix or name.startswith(prefix + ".") for prefix in ALLOWED_PREFIXES):
        return True
    return name.split(".")[0] in STDLIB_OK


def purity_offences(root: Path, package: str = CORE_PACKAGE) -> list[str]:
    """What breaks purity in the modules under ``root``, taken as the package ``package``:
    imports outside ``schemas``, the core, pydantic and the pure standard library; clock reads
    (``datetime.now()``, ``time.time()``, ...); I/O and dynamic-import builtins.
    """
    offences: list[str] = []
    for path in modules_under(root):
        relative = path.relative_to(root)
        where = ".".join((package, *relative.parent.parts)) if relative.parent.parts else package
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                offences += [f"{relative}:{node.lineno} imports {name}"
                             for name in _imported(node, where) if not _allowed(name)]
            elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_CALLS:
                offences.append(f"{relative}:{node.lineno} .{node.attr}")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in FORBIDDEN_BUILTINS):
                offences.append(f"{relative}:{node.lineno} {node.func.id}()")
    return offences


def test_the_check_covers_the_whole_core_with_its_subpackages() -> None:
    checked = set(modules_under(CORE))
    assert CORE / "decide.py" in checked
    assert CORE / "detection" / "detectors.py" in checked
    assert set((CORE / "detection").glob("*.py")) <= checked


def test_core_is_pure() -> None:
    assert purity_offences(CORE) == []


def test_the_forecast_is_pure_like_the_core() -> None:
    """Issue 18: the forecast reads facts and alerts passed in, as of a moment passed in."""
    forecast = CORE.parent / "forecast"
    assert forecast / "model.py" in modules_under(forecast)
    assert purity_offences(forecast, "processors.forecast") == []


def _write(root: Path, source: str, name: str = "mod.py") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


@pytest.mark.parametrize("module", sorted(FORBIDDEN_MODULES))
@pytest.mark.parametrize("form", ["import {m}", "import {m} as alias", "from {m} import something"])
def test_the_checker_reports_a_forbidden_import(tmp_path: Path, module: str, form: str) -> None:
    _write(tmp_path, form.format(m=module) + "\n")
    assert purity_offences(tmp_path) == [f"mod.py:1 imports {module}"]


@pytest.mark.parametrize("call", ["datetime.now()", "datetime.utcnow()", "date.today()", "time.time()",
                                  "time.monotonic()", "datetime.now(timezone.utc)"])
def test_the_checker_reports_a_clock_read(tmp_path: Path, call: str) -> None:
    _write(tmp_path, f"from datetime import date, datetime, timezone\n\n\ndef f():\n    return {call}\n")
    assert [offence.split(" ")[0] for offence in purity_offences(tmp_path)] == ["mod.py:5"]


@pytest.mark.parametrize("call", sorted(FORBIDDEN_BUILTINS))
def test_the_checker_reports_io_and_dynamic_imports(tmp_path: Path, call: str) -> None:
    _write(tmp_path, f"def f(x):\n    return {call}(x)\n")
    assert purity_offences(tmp_path) == [f"mod.py:2 {call}()"]


def test_the_checker_looks_into_subpackages_and_resolves_relative_imports(tmp_path: Path) -> None:
    _write(tmp_path, "", "__init__.py")
    _write(tmp_path, "", "detection/__init__.py")
    _write(tmp_path, "from ...runtime import worker\nfrom . import detectors\nfrom .. import state\n",
           "detection/lifecycle.py")
    _write(tmp_path, "import random\n", "detection/deep/detectors.py")
    assert sorted(purity_offences(tmp_path)) == [
        "detection/deep/detectors.py:1 imports random",
        "detection/lifecycle.py:1 imports processors.runtime",
    ]


def test_the_checker_passes_a_pure_module(tmp_path: Path) -> None:
    _write(tmp_path, "from __future__ import annotations\n\nfrom datetime import datetime, timedelta\n\n"
                     "from processors.core.state import DealState\nfrom schemas.facts import Fact\n\n\n"
                     "def later(at: datetime) -> datetime:\n    return at + timedelta(days=1)\n")
    assert purity_offences(tmp_path) == []


def test_the_allowed_standard_library_excludes_every_forbidden_module() -> None:
    assert not FORBIDDEN_MODULES & STDLIB_OK
    assert not any(_allowed(module) for module in FORBIDDEN_MODULES)
