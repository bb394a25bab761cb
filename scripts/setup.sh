#!/usr/bin/env bash
# Installs what a fresh machine lacks for building and testing ApusDB: Debian's zstd and lz4
# development packages (block compression), libedit (the shell's line editing), SQLite (the SQL benchmark's anchor), PostgreSQL's client tools (psql, pgbench) and the
# psycopg, asyncpg and pg8000 drivers for the real-client tests. Idempotent; needs root or sudo for apt-get.
set -euo pipefail
need=()
for p in libzstd-dev liblz4-dev libedit-dev libsqlite3-dev pkg-config postgresql-client python3-pip openssl; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
# psycopg 3 for scripts/client-tests.sh (Debian's pip refuses system installs without the flag).
if ! python3 -c "import psycopg" >/dev/null 2>&1; then
    python3 -m pip install -q "psycopg[binary]" 2>/dev/null \
        || python3 -m pip install -q --break-system-packages "psycopg[binary]"
fi
# The pgvector package (with numpy) for tests/clients/pgvector_test.py.
if ! python3 -c "import pgvector.psycopg" >/dev/null 2>&1; then
    python3 -m pip install -q pgvector 2>/dev/null || python3 -m pip install -q --break-system-packages pgvector
fi
# asyncpg, pg8000, SQLAlchemy and Django for tests/clients/asyncpg_test.py, pg8000_test.py, sqlalchemy_test.py
# and django_test.py.
for mod in asyncpg pg8000 sqlalchemy django; do
    if ! python3 -c "import $mod" >/dev/null 2>&1; then
        python3 -m pip install -q "$mod" 2>/dev/null || python3 -m pip install -q --break-system-packages "$mod"
    fi
done
