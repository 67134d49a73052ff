#!/usr/bin/env bash
# Images for a machine that reaches no image registry (needs root and a running engine,
# DOCKER_HOST set): a Debian bookworm base with Python 3.11 made by debootstrap, and
# stand-ins for the postgres and redis images built from Debian's packages. The root
# file systems are cached as tarballs, so a second run only imports them.
#   local/bookworm-python:3.11   BASE_IMAGE of the Dockerfile
#   local/postgres-standin       WARMSERVE_POSTGRES_IMAGE (same env contract as postgres)
#   local/redis-standin          WARMSERVE_REDIS_IMAGE
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${WARMSERVE_DOCKER_CACHE:-/var/cache/warmserve-docker}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$cache"
if ! command -v debootstrap >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

rootfs() {  # rootfs NAME PACKAGES -> a cached tarball of a minimal bookworm with PACKAGES
  local tar="$cache/$1.tar"
  if [ ! -s "$tar" ]; then
    local dir
    dir="$(mktemp -d)"
    debootstrap --variant=minbase --include="$2" bookworm "$dir" "$mirror" >"$cache/$1.log" 2>&1
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar -C "$dir" -c . >"$tar.tmp"
    mv "$tar.tmp" "$tar"
    rm -rf "$dir"
  fi
  echo "$tar"
}

docker import "$(rootfs python python3,python3-venv,python3-pip,ca-certificates)" \
  local/bookworm-python:3.11 >/dev/null
docker import "$(rootfs infra postgresql-15,redis-server,ca-certificates)" \
  local/bookworm-infra:latest >/dev/null
docker build --network none -q -t local/postgres-standin -f deploy/standins/postgres.Dockerfile \
  deploy/standins >/dev/null
docker build --network none -q -t local/redis-standin -f deploy/standins/redis.Dockerfile \
  deploy/standins >/dev/null
echo "images: local/bookworm-python:3.11 local/postgres-standin local/redis-standin"
