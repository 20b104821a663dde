#!/usr/bin/env bash
# Set up everything Tether needs to build, run and test (Debian/Ubuntu): system packages, the
# web UI's npm packages, and the built UI the desktop app embeds.
# Safe to re-run: installs only what is missing. Uses sudo when not root.
set -euo pipefail

packages=(
    # tests: brokers, keychain, network namespaces, certificates
    mosquitto mosquitto-clients dbus gnome-keyring python3-venv iproute2 openssl
    # the desktop app (Tauri v2 on Linux)
    pkg-config libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev
    libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
    # UI tests: Chromium (Playwright drives Debian's, no browser download); end to end: Xvfb,
    # WebKitWebDriver, a StatusNotifierItem tray host (gtk-sni-tray-standalone), screenshots (xwd, netpbm)
    chromium xvfb webkit2gtk-driver haskell-gtk-sni-tray-utils x11-apps netpbm
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

# The web UI (Svelte + Vite) needs Node.js 20.19 or newer.
if ! command -v node >/dev/null || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)'; then
    echo "setup: Node.js >= 20.19 with npm is required for the web UI (found: $(node --version 2>/dev/null || echo none))" >&2
    exit 1
fi
cd "$(dirname "${BASH_SOURCE[0]}")/../ui"
# Exactly the locked versions; the build goes to ui/dist, which the desktop app embeds.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build >/dev/null
