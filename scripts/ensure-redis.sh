#!/usr/bin/env bash
# Tests use a real Redis on 127.0.0.1:6379. Start one if none answers.
set -euo pipefail
port="${WARMSERVE_TEST_REDIS_PORT:-6379}"
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null; }
answers && exit 0
if ! command -v redis-server >/dev/null; then
  echo "redis-server not found: installing it from Debian's packages" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq redis-server >/dev/null; fi
fi
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
  --dir /tmp --logfile "/tmp/warmserve-test-redis-$port.log"
for _ in $(seq 1 100); do answers && exit 0; sleep 0.1; done
echo "redis did not start on port $port" >&2
exit 1
