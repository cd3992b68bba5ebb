"""Loading and validating playbook files (TOML), with errors that name the line or field."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from schemas.playbook import Playbook

DEFAULT_PLAYBOOK_PATH = Path(__file__).parent / "default.toml"


class PlaybookError(ValueError):
    """A playbook file that cannot be used; the message names the file and the problem."""


def _format_validation(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid playbook"]
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


def load_playbook(path: str | Path | None = None) -> Playbook:
    """Load a playbook TOML file (``None``: the built-in default)."""
    file = Path(path) if path else DEFAULT_PLAYBOOK_PATH
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlaybookError(f"{file}: playbook file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PlaybookError(f"{file}: not valid TOML: {exc}") from None
    try:
        return Playbook.model_validate(data)
    except ValidationError as exc:
        raise PlaybookError(_format_validation(file, exc)) from None


@lru_cache(maxsize=1)
def default_playbook() -> Playbook:
    """The built-in default playbook (cached)."""
    return load_playbook(None)
