"""What every command shares: the settings of a run (the environment, then ``--playbook``)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from processors.config import Settings


def settings_of(args: argparse.Namespace) -> Settings:
    """``Settings.from_env()`` with the command's ``--playbook``, when it has one and it is given."""
    settings = Settings.from_env()
    playbook = getattr(args, "playbook", None)
    return replace(settings, playbook=playbook) if playbook else settings
