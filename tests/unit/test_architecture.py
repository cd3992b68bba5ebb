"""The README's map of rooms matches the tree, and every import between rooms is one the map allows."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TOP_PACKAGES = ("processors", "schemas", "projections")
FRAMEWORK_MODULES = {"faust", "aiokafka", "mode"}
FRAMEWORK_ROOMS = {"processors.runtime", "processors.kafka", "processors.tools"}


def room_of(module: str) -> str | None:
    """The map's row a module belongs to: its deepest package listed in the map, or None if outside."""
    parts = module.split(".")
    if parts[0] not in TOP_PACKAGES:
        return None
    for depth in range(len(parts), 0, -1):
        candidate = ".".join(parts[:depth])
        if candidate in _rooms_in_tree():
            return candidate
    return parts[0]


def _rooms_in_tree() -> set[str]:
    rooms = {"schemas", "projections", "processors.config"}
    for init in (ROOT / "processors").rglob("__init__.py"):
        package = init.parent.relative_to(ROOT)
        if package.parts != ("processors",):
            rooms.add(".".join(package.parts))
    return rooms


def readme_map(text: str) -> dict[str, set[str]]:
    """Rows of the README's map: room -> rooms it may import (``None``-free; ``everything`` as ``{"*"}``)."""
    section = text.split("### The map", 1)[1].split("\n\n", 3)
    table = next(part for part in section if part.lstrip().startswith("| package"))
    rows: dict[str, set[str]] = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        room = _dotted(cells[0].strip("`"))
        allowed = cells[-1]
        rows[room] = {"*"} if allowed == "everything" else {_dotted(m) for m in re.findall(r"`([^`]+)`", allowed)}
    return rows


def _dotted(path: str) -> str:
    return path.removesuffix(".py").strip("/").replace("/", ".")


def imports_of(source: str) -> list[str]:
    """Absolute modules a source file imports (``from a import b`` gives ``a`` and ``a.b``)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(rows: dict[str, set[str]]) -> list[str]:
    """Every import between rooms, or of Faust/aiokafka, that the map does not allow."""
    found: list[str] = []
    for path in sorted(p for top in TOP_PACKAGES for p in (ROOT / top).rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        room = room_of(module)
        assert room is not None
        for name in imports_of(path.read_text()):
            if name.split(".")[0] in FRAMEWORK_MODULES and room not in FRAMEWORK_ROOMS:
                found.append(f"{module} imports {name}")
            target = room_of(name)
            if target is None or target == room or name in ("processors", "schemas", "projections"):
                continue
            if target == "processors" and _dotted(name) not in _rooms_in_tree():
                continue  # ``from processors.x import y`` where y is a module: x is the room
            allowed = rows.get(room, set())
            if "*" not in allowed and target not in allowed:
                found.append(f"{module} ({room}) imports {name} ({target})")
    return sorted(set(found))


def test_the_map_lists_every_room_of_the_tree_and_no_other() -> None:
    assert set(readme_map(README.read_text())) == _rooms_in_tree()


def test_every_import_between_rooms_is_allowed_by_the_map() -> None:
    assert violations(readme_map(README.read_text())) == []


def test_a_forbidden_import_is_reported() -> None:
    rows = readme_map(README.read_text())
    rows["processors.core"] = set()  # a core that may import nothing must be reported for importing schemas
    assert any(v.startswith("processors.core.") and "(schemas)" in v for v in violations(rows))
