#!/usr/bin/env bash
# Runs `apus bench kv` and RocksDB's db_bench (Debian's rocksdb-tools) side by side with the same
# parameters, interleaved, REPS times, and prints the median ops/sec of each and the ratio.
# Usage: scripts/bench-kv.sh [REPS] [NUM] [SYNCNUM]  (defaults: 3 repetitions, 1,000,000 keys, 2,000 synced keys)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
NUM=${2:-1000000}
SYNCNUM=${3:-2000}   # fillsync keys: each put waits for an fdatasync
command -v db_bench >/dev/null || { sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo; $sudo apt-get install -y -qq rocksdb-tools >/dev/null; }
swift build -c release --product apus >/dev/null
APUS=.build/release/apus
WORK=${BENCH_DIR:-$(mktemp -d /tmp/apus-bench-kv.XXXX)}
mkdir -p "$WORK"
COMMON="--num=$NUM --key_size=16 --value_size=100 --threads=1 --seed=301 --seek_nexts=10"
ROCKS="--compression_type=none --bloom_bits=10 --cache_size=8388608 --write_buffer_size=67108864 --disable_wal=0"
OUT=$WORK/results.txt
: > "$OUT"
run() { # engine workload extra-flags...
    local engine=$1 wl=$2; shift 2
    local line
    if [ "$engine" = apus ]; then
        line=$($APUS bench kv --db="$WORK/apus" --benchmarks="$wl" $COMMON "$@" 2>/dev/null | grep -E "^$wl +:" | grep ops/sec | head -1)
    else
        line=$(db_bench --db="$WORK/rocks" --benchmarks="$wl" $COMMON $ROCKS "$@" 2>/dev/null | grep -E "^$wl +:" | head -1)
    fi
    local ops
    ops=$(echo "$line" | sed -E 's/.* ([0-9]+) ops\/sec.*/\1/')
    echo "$engine $wl $ops" >> "$OUT"
    echo "  $engine: $line"
}
for rep in $(seq 1 "$REPS"); do
    echo "repetition $rep"
    for engine in rocks apus; do
        run $engine fillseq --use_existing_db=0 --sync=0
        run $engine fillrandom --use_existing_db=0 --sync=0
        run $engine overwrite --use_existing_db=1 --sync=0
        run $engine readrandom --use_existing_db=1 --reads=$((NUM / 2))
        run $engine seekrandom --use_existing_db=1 --reads=$((NUM / 10))
        run $engine fillsync --use_existing_db=0 --sync=1 --num=$SYNCNUM
    done
    line=$($APUS bench kv --db="$WORK/floor" --benchmarks=fsyncfloor --num=$SYNCNUM 2>/dev/null | grep ops/sec)
    echo "floor fsync $(echo "$line" | sed -E 's/.* ([0-9]+) ops\/sec.*/\1/')" >> "$OUT"
done
echo
python3 - "$OUT" <<'PY'
import sys, statistics, collections
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 3 and p[2].isdigit(): d[(p[0], p[1])].append(int(p[2]))
print("| workload | RocksDB ops/s (median) | ApusDB ops/s (median) | ratio |")
print("|---|---|---|---|")
for wl in ["fillseq", "fillrandom", "overwrite", "readrandom", "seekrandom", "fillsync"]:
    r, a = d.get(("rocks", wl)), d.get(("apus", wl))
    if r and a:
        mr, ma = statistics.median(r), statistics.median(a)
        print(f"| {wl} | {mr:,.0f} | {ma:,.0f} | {ma/mr:.2f} |")
if d.get(("floor", "fsync")):
    print(f"| append+fdatasync floor | | {statistics.median(d[('floor','fsync')]):,.0f} | |")
PY
rm -rf "$WORK/apus" "$WORK/rocks" "$WORK/floor"
