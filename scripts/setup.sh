#!/usr/bin/env bash
# Install the system packages Tether's tests and local broker need (Debian/Ubuntu).
# Safe to re-run: installs only what is missing. Uses sudo when not root.
set -euo pipefail

packages=(
    # tests: brokers, keychain, network namespaces, certificates
    mosquitto mosquitto-clients dbus gnome-keyring python3-venv iproute2 openssl
    # the desktop app (Tauri v2 on Linux)
    pkg-config libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev
    libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts a system-wide mosquitto on 1883 when installed; the tests use their own brokers
# on ephemeral ports and do not need it.
command -v cargo >/dev/null || { echo "setup: Rust (cargo) is required: https://rustup.rs" >&2; exit 1; }
