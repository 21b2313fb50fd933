#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for the test suite.
#   .ci/postgres.sh install   apt-get install postgresql when its binaries are missing
#   .ci/postgres.sh start     initdb + start under a non-root user; prints `export HUB_TEST_PG_*=...`
#   .ci/postgres.sh stop      stop it and remove its data folder
# The server listens on 127.0.0.1:${HUB_TEST_PG_PORT:-55432} only, with a password
# (scram-sha-256), so the tests exercise the same authentication a real warehouse uses.
set -euo pipefail
PORT="${HUB_TEST_PG_PORT:-55432}"
DATA="${HUB_TEST_PG_DATA:-/tmp/hub-test-pg-$PORT}"
PASSWORD="${HUB_TEST_PG_PASSWORD:-hub-test-password}"
RUN_AS="${HUB_TEST_PG_OS_USER:-postgres}"

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

as_user() {
  if [ "$(id -u)" = "0" ]; then
    id -u "$RUN_AS" >/dev/null 2>&1 || useradd --system --no-create-home "$RUN_AS"
    su "$RUN_AS" -s /bin/bash -c "$*"
  else
    bash -c "$*"
  fi
}

case "${1:-}" in
  install)
    if [ -z "$(pg_bin)" ]; then
      echo "installing PostgreSQL (Debian package)" >&2
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
      # The package starts its own cluster on 5432; the tests use their own server.
      (service postgresql stop || true) >/dev/null 2>&1
    fi
    ;;
  start)
    BIN=$(pg_bin) || { echo "PostgreSQL binaries not found; run '.ci/postgres.sh install'" >&2; exit 1; }
    if [ -f "$DATA/postmaster.pid" ]; then as_user "$BIN/pg_ctl -D $DATA -m fast stop" >/dev/null 2>&1 || true; fi
    rm -rf "$DATA"
    mkdir -p "$DATA"
    [ "$(id -u)" = "0" ] && { id -u "$RUN_AS" >/dev/null 2>&1 || useradd --system --no-create-home "$RUN_AS"; chown "$RUN_AS" "$DATA"; }
    PWFILE=$(mktemp); echo "$PASSWORD" > "$PWFILE"; chmod 644 "$PWFILE"
    as_user "$BIN/initdb -D $DATA -U hub --auth=scram-sha-256 --pwfile=$PWFILE -E UTF8 --no-locale" >/dev/null
    rm -f "$PWFILE"
    as_user "$BIN/pg_ctl -D $DATA -l $DATA/server.log -w -o \"-p $PORT -k $DATA -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off\" start" >/dev/null
    PGPASSWORD="$PASSWORD" "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U hub -d postgres -qc "CREATE DATABASE hub" >/dev/null
    echo "export HUB_TEST_PG_HOST=127.0.0.1 HUB_TEST_PG_PORT=$PORT HUB_TEST_PG_USER=hub HUB_TEST_PG_PASSWORD=$PASSWORD HUB_TEST_PG_DATABASE=hub"
    ;;
  stop)
    BIN=$(pg_bin) || exit 0
    [ -f "$DATA/postmaster.pid" ] && as_user "$BIN/pg_ctl -D $DATA -m fast stop" >/dev/null 2>&1 || true
    rm -rf "$DATA"
    ;;
  *)
    echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
