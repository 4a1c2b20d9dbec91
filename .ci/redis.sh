#!/usr/bin/env bash
# A throwaway Redis server for the tests marked `redis`, on 127.0.0.1:63799, nothing saved to disk.
#
#   bash .ci/redis.sh start   # install (as root, if missing), start; prints the URL
#   bash .ci/redis.sh url     # prints the URL
#   bash .ci/redis.sh stop
#
# The tests empty its database 1 (TEST_REDIS_URL), so it must not be a Redis anything else uses.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

REDIS_PORT=${REDIS_PORT:-63799}
REDIS_DIR=${REDIS_DIR:-/tmp/llm-artifacts-redis}
URL="redis://127.0.0.1:$REDIS_PORT/1"

log() { echo "redis.sh: $*" >&2; }

ensure_installed() {
    if command -v redis-server >/dev/null; then
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        log "redis-server is not installed; run: sudo apt-get install -y redis-server"
        exit 1
    fi
    log "installing redis-server"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
}

answers() {
    redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG
}

case "${1:-}" in
start)
    ensure_installed
    if ! answers; then
        mkdir -p "$REDIS_DIR"
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
            --daemonize yes --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" \
            --logfile "$REDIS_DIR/redis.log"
        for _ in $(seq 50); do
            answers && break
            sleep 0.1
        done
        answers || { log "Redis did not start; see $REDIS_DIR/redis.log"; exit 1; }
    fi
    echo "$URL"
    ;;
url)
    echo "$URL"
    ;;
stop)
    redis-cli -p "$REDIS_PORT" shutdown nosave 2>/dev/null || true
    ;;
*)
    echo "usage: $0 start|url|stop" >&2
    exit 2
    ;;
esac
