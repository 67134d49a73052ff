#!/usr/bin/env bash
# A private Docker engine for the opt-in container test (needs root). Installs Debian's
# docker.io if dockerd is missing, starts it on its own socket with no bridge and no
# iptables (this machine's constraints), and stops it again by its pid.
#   bash scripts/docker-engine.sh start    # prints the DOCKER_HOST to use
#   bash scripts/docker-engine.sh stop     # stops dockerd and removes its data root
set -euo pipefail
root="${WARMSERVE_DOCKER_ROOT:-/tmp/wsdocker}"
sock="unix://$root/docker.sock"
case "${1:-}" in
start)
  if ! command -v dockerd >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  mkdir -p "$root"
  if ! { [ -f "$root/dockerd.pid" ] && kill -0 "$(cat "$root/dockerd.pid")" 2>/dev/null; }; then
    setsid dockerd --data-root "$root/data" --exec-root "$root/exec" \
      --pidfile "$root/dockerd.pid" -H "$sock" \
      --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
      >"$root/dockerd.log" 2>&1 </dev/null &
  fi
  for _ in $(seq 1 150); do
    if docker -H "$sock" info >/dev/null 2>&1; then echo "DOCKER_HOST=$sock"; exit 0; fi
    sleep 0.2
  done
  echo "dockerd did not start; see $root/dockerd.log" >&2
  exit 1
  ;;
stop)
  if [ -f "$root/dockerd.pid" ]; then
    pid="$(cat "$root/dockerd.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$root"
  ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
