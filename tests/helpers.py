"""Shared helpers for the Dealflow test suite."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """Return the path of the external tool ``name``, or stop the calling test.

    A missing tool skips the test locally, but fails it when ``CI=true`` so that
    a misconfigured CI runner can never silently skip coverage.
    """
    path = shutil.which(name)
    if path is not None:
        return path
    unavailable(f"required tool {name!r} was not found on PATH")
    raise AssertionError("unreachable")


def unavailable(message: str) -> None:
    """Stop the calling test because something it needs is missing: fail under ``CI=true``, else skip."""
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{message} (CI=true: a missing service or tool fails the run)", pytrace=False)
    pytest.skip(message)
