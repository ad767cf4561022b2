#!/usr/bin/env bash
# Run a command (the test suite) with the services some tests need, when this machine can provide
# them: a throwaway PostgreSQL server for the run-store tests (SHENDU_TEST_PG). As root, missing
# Debian packages are installed first (recipe: ../shared/ENV-NOTES.md). Anything that cannot be
# provided is left out, and the tests that need it skip with a reason — the command still runs.
set -uo pipefail

log() { echo "[with-services] $*" >&2; }

apt_install() {  # apt_install PACKAGE... — only as root, quietly, never fatal
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
  log "installing $* from Debian's packages"
  (apt-get install -y -q "$@" >/dev/null 2>&1 ||
   { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1; })
}

start_postgres() {
  [ "$(id -u)" = 0 ] || { log "not root: PostgreSQL tests will skip"; return 1; }
  ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || apt_install postgresql || { log "no PostgreSQL"; return 1; }
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  PGPORT=${SHENDU_PG_PORT:-55432}
  PGROOT=$(mktemp -d)
  chown postgres:postgres "$PGROOT"
  su postgres -s /bin/sh -c "$PGBIN/initdb -D $PGROOT/data -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      >$PGROOT/initdb.log 2>&1" || { log "initdb failed"; return 1; }
  su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGROOT/data -w -t 30 -l $PGROOT/server.log -o \
      '-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGROOT -c fsync=off' start" >/dev/null || { log "pg start failed"; return 1; }
  "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres shendu_test || return 1
  export SHENDU_TEST_PG="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/shendu_test"
  log "PostgreSQL on port $PGPORT for the run-store tests"
}

stop_postgres() {
  [ -n "${PGROOT:-}" ] || return 0
  su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGROOT/data -m fast -w stop" >/dev/null 2>&1
  rm -rf "$PGROOT"
}

install_browser() {  # Debian's Chromium + a CJK font for the studio's Playwright tests (never `playwright install`)
  [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi "wqy" && return 0
  apt_install chromium fonts-wqy-microhei || log "no chromium: the studio's browser tests will skip"
}

install_browser || true
PGROOT=""
start_postgres || PGROOT=""
trap stop_postgres EXIT
"$@"
