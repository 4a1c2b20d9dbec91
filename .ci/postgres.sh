#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for the test suite, on 127.0.0.1:54329 with trust auth.
#
#   bash .ci/postgres.sh start   # install (if missing), initdb (if needed), start; prints the DSN
#   bash .ci/postgres.sh url     # prints the superuser DSN
#   bash .ci/postgres.sh status  # exit 0 when the server answers
#   bash .ci/postgres.sh stop
#
# initdb refuses to run as root, so as root the cluster belongs to the `postgres` OS user
# that Debian's package creates (created here if missing); as anyone else it is yours.
# The data lives in /tmp: it holds only what tests create, and fsync is off for speed.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

PG_VERSION=${PG_VERSION:-15}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/$PG_VERSION/bin}
PG_PORT=${PG_PORT:-54329}
PG_DATA=${PG_DATA:-/tmp/llm-artifacts-pg}
PG_SUPERUSER=postgres
DSN="postgresql://$PG_SUPERUSER@127.0.0.1:$PG_PORT/postgres"

log() { echo "postgres.sh: $*" >&2; }

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

ensure_installed() {
    if [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ]; then
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        log "PostgreSQL $PG_VERSION is not installed at $PG_BIN; run: sudo apt-get install -y postgresql-$PG_VERSION"
        exit 1
    fi
    log "installing postgresql-$PG_VERSION"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$PG_VERSION" >/dev/null
}

ensure_os_user() {
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
}

is_running() {
    [ -f "$PG_DATA/PG_VERSION" ] && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
}

# A server killed without a shutdown (a machine's processes ended between sessions) leaves its
# postmaster.pid behind; its process id may since belong to anything, so look at what it is.
clear_stale_pid() {
    local pid_file="$PG_DATA/postmaster.pid" pid
    [ -f "$pid_file" ] || return 0
    pid=$(head -n 1 "$pid_file")
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "postgres" ]; then
        return 0
    fi
    log "removing a stale postmaster.pid (process $pid is not a postgres server)"
    rm -f "$pid_file"
}

start() {
    ensure_installed
    ensure_os_user
    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
        log "creating a cluster in $PG_DATA"
        rm -rf "$PG_DATA"
        mkdir -p "$PG_DATA"
        if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PG_DATA"; fi
        chmod 700 "$PG_DATA"
        # trust: only loopback connections are accepted, and the server holds test data only.
        as_owner "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_SUPERUSER" -A trust -E UTF8 \
            --locale=C >"$PG_DATA.initdb.log" 2>&1 || { cat "$PG_DATA.initdb.log" >&2; exit 1; }
    fi
    if ! is_running; then
        clear_stale_pid
        log "starting on 127.0.0.1:$PG_PORT"
        as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w -t 60 start \
            -o "-p $PG_PORT -k $PG_DATA -c listen_addresses=127.0.0.1 -c fsync=off \
                -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
            >/dev/null || { tail -n 30 "$PG_DATA/server.log" >&2; exit 1; }
    fi
    wait_ready
    echo "$DSN"
}

wait_ready() {
    for _ in $(seq 1 60); do
        if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
            return
        fi
        sleep 0.5
    done
    log "server did not answer on 127.0.0.1:$PG_PORT"
    exit 1
}

stop() {
    if [ -f "$PG_DATA/postmaster.pid" ]; then
        as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
        log "stopped"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) echo "$DSN" ;;
    status) is_running ;;
    *)
        echo "usage: $0 start|stop|url|status" >&2
        exit 2
        ;;
esac
