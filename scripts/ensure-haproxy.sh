#!/usr/bin/env bash
# haproxy (Debian) plays the Kubernetes Service in tests/e2e/test_multihost.py. That test
# needs root for network namespaces, so without root there is nothing to install.
set -euo pipefail
command -v haproxy >/dev/null && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "not root: skipping haproxy (the multi-host test will skip)" >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
# Debian's package starts a system haproxy with its own config: the tests run their own.
if command -v systemctl >/dev/null; then systemctl disable --now haproxy >/dev/null 2>&1 || true; fi
haproxy -v | head -1
