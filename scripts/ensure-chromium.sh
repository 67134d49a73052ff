#!/usr/bin/env bash
# The status page's browser tests drive Debian's Chromium (/usr/bin/chromium) with Playwright;
# no browser is downloaded by a test tool. Install it from Debian's packages when it is missing.
# Never fails the test run: where it cannot be installed, the browser tests skip.
set -uo pipefail
command -v chromium >/dev/null && exit 0
echo "chromium not found: installing it from Debian's packages (browser tests)" >&2
if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo -n"; else
  echo "not root and no sudo: the browser tests will skip" >&2; exit 0; fi
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null; }; then
  echo "could not install chromium: the browser tests will skip" >&2
fi
exit 0
