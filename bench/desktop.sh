#!/usr/bin/env bash
# The desktop app's footprint, launch time and responsiveness (bench/desktop.mjs), on the release
# build under Xvfb.   RUNS=5 bash bench/desktop.sh   (about 8 minutes after the build)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
command -v tauri-driver >/dev/null || cargo install tauri-driver --locked --version 2.1.0
cargo build --release --locked --quiet -p tether-desktop -p tether-app -p tether
export TETHER_DESKTOP_BIN="$PWD/target/release/tether-desktop" TETHER_BIN="$PWD/target/release/tether"
exec node bench/desktop.mjs
