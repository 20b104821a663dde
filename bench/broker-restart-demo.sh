#!/usr/bin/env bash
# The issue's demonstration: `tether watch ... --json` against a Mosquitto (persistence on) that is
# stopped for 20 s and restarted; 30 QoS 1 messages are published right after the restart, while
# Tether is still in its backoff. Prints Tether's JSON lines and checks none is missing.
#   bash bench/broker-restart-demo.sh            (writes bench/results/watch-broker-restart-20s.jsonl)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --locked --quiet --bin tether
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n' "$port" "$dir" > "$dir/m.conf"
[ "$(id -u)" -eq 0 ] && echo "user root" >> "$dir/m.conf"
cleanup() { kill "${tpid:-}" "${bpid:-}" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
mosquitto -c "$dir/m.conf" >/dev/null 2>&1 & bpid=$!
sleep 0.5
out=bench/results/watch-broker-restart-20s.jsonl
mkdir -p bench/results
TETHER_DATA_DIR="$dir/data" target/release/tether watch "mqtt://127.0.0.1:$port" --sub 't/#' --json --client-id "tether-demo-$port" > "$out" & tpid=$!
sleep 2
mosquitto_pub -p "$port" -t t/a -m before -q 1
sleep 0.5
kill -TERM $bpid; wait $bpid 2>/dev/null || true
echo "broker stopped at $(date -u +%T.%3N)"
sleep 20
mosquitto -c "$dir/m.conf" >/dev/null 2>&1 & bpid=$!
sleep 0.3
echo "broker back at    $(date -u +%T.%3N); publishing 30 QoS 1 messages"
seq 1 30 | sed 's/^/while-away-/' | mosquitto_pub -p "$port" -t t/b -l -q 1
sleep 25
kill -TERM $tpid; wait $tpid 2>/dev/null || true
cat "$out"
got=$(grep -c '"payload":"while-away-' "$out" || true)
echo "received $got of 30 messages published while Tether was away"
[ "$got" -eq 30 ]
