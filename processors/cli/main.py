"""The ``dealflow`` command line: parse the arguments, run the chosen command."""

from __future__ import annotations

import sys

from processors.cli.parser import build_parser
from processors.config import SettingsError


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dealflow`` console script and of ``python -m processors.cli``."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"dealflow {args.command}: {exc} (see README, Configuration)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
