#!/usr/bin/env bash
# Installs what the browser tests and the offline dashboard need: Debian's Chromium and
# Solara's front-end assets in its local cache. Safe to run again; does nothing when done.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null
  fi
fi
# Solara's JavaScript and CSS, fetched from the npm registry into solara-server's local cache.
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
"$PY" -m agentmarket.visualization.assets
