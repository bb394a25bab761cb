#!/usr/bin/env bash
# Runs the sqllogictest conformance corpus (../shared/conformance/sqllogictest) with the
# in-process runner, the standard way (--max-records 3000), and writes CONFORMANCE.md.
#
#   bash scripts/conformance.sh [--min-percent P] [--no-write]
#
# --min-percent P: exit non-zero when fewer than P% of the records pass (the CI guard).
# Needs a release build of apus (built here if missing or stale).
set -euo pipefail
cd "$(dirname "$0")/.."
MIN=0
WRITE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --min-percent) MIN="$2"; shift 2 ;;
    --no-write) WRITE=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
CORPUS=../shared/conformance/sqllogictest
if [ ! -d "$CORPUS" ]; then
  echo "conformance: $CORPUS not found (../shared must sit beside the repository)" >&2
  exit 1
fi
swift build -c release --product apus
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
START=$(date +%s)
# apus slt exits non-zero when a record fails; the verdict below is the percentage.
.build/release/apus slt --max-records 3000 -q --json "$OUT/result.json" "$CORPUS" | tail -n 20 || true
if [ ! -s "$OUT/result.json" ]; then
  echo "conformance: the runner wrote no results" >&2
  exit 1
fi
END=$(date +%s)
python3 - "$OUT/result.json" "$CORPUS/baseline-postgresql15.json" "$MIN" "$WRITE" "$((END - START))" <<'PY'
import json, sys
result, baseline, minimum, write, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == "1", sys.argv[5]
mine = json.load(open(result))
base = {f["file"]: f for f in json.load(open(baseline))["files"]}
rows = []
for f in mine["files"]:
    name = f["file"].split("sqllogictest/", 1)[-1]
    b = base.get(name)
    brec = b["passed"] + b["failed"] if b else None
    rows.append((name, f["passed"] + f["failed"], f["passed"], f["failed"], brec))
passed, failed = mine["passed"], mine["failed"]
total = passed + failed
pct = 100.0 * passed / total if total else 0.0
mismatch = [r for r in rows if r[4] is not None and r[1] != r[4]]
print(f"conformance: {passed} passed, {failed} failed of {total} records ({pct:.2f}%), {seconds} s")
if mismatch:
    print("conformance: record counts differ from PostgreSQL's baseline for:", ", ".join(r[0] for r in mismatch))
if write:
    lines = [
        "# SQL conformance",
        "",
        "The sqllogictest corpus in `../shared/conformance/sqllogictest/` (96 files from SQLite's, DuckDB's,",
        "RisingWave's and RisingLight's suites that PostgreSQL 15 passes completely), run in-process by",
        "`apus slt` with the reference runner's rules (`--max-records 3000`, engine name `postgresql`). The",
        "record count of every file equals PostgreSQL's baseline (`baseline-postgresql15.json`).",
        "",
        "Reproduce (writes this file; CI runs the same with `--no-write` and a floor):",
        "",
        "```sh",
        "bash scripts/conformance.sh",
        "```",
        "",
        f"**{passed} passed, {failed} failed: {pct:.2f}% of {total} records** (run time {seconds} s, release build).",
        "",
        "Per source (the SQLite files are large and generated, so they dominate the total):",
        "",
        "| source | files | records | passed | failed | pass rate |",
        "|---|---|---|---|---|---|",
    ]
    groups = {}
    for name, rec, p, fl, brec in rows:
        g = groups.setdefault(name.split("/", 1)[0], [0, 0, 0, 0])
        g[0] += 1; g[1] += rec; g[2] += p; g[3] += fl
    for src, (n, rec, p, fl) in sorted(groups.items()):
        lines.append(f"| {src} | {n} | {rec} | {p} | {fl} | {100.0 * p / rec if rec else 0:.1f}% |")
    lines += [
        "",
        "| file | records | passed | failed | PostgreSQL 15 records |",
        "|---|---|---|---|---|",
    ]
    for name, rec, p, fl, brec in sorted(rows, key=lambda r: (-r[3], r[0])):
        lines.append(f"| `{name}` | {rec} | {p} | {fl} | {brec if brec is not None else '-'} |")
    open("CONFORMANCE.md", "w").write("\n".join(lines) + "\n")
    print("conformance: wrote CONFORMANCE.md")
if mismatch:
    sys.exit(1)
if pct < minimum:
    print(f"conformance: {pct:.2f}% is below the floor of {minimum}%")
    sys.exit(1)
PY
