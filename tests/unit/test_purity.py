"""The core stays pure: no Kafka, database, metrics, wall clock or randomness."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "processors" / "core"
FORBIDDEN_MODULES = {"faust", "aiokafka", "kafka", "psycopg", "prometheus_client", "random", "secrets", "time",
                     "os", "socket", "asyncio", "threading"}
ALLOWED_PREFIXES = ("processors.core", "schemas", "__future__", "pydantic")  # pydantic: pure models
STDLIB_OK = {"collections", "dataclasses", "datetime", "decimal", "typing", "uuid", "hashlib", "itertools", "functools",
             "heapq", "math", "statistics", "bisect", "enum", "json", "operator"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic"}


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_core_imports_only_schemas_and_pure_stdlib() -> None:
    offenders = []
    for path in CORE.glob("*.py"):
        for name in _imports(ast.parse(path.read_text())):
            top = name.split(".")[0]
            if name.startswith(ALLOWED_PREFIXES) or top in STDLIB_OK:
                continue
            offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_core_never_reads_the_clock() -> None:
    offenders = []
    for path in CORE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_CALLS:
                offenders.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert offenders == []


def test_forbidden_list_is_enforced() -> None:
    assert not FORBIDDEN_MODULES & STDLIB_OK
