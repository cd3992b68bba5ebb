"""``python -m processors.cli``: the same as the ``dealflow`` command."""

from processors.cli.main import main

raise SystemExit(main())
