#!/usr/bin/env bash
# Regenerates requirements.lock (every package, exact versions and hashes) from pyproject.toml.
# Run it after changing a dependency in pyproject.toml, then ./deploy/install.sh and the suite.
#   ./deploy/lock.sh             resolve the newest versions the constraints allow
#   ./deploy/lock.sh --upgrade-package pydantic   move one package, keep the others
# uv (from PyPI) resolves; it is installed into a throwaway virtual environment, not the project's.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${DEALFLOW_LOCK_TOOLS:-${TMPDIR:-/tmp}/dealflow-lock-tools}"
[ -x "$tools/bin/uv" ] || { python3 -m venv "$tools" && "$tools/bin/pip" install -q --disable-pip-version-check uv; }
"$tools/bin/uv" pip compile pyproject.toml --extra test --generate-hashes --universal \
  --python-version 3.11 --custom-compile-command "./deploy/lock.sh" -o requirements.lock "$@"
