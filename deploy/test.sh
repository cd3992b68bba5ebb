#!/usr/bin/env bash
# Runs the whole test suite against the real services: installs what is missing (the locked
# packages into the project's virtual environment), brings the local stack (Kafka + PostgreSQL)
# up, then runs pytest in that environment. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install.sh
venv="${DEALFLOW_VENV:-.venv}"
"$venv/bin/dealflow" stack up
"$venv/bin/python" -m pytest -q "$@"
