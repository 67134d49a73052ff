#!/usr/bin/env bash
# Create ./.venv (once) and install warmserve into it, with the extras named in $1.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
spec="."
[ -n "$extras" ] && spec=".[$extras]"
.venv/bin/python -m pip install -q -e "$spec" 2>&1 | grep -v -E "^WARNING: Location|is ignored" || true
.venv/bin/python -c "import warmserve" # fail loudly if the install did not work
