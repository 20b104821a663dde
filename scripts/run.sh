#!/usr/bin/env bash
# Set up and run Tether.
#   scripts/run.sh                 with no profile: a local Mosquitto on 127.0.0.1 and `tether watch` on it
#   scripts/run.sh ARGS...         `tether ARGS...` (e.g. `watch --profile home`)
# The desktop app and its embedded demo arrive with the next milestone (issue 3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
cargo build --release --locked --quiet
bin=target/release/tether

if [ $# -gt 0 ]; then
    exec "$bin" "$@"
fi

if "$bin" profile list 2>/dev/null | grep -q $'\t'; then
    first=$("$bin" profile list | head -1 | cut -f1)
    echo "run: watching profile $first (Ctrl-C stops)"
    exec "$bin" watch --profile "$first"
fi

# No profile: a throwaway local broker to watch, so you can see the link engine at work.
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
conf="$dir/mosquitto.conf"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n' "$port" "$dir" > "$conf"
[ "$(id -u)" -eq 0 ] && echo "user root" >> "$conf"
mosquitto -c "$conf" >/dev/null 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null; rm -rf "$dir"' EXIT
sleep 0.5
cat <<MSG
run: no profile yet, so Tether watches a local Mosquitto on 127.0.0.1:$port (Ctrl-C stops).
     In another terminal:
       mosquitto_pub -p $port -t demo/hello -m hi -q 1      # a message arrives
       kill -STOP $broker; sleep 40; kill -CONT $broker        # a dead link, found by keepalive
     Add your own broker with: target/release/tether profile add NAME mqtt://host:1883
MSG
"$bin" watch "mqtt://127.0.0.1:$port" --sub '#' --client-id "tether-run-$port" --keepalive 10
