#!/usr/bin/env bash
# Quickstart: install everything, bring the local stack up, run the live pipeline on the
# built-in sample stream and print the decisions and alerts as they happen.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install.sh
dealflow stack up
dealflow demo --seconds "${DEALFLOW_DEMO_SECONDS:-45}"
