#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server when one can be had: unless the
# HUB_TEST_PG_* variables already point at a server, it starts one with .ci/postgres.sh
# (if PostgreSQL is installed), exports the variables, runs the command and stops the
# server. Without PostgreSQL the command runs as is (its PostgreSQL tests then skip
# locally and fail under CI=true).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
started=""
if [ -z "${HUB_TEST_PG_HOST:-}" ]; then
  if env_lines="$(bash "$here/postgres.sh" start 2>/tmp/hub-test-pg-start.err)"; then
    eval "$env_lines"
    started="yes"
  else
    echo "note: no PostgreSQL test server ($(head -c 300 /tmp/hub-test-pg-start.err)); PostgreSQL tests will skip" >&2
  fi
fi
"$@"
status=$?
[ -n "$started" ] && bash "$here/postgres.sh" stop
exit $status
