#!/usr/bin/env bash
# Installs the real local peers the tests run against: redis-server (Debian package) and
# Azurite (npm, into .peers/). Idempotent; prints what to do when it cannot install.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing redis-server (apt)…"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server is missing: install it (e.g. 'sudo apt-get install redis-server') and re-run" >&2
    exit 1
  fi
fi

# headless Chromium renders the HTML report in its test
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (apt)…"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing: install it (e.g. 'sudo apt-get install chromium') and re-run" >&2
    exit 1
  fi
fi

if [ ! -x .peers/node_modules/.bin/azurite-blob ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is missing: install Node.js 18+ (it runs Azurite, the Blob Storage emulator) and re-run" >&2
    exit 1
  fi
  echo "installing Azurite (npm) into .peers/…"
  mkdir -p .peers
  npm install --prefix .peers --no-audit --no-fund --silent azurite@3 >/dev/null
fi
