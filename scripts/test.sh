#!/usr/bin/env bash
# The test command: set up, then check formatting and lints, then run every test
# (unit tests, real-Mosquitto integration tests, the CLI, the real Secret Service).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The integration tests start their own Mosquitto brokers, fault proxies, D-Bus session and
# gnome-keyring; nothing is shared between tests.
cargo test --workspace --locked
