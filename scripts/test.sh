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
# The SQL suites, the .slt files and the vector suites once more on the sequence storage layout
# (the MVCC layout is the default), then the SQL suites on the MVCC layout with the key space
# split into 40 ranges (transactions across ranges commit in parallel, STAGING).
APUS_TEST_LAYOUT=sequence APUS_SLT_LAYOUT=sequence swift test -Xswiftc -DINVARIANTS --skip-build --filter "ApusSQLTests|SLTFileTests|VectorSQLTests" "$@"
APUS_TEST_LAYOUT=mvcc APUS_TEST_RANGES=40 swift test -Xswiftc -DINVARIANTS --skip-build --filter "ApusSQLTests" "$@"
# Real PostgreSQL clients (psql, psycopg) against a running `apus serve`.
bash scripts/client-tests.sh
# SQL conformance: the sqllogictest corpus (release build), with a floor just under today's rate.
bash scripts/conformance.sh --no-write --min-percent 99
