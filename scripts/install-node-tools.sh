#!/usr/bin/env bash
# The console's dev-only npm tools (eslint, axe-core, the emoji data set): Node.js from Debian when the
# machine lacks it, then the exact versions of package-lock.json (`npm ci`; the lock names no download address).
set -euo pipefail
cd "$(dirname "$0")/.."
need_node() {
  command -v node >/dev/null && command -v npm >/dev/null \
    && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'
}
if ! need_node; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
need_node || { echo "Node.js >= 20.19 is required (eslint 10): found $(node --version 2>/dev/null || echo none)" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error
echo "node tools installed: node $(node --version), eslint $(npx --no-install eslint --version)"
