#!/usr/bin/env bash
# Wheels of warmserve[postgres] and all its dependencies into ./wheelhouse, so that
# `docker build --network none` installs everything offline (pip inside a build cannot
# verify TLS here, and a build with no network is reproducible anyway).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
rm -rf wheelhouse
"$python" -m pip wheel --quiet --wheel-dir wheelhouse ".[postgres]" 2>&1 \
  | grep -v -E "^WARNING: Location|is ignored" || true
ls wheelhouse/warmserve-*.whl >/dev/null  # fail loudly if our own wheel is missing
echo "wheelhouse: $(find wheelhouse -name '*.whl' | wc -l) wheels"
