#!/usr/bin/env bash
# A throwaway Redis on 127.0.0.1 for the tests of nxcloud_ota.contrib.redis.
#
#   .ci/redis.sh start PORT   # start one unless something already answers PING there
#   .ci/redis.sh stop PORT    # stop it, only if `start` started it
#
# Idempotent: starting twice starts once, stopping what was not started does
# nothing. Installs Debian's redis-server quietly when it is missing (as root).
# What it started is recorded in ${TMPDIR:-/tmp}/nxcloud-ota-redis-PORT.pid.
# Call it from a `set -euo pipefail` script: it exits non-zero only when it cannot
# start Redis.
set -euo pipefail

redis_usage() {
  echo "usage: $0 start|stop PORT" >&2
  exit 2
}

[[ $# -eq 2 && $2 =~ ^[0-9]+$ ]] || redis_usage
action=$1
port=$2
pidfile="${TMPDIR:-/tmp}/nxcloud-ota-redis-${port}.pid"

redis_answers() {
  command -v redis-cli >/dev/null 2>&1 &&
    [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)" == "PONG" ]]
}

redis_install() {
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo ".ci/redis.sh: installing redis-server" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
}

case "$action" in
  start)
    redis_install
    if redis_answers; then
      echo ".ci/redis.sh: a Redis already answers on port $port; leaving it alone" >&2
      exit 0
    fi
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --daemonize yes --pidfile "$pidfile" --logfile "" >/dev/null
    for _ in $(seq 100); do
      redis_answers && break
      sleep 0.05
    done
    redis_answers || {
      echo ".ci/redis.sh: redis-server did not answer on port $port" >&2
      exit 1
    }
    echo ".ci/redis.sh: started redis-server on 127.0.0.1:$port (pid $(cat "$pidfile"))" >&2
    ;;
  stop)
    [[ -f $pidfile ]] || exit 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || kill "$pid" || true
      for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
      done
    fi
    rm -f "$pidfile"
    echo ".ci/redis.sh: stopped the redis-server it had started on port $port" >&2
    ;;
  *)
    redis_usage
    ;;
esac
