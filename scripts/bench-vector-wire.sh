#!/usr/bin/env bash
# Vector search over the wire protocol: `apus serve` against PostgreSQL 15 with pgvector, the
# same dataset, index parameters and queries, one client (scripts/bench-vector-wire.py).
#
# The dataset comes from `apus bench vector` (a mixture of Gaussian clusters and exact top-10
# ground truth). PostgreSQL runs from Debian's binaries in a temporary cluster with default
# settings; the pgvector extension must already be installed into it (Debian bookworm ships no
# pgvector 0.8: build it from its source with PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config, see
# docs/bench-vector.md). Without it, only ApusDB is measured.
# Usage: scripts/bench-vector-wire.sh [N] [QUERIES] [REPS]  (defaults 100000, 1000, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
QUERIES=${2:-1000}
REPS=${3:-3}
DIM=128
swift build -c release --product apus >/dev/null
APUS=$PWD/.build/release/apus
WORK=$(mktemp -d /tmp/apus-bench-wire.XXXX)
chmod 755 "$WORK"
cleanup() {
    [ -n "${APID:-}" ] && { kill "$APID" 2>/dev/null || true; wait "$APID" 2>/dev/null || true; }
    [ -n "${PGBIN:-}" ] && [ -d "$WORK/pg" ] && $PGRUN "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# The dataset files (and the in-process figures, printed for reference).
"$APUS" bench vector --n "$N" --dim "$DIM" --queries "$QUERIES" --repetitions 1 --ef-search 64 --lists 0 \
    --out-dir "$WORK/data" > "$WORK/inprocess.txt"

"$APUS" serve --data-dir "$WORK/apus" --listen 127.0.0.1:0 --port-file "$WORK/apus.port" > "$WORK/apus.log" 2>&1 &
APID=$!
for _ in $(seq 100); do [ -s "$WORK/apus.port" ] && break; sleep 0.1; done
TARGETS=(--target "apus=postgresql://apus@127.0.0.1:$(cat "$WORK/apus.port")/apus")

PGBIN=/usr/lib/postgresql/15/bin
PGRUN=""
if [ -x "$PGBIN/initdb" ] && [ -f /usr/share/postgresql/15/extension/vector.control ]; then
    # PostgreSQL refuses to run as root.
    [ "$(id -u)" -eq 0 ] && PGRUN="runuser -u postgres --"
    mkdir -p "$WORK/pg" && chown -R "$( [ -n "$PGRUN" ] && echo postgres || id -un )" "$WORK/pg"
    $PGRUN "$PGBIN/initdb" -D "$WORK/pg" -U postgres -A trust > /dev/null
    $PGRUN "$PGBIN/pg_ctl" -D "$WORK/pg" -o "-p 5499 -k $WORK/pg -c listen_addresses=127.0.0.1" -l "$WORK/pg/log" -w start > /dev/null
    TARGETS+=(--target "pgvector=postgresql://postgres@127.0.0.1:5499/postgres")
else
    echo "bench-vector-wire: no PostgreSQL with pgvector installed; measuring ApusDB only" >&2
fi
python3 -u scripts/bench-vector-wire.py --dir "$WORK/data" --queries "$QUERIES" --repetitions "$REPS" "${TARGETS[@]}"
