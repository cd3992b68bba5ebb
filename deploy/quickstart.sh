#!/usr/bin/env bash
# Quickstart: install everything, bring the local stack up, run the live pipeline on the
# built-in sample stream and print the decisions and alerts as they happen.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install.sh
venv="${DEALFLOW_VENV:-.venv}"
"$venv/bin/dealflow" stack up
"$venv/bin/dealflow" demo --seconds "${DEALFLOW_DEMO_SECONDS:-45}"
