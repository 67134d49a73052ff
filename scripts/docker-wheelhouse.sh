#!/usr/bin/env bash
# Wheels of warmserve[postgres] and all its dependencies into ./wheelhouse, so that
# `docker build --network none` installs everything offline (pip inside a build cannot
# verify TLS here, and a build with no network is reproducible anyway).
#
# `pip wheel` resolves for this interpreter (and builds any sdist-only package); the
# image's Python can need more, because environment markers differ: Debian bookworm's
# 3.11.2 needs async-timeout for redis, a newer 3.11 does not. wheelhouse_missing.py
# finds those from the wheels' metadata, and pip downloads them too.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
target="${TARGET_PYTHON_VERSION:-3.11.2}"
quiet() { grep -v -E "^WARNING: Location|is ignored" || true; }
rm -rf wheelhouse
"$python" -m pip wheel --quiet --wheel-dir wheelhouse ".[postgres]" 2>&1 | quiet
ls wheelhouse/warmserve-*.whl >/dev/null  # fail loudly if our own wheel is missing
mapfile -t extra < <("$python" scripts/wheelhouse_missing.py wheelhouse "$target")
if [ "${#extra[@]}" -gt 0 ]; then
  "$python" -m pip download --quiet --dest wheelhouse --only-binary=:all: "${extra[@]}" 2>&1 | quiet
fi
echo "wheelhouse: $(find wheelhouse -name '*.whl' | wc -l) wheels (for Python $target too: ${extra[*]:-nothing more})"
