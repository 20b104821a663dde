#!/usr/bin/env bash
# One command for the recovery benchmark:
#   bash bench/run.sh                                  # full run (10 x {5,60 s} x {broker-stop,link-cut})
#   bash bench/run.sh --runs 1 --outages 5             # smoke run
#   bash bench/run.sh --clients paho,mqttjs            # peers only (no Tether binary needed)
# All arguments go to bench/recovery.py (see --help there).  It installs its
# own dependencies (a venv with paho-mqtt, MQTT.js via npm ci) and is safe to
# re-run: both installs are skipped when already up to date.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."   # repo root, so relative paths in the report read naturally
python="${PYTHON:-python3}"
venv="$here/.venv"

# Python deps: a private venv, so the system Python stays untouched.
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import paho.mqtt, sys; sys.exit(0 if paho.mqtt.__version__.startswith("2.") else 1)' 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi

# Node deps: exactly what package-lock.json pins.  npm writes
# node_modules/.package-lock.json on install; if it is newer than the lock,
# the tree is current and we skip the (slow, network) npm ci.
if [ ! -f "$here/peers/node_modules/.package-lock.json" ] \
   || [ "$here/peers/package-lock.json" -nt "$here/peers/node_modules/.package-lock.json" ]; then
    (cd "$here/peers" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Tether itself: the release build of this checkout, unless TETHER_BIN points elsewhere.
if [ -z "${TETHER_BIN:-}" ]; then
    cargo build --release --locked --quiet --bin tether
fi

export BENCH_COMMAND="bash bench/run.sh${*:+ $*}"
exec "$venv/bin/python" "$here/recovery.py" "$@"
