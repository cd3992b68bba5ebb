#!/usr/bin/env bash
# Runs the whole test suite against the real services: installs what is missing, brings the
# local stack (Kafka + PostgreSQL) up, then runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install.sh
dealflow stack up
python3 -m pytest -q "$@"
