#!/usr/bin/env bash
# Install warmserve and serve the demo model from the embedded registry (./.warmserve).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/warmserve demo "$@"
