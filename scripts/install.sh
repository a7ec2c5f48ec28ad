#!/usr/bin/env bash
# Create the virtualenv and install the exact pins of both lock files (runtime + dev), then the project itself.
# The image installs requirements.lock alone (see Dockerfile).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.lock -r requirements-dev.lock
.venv/bin/python -m pip install --quiet --no-deps -e .
echo "installed into .venv"
