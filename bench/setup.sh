#!/usr/bin/env bash
# Install what bench/throughput.py needs beyond the project's venv:
# wrk (Debian package), py-spy (into the venv only; used for the profile), and
# xgboost + lightgbm (the `test` extra) for the bench-xgb and bench-lgbm models.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
    apt-get update
    apt-get install -y wrk
fi
if ! .venv/bin/python -c "import xgboost, lightgbm" 2>/dev/null; then
    bash scripts/bootstrap.sh test
fi
if [ ! -x .venv/bin/py-spy ]; then
    .venv/bin/pip install py-spy
fi
wrk --version 2>&1 | head -n 1 || true
.venv/bin/py-spy --version
