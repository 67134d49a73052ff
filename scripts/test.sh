#!/usr/bin/env bash
# Install warmserve with its test tools, make sure Redis answers, then lint, type-check and test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
bash scripts/ensure-redis.sh
bash scripts/ensure-chromium.sh # the status page's browser tests (they skip without it)
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
