"""The ``dealflow`` command line: parse the arguments, run the chosen command."""

from __future__ import annotations

import sys

from processors.cli.parser import build_parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dealflow`` console script and of ``python -m processors.cli``."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
