#!/usr/bin/env bash
# Installs everything Dealflow needs on a fresh Debian machine; safe to run again.
#   system packages (only those missing): Java 17, Maven, PostgreSQL, Prometheus, docker-compose,
#     python3-venv
#   Python packages: exactly those of requirements.lock (versions and hashes), into the project's
#     own virtual environment (DEALFLOW_VENV, default .venv), then this project itself (editable)
# Afterwards: `source .venv/bin/activate` puts `dealflow` on the PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${DEALFLOW_VENV:-.venv}"

sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "Dealflow needs Python 3.11 or newer; python3 is $(python3 -V 2>&1)" >&2; exit 1; }

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
[ -x "$venv/bin/python" ] || python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)

if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating the virtual environment $venv"
  python3 -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip -q --disable-pip-version-check)
echo "==> installing the locked packages (requirements.lock) into $venv"
"${pip[@]}" install --require-hashes --no-deps -r requirements.lock
echo "==> installing Dealflow (editable) into $venv"
"${pip[@]}" install --no-deps -e .
"${pip[@]}" check
