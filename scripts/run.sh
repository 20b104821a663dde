#!/usr/bin/env bash
# Set up and run Tether.
#   scripts/run.sh                 on a desktop: the desktop app; headless: `tether watch` on the
#                                  first profile, or the embedded demo (`tether demo`) without one
#   scripts/run.sh ARGS...         `tether ARGS...` (e.g. `watch --profile home`)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
cargo build --release --locked --quiet --workspace
bin=target/release/tether

# A desktop session: the desktop app (tray, notifications, window; the embedded demo when no
# profile exists). Without a display: the command line.
if [ $# -eq 0 ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; }; then
    exec target/release/tether-desktop
fi

if [ $# -gt 0 ]; then
    exec "$bin" "$@"
fi

if "$bin" profile list 2>/dev/null | grep -q $'\t'; then
    first=$("$bin" profile list | head -1 | cut -f1)
    echo "run: watching profile $first (Ctrl-C stops)"
    exec "$bin" watch --profile "$first"
fi

# No profile yet: the embedded demo (a broker and a simulated water heater inside Tether, and a
# fault switch on stdin), so a new user sees backoff, reconnection_failed and recovery at once.
echo "run: no profile yet, so Tether runs its embedded demo (add your broker with: $bin profile add NAME mqtt://host:1883)"
exec "$bin" demo
