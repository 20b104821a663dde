#!/usr/bin/env bash
# The test command: set up, then check formatting and lints, then run every test: the core (unit
# tests, real-Mosquitto integration tests, the CLI, the real Secret Service), the desktop app
# (its command layer against the real keychain and a real D-Bus notification server), the web UI
# in Chromium with mocked IPC, and the real app end to end under Xvfb.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The integration tests start their own Mosquitto brokers, fault proxies, D-Bus session and
# gnome-keyring; nothing is shared between tests.
cargo test --workspace --locked

# The web UI: type check, then Playwright-driven Chromium against the built UI (mocked IPC).
(cd ui && npm run --silent check && npm test)

# End to end: the real app in demo mode, driven by tauri-driver + WebKitWebDriver under Xvfb.
command -v tauri-driver >/dev/null || cargo install tauri-driver --locked --version 2.1.0
cargo build -p tether-desktop -p tether-app -p tether --locked
# One desktop at a time: each starts its own X server, bus and tray host, and the demo test
# clears the screenshot folder when it starts.
node --test --test-concurrency=1 e2e/
echo "test: all passed; screenshots in target/test-output/"
