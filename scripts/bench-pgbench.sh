#!/usr/bin/env bash
# pgbench against `apus serve` (release build) and PostgreSQL 15 side by side on this machine.
#
#   bash scripts/bench-pgbench.sh [-T SECONDS] [-s SCALE]      (defaults: -T 30, -s 10)
#
# Both servers get a fresh data directory in a temporary directory and default settings
# (PostgreSQL: initdb defaults, fsync and synchronous_commit on; ApusDB: `apus serve` defaults,
# every commit fdatasynced). Both are initialised with `pgbench -i -s SCALE`, then each workload
# runs against PostgreSQL and then ApusDB, one after the other: TPC-B-like with 1 client,
# TPC-B-like with 8 clients on 2 threads at READ COMMITTED (PostgreSQL's default) and at
# SERIALIZABLE (ApusDB's default; pgbench retries serialization failures, both servers set the
# same level through PGOPTIONS), select-only (-S) with 8 clients on 2 threads.
# Prints the initialisation times, tps of both (without connection time) and ApusDB/PostgreSQL.
# APUS_SERVE_FLAGS adds flags to `apus serve` (e.g. "--storage-layout sequence").
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=30
SCALE=10
while [ $# -gt 0 ]; do
    case "$1" in
        -T) DURATION=$2; shift 2 ;;
        -s) SCALE=$2; shift 2 ;;
        *) echo "usage: $0 [-T SECONDS] [-s SCALE]" >&2; exit 2 ;;
    esac
done
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
[ -x "$PGBIN/initdb" ] || { echo "bench-pgbench: no PostgreSQL server binaries in $PGBIN (set PGBIN)" >&2; exit 1; }
command -v pgbench >/dev/null || { echo "bench-pgbench: pgbench is missing (bash scripts/setup.sh)" >&2; exit 1; }
swift build -c release --product apus
BIN=.build/release/apus

WORK=$(mktemp -d)
chmod 755 "$WORK"
cleanup() {
    if [ -n "${APUS_PID:-}" ]; then kill "$APUS_PID" 2>/dev/null || true; wait "$APUS_PID" 2>/dev/null || true; fi
    if [ -f "$WORK/pg/postmaster.pid" ]; then "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# PostgreSQL refuses to run as root: run it as the postgres user then.
RUNAS=()
mkdir -p "$WORK/pg"
if [ "$(id -u)" -eq 0 ]; then RUNAS=(runuser -u postgres --); chown postgres "$WORK/pg"; fi
PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${RUNAS[@]}" "$PGBIN/initdb" -D "$WORK/pg" -U postgres -A trust -E UTF8 > "$WORK/initdb.log" 2>&1
"${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg/server.log" -w \
    -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1" start > /dev/null

# shellcheck disable=SC2086 # APUS_SERVE_FLAGS is a list of flags
"$BIN" serve --data-dir "$WORK/apus" --listen 127.0.0.1:0 --port-file "$WORK/apus.port" ${APUS_SERVE_FLAGS:-} \
    > "$WORK/apus.log" 2>&1 &
APUS_PID=$!
for _ in $(seq 100); do [ -s "$WORK/apus.port" ] && break; sleep 0.1; done
[ -s "$WORK/apus.port" ] || { cat "$WORK/apus.log"; echo "bench-pgbench: apus serve did not start" >&2; exit 1; }
APUS_PORT=$(cat "$WORK/apus.port")

pg() { PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=postgres PGDATABASE=postgres "$@"; }
apus() { PGHOST=127.0.0.1 PGPORT=$APUS_PORT PGUSER=apus PGDATABASE=apus "$@"; }

init() {  # system: prints the seconds pgbench -i took
    "$1" pgbench -i -s "$SCALE" -q > "$WORK/init.out" 2>&1 || { cat "$WORK/init.out" >&2; exit 1; }
    sed -n 's/^done in \([0-9.]*\) s.*/\1/p' "$WORK/init.out"
}
tps() {  # system, pgbench arguments: prints tps
    "$1" pgbench "${@:2}" -T "$DURATION" > "$WORK/run.out" 2>&1 || { cat "$WORK/run.out" >&2; exit 1; }
    if ! grep -q "number of failed transactions: 0 " "$WORK/run.out"; then cat "$WORK/run.out" >&2; exit 1; fi
    sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$WORK/run.out"
}

echo "$(pgbench --version), scale $SCALE, $DURATION s per run, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
PG_INIT=$(init pg)
APUS_INIT=$(init apus)
printf '%-44s %14s %14s %8s\n' "workload" "PostgreSQL 15" "ApusDB" "ratio"
printf '%-44s %13ss %13ss %8.2f\n' "pgbench -i -s $SCALE (time)" "$PG_INIT" "$APUS_INIT" "$(awk "BEGIN { print $PG_INIT / $APUS_INIT }")"
run() {  # label, isolation level, pgbench arguments
    local p a
    export PGOPTIONS="-c default_transaction_isolation=${2// /\\ }"
    p=$(tps pg "${@:3}")
    a=$(tps apus "${@:3}")
    unset PGOPTIONS
    printf '%-44s %14.1f %14.1f %8.2f\n' "$1" "$p" "$a" "$(awk "BEGIN { print $a / $p }")"
}
run "TPC-B -c 1 (read committed)" "read committed" -c 1
run "TPC-B -c 8 -j 2 (read committed)" "read committed" -c 8 -j 2
run "TPC-B -c 8 -j 2 (serializable, retried)" "serializable" -c 8 -j 2 --max-tries 1000000
run "select-only -S -c 8 -j 2" "read committed" -S -c 8 -j 2
echo "ratio: ApusDB / PostgreSQL (for the initialisation time: PostgreSQL's time / ApusDB's)"
