#!/usr/bin/env bash
# The whole test suite: installs the build prerequisites, then builds and runs every test
# (unit, model-based, crash and corruption tests) with invariant checks compiled in, then the
# real-client tests against `apus serve` and the SQL conformance corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/tidy.sh
swift build -Xswiftc -DINVARIANTS
swift test -Xswiftc -DINVARIANTS "$@"
# New data directories use the MVCC layout; the SQL suites and .slt files run once more on the
# sequence layout, which directories created before it became the default keep.
APUS_TEST_LAYOUT=sequence APUS_SLT_LAYOUT=sequence swift test -Xswiftc -DINVARIANTS --skip-build --filter "ApusSQLTests|SLTFileTests|VectorSQLTests" "$@"
# Real PostgreSQL clients (psql, psycopg) against a running `apus serve`.
bash scripts/client-tests.sh
# SQL conformance: the sqllogictest corpus (release build), with a floor just under today's rate.
bash scripts/conformance.sh --no-write --min-percent 99
