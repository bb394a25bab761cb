#!/usr/bin/env bash
# Real PostgreSQL clients against a running `apus serve`: psql (scripts with -f, errors,
# transactions), psycopg 3 (text and binary, parameters, types, errors, transactions,
# cancellation and timeouts), the pgvector package (vector round trips, HNSW nearest-neighbour
# queries), asyncpg (binary protocol, prepared statements, cancellation), pg8000, the SQLAlchemy 2
# ORM (create_all with a foreign key, CRUD, eager loading, drop_all), the Django 5 ORM (migrations,
# deferred foreign keys, bulk inserts through unnest, sequence reset), pgbench
# (initialisation, TPC-B-like and select-only runs, the balance invariant), a restart, a crash
# (SIGKILL during concurrent commits: every acknowledged one survives), and SCRAM-SHA-256 and
# TLS against second and third servers (`--auth scram`, a self-signed certificate, `--tls-required`).
# Starts the server on a free loopback port with a temporary data directory; stops it after.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${APUS_BIN:-.build/debug/apus}
[ -x "$BIN" ] || swift build --product apus
WORK=$(mktemp -d)
cleanup() {
    for p in "${PID:-}" "${AUTH_PID:-}" "${REQ_PID:-}" "${CFG_PID:-}"; do
        if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
"$BIN" serve --data-dir "$WORK/data" --listen 127.0.0.1:0 --port-file "$WORK/port" > "$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
if [ ! -s "$WORK/port" ]; then cat "$WORK/server.log"; echo "client-tests: the server did not start" >&2; exit 1; fi
PORT=$(cat "$WORK/port")
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=apus PGDATABASE=apus
echo "client-tests: server on port $PORT"

# psql: a script with -f and ON_ERROR_STOP, unaligned output compared with what PostgreSQL prints.
psql -X -q -A -t -v ON_ERROR_STOP=1 -f tests/clients/psql_script.sql > "$WORK/psql.out"
diff -u tests/clients/psql_script.expected "$WORK/psql.out"
# psql: an error gives exit status 3 with ON_ERROR_STOP and the SQLSTATE in verbose mode.
set +e
psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "SELECT 1/0" > "$WORK/err.out" 2>&1
status=$?
set -e
[ "$status" -eq 1 ] || [ "$status" -eq 3 ] || { echo "psql: expected a failure status, got $status"; exit 1; }
grep -q "22012" "$WORK/err.out" || { cat "$WORK/err.out"; echo "psql: SQLSTATE 22012 missing"; exit 1; }
# psql \copy in and out (COPY FROM STDIN / TO STDOUT, CSV with a header and quoting).
printf 'id,name\n1,"comma, inside"\n2,\n' > "$WORK/in.csv"
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE TABLE copied (id int PRIMARY KEY, name text)" \
    -c "\\copy copied FROM '$WORK/in.csv' WITH (FORMAT csv, HEADER)" \
    -c "\\copy (SELECT * FROM copied ORDER BY id) TO '$WORK/out.csv' WITH (FORMAT csv, HEADER)"
diff -u "$WORK/in.csv" "$WORK/out.csv"
[ "$(psql -X -A -t -c "SELECT count(*) FROM copied WHERE name IS NULL")" = "1" ] || { echo "psql: \\copy NULL lost"; exit 1; }
# psql's catalog commands read pg_catalog: \dt, \di, \dn, \l.
[ "$(psql -X -A -t -c '\dt')" = "$(printf 'public|copied|table|apus\npublic|items|table|apus')" ] \
    || { psql -X -c '\dt'; echo "psql: \\dt listing differs"; exit 1; }
psql -X -A -t -c '\di' | grep -q '^public|items_pkey|index|apus|items$' || { echo "psql: \\di misses items_pkey"; exit 1; }
psql -X -A -t -c '\dn' | grep -q '^public|apus$' || { echo "psql: \\dn misses public"; exit 1; }
# psql's \d TABLE and \d INDEX, compared with what PostgreSQL 15 prints for the same script.
psql -X -q -f tests/clients/psql_describe.sql > "$WORK/describe.out" 2>&1
diff -u tests/clients/psql_describe.expected "$WORK/describe.out"
psql -X -A -t -c '\l' | grep -q '^apus|apus|UTF8|' || { echo "psql: \\l misses the database"; exit 1; }
# Settings in the startup packet (PGOPTIONS, PGAPPNAME) apply to the session; an unknown one
# refuses the connection, as in PostgreSQL.
PGOPTIONS="-c statement_timeout=1234" psql -X -Atc "SHOW statement_timeout" | grep -q "^1234" \
    || { echo "psql: PGOPTIONS statement_timeout not applied"; exit 1; }
[ "$(PGAPPNAME=clienttests psql -X -Atc "SHOW application_name")" = "clienttests" ] || { echo "psql: PGAPPNAME lost"; exit 1; }
set +e
PGOPTIONS="-c statement_timeout=50" psql -X -v VERBOSITY=verbose -Atc "SELECT count(*) FROM generate_series(1, 1000000000)" > "$WORK/to.out" 2>&1
to_status=$?
PGOPTIONS="-c no_such_setting=1" psql -X -Atc "SELECT 1" > "$WORK/bad.out" 2>&1
bad_status=$?
set -e
[ "$to_status" -ne 0 ] && grep -q "57014" "$WORK/to.out" || { cat "$WORK/to.out"; echo "psql: startup statement_timeout did not cancel"; exit 1; }
[ "$bad_status" -ne 0 ] && grep -q "unrecognized configuration parameter" "$WORK/bad.out" || { cat "$WORK/bad.out"; echo "psql: unknown startup setting accepted"; exit 1; }
# \dt+ and \di+ (sizes through pg_table_size / pg_relation_size and pg_size_pretty).
psql -X -v ON_ERROR_STOP=1 -c '\dt+' | grep -E "copied .*(bytes|kB)" > /dev/null || { psql -X -c '\dt+'; echo "psql: \\dt+ failed"; exit 1; }
psql -X -v ON_ERROR_STOP=1 -c '\di+' > /dev/null || { echo "psql: \\di+ failed"; exit 1; }
# More of psql's catalog commands: extensions, types, functions, privileges, schemas, tablespaces.
psql -X -A -t -v ON_ERROR_STOP=1 -c '\dx' | grep -q '^vector|' || { psql -X -c '\dx'; echo "psql: \\dx misses vector"; exit 1; }
psql -X -A -t -v ON_ERROR_STOP=1 -c '\dT' | grep -q '^public|vector|' || { psql -X -c '\dT'; echo "psql: \\dT misses vector"; exit 1; }
for cmd in '\df' '\dp' '\dn+' '\db' '\dC' '\do' '\dconfig work_mem'; do
    psql -X -v ON_ERROR_STOP=1 -c "$cmd" > /dev/null || { echo "psql: $cmd failed"; exit 1; }
done
echo "client-tests: psql ok"

# A pg_dump script of PostgreSQL 15 restores unchanged (owners, identity, sequences, COPY, constraints after the data).
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE ROLE postgres" -f tests/clients/pg_dump_restore.sql > /dev/null
[ "$(psql -X -A -t -c "SELECT count(*), sum(total) FROM orders")" = "10|192.50" ] || { echo "pg_dump restore: orders differ"; exit 1; }
[ "$(psql -X -q -A -t -c "INSERT INTO orders (customer_id, total) VALUES (1, 1) RETURNING id")" = "11" ] || { echo "pg_dump: identity"; exit 1; }
[ "$(psql -X -q -A -t -c "INSERT INTO customers (email) VALUES ('n@x') RETURNING id")" = "6" ] || { echo "pg_dump: serial"; exit 1; }
[ "$(psql -X -A -t -c "SELECT nextval('invoice_seq'), count(*) FROM big_orders")" = "1001|8" ] || { echo "pg_dump: sequence, view"; exit 1; }
psql -X -q -v ON_ERROR_STOP=1 -c "DELETE FROM customers WHERE id = 1" -c "DROP VIEW big_orders" -c "DROP TABLE orders, customers" \
    -c "DROP SEQUENCE invoice_seq"
echo "client-tests: pg_dump restore ok"

# A connection's temporary tables go when it ends (the server drops them as the connection closes:
# polled, since that runs after the client has gone).
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE TEMP TABLE tmp_gone (a int)" -c "INSERT INTO tmp_gone VALUES (1)"
for i in $(seq 1 50); do
    [ "$(psql -X -A -t -c "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pg_temp_%'")" = "0" ] && break
    [ "$i" = 50 ] && { echo "client-tests: a closed connection's temporary schema stayed"; exit 1; }
    sleep 0.2
done
echo "client-tests: temporary tables ok"

python3 tests/clients/psycopg_test.py
echo "client-tests: psycopg ok"

python3 tests/clients/pgvector_test.py
echo "client-tests: pgvector ok"

python3 tests/clients/cancel_test.py
echo "client-tests: cancellation and timeouts ok"

python3 tests/clients/asyncpg_test.py
echo "client-tests: asyncpg ok"

python3 tests/clients/pg8000_test.py
echo "client-tests: pg8000 ok"
python3 tests/clients/sqlalchemy_test.py "$PORT"
echo "client-tests: SQLAlchemy ok"
python3 tests/clients/django_test.py
echo "client-tests: Django ok"

# pgbench, unchanged: initialise scale 1 (CREATE TABLE ... WITH (fillfactor), COPY FROM STDIN,
# VACUUM ANALYZE, ALTER TABLE ADD PRIMARY KEY), then short runs of the TPC-B-like script (one
# client; 4 concurrent clients on 2 threads with prepared statements at the default
# SERIALIZABLE, where pgbench retries serialization failures; 4 clients at READ COMMITTED, where
# writers queue on row locks and nothing fails) and of the select-only script.
# Each TPC-B transaction adds the same delta to one account, teller and branch and logs it in
# pgbench_history, so from freshly initialised balances (all 0) the four sums stay equal.
pgbench -i -s 1 -q > "$WORK/pgbench-init.out" 2>&1 || { cat "$WORK/pgbench-init.out"; echo "pgbench -i failed"; exit 1; }
pgbench_run() {
    pgbench "$@" > "$WORK/pgbench.out" 2>&1 || { cat "$WORK/pgbench.out"; echo "pgbench $* failed"; exit 1; }
    grep -q "number of failed transactions: 0 " "$WORK/pgbench.out" || { cat "$WORK/pgbench.out"; echo "pgbench $*: failures"; exit 1; }
}
pgbench_run -n -c 1 -t 100
pgbench_run -n -c 4 -j 2 -t 50 -M prepared --max-tries 10000
[ "$(PGOPTIONS='-c default_transaction_isolation=read\ committed' psql -X -Atc 'SHOW transaction_isolation')" = "read committed" ] \
    || { echo "psql: PGOPTIONS default_transaction_isolation not applied"; exit 1; }
PGOPTIONS='-c default_transaction_isolation=read\ committed' pgbench_run -n -c 4 -j 2 -t 50
sums=$(psql -X -A -t -c "SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers),
    (SELECT sum(bbalance) FROM pgbench_branches), (SELECT sum(delta) FROM pgbench_history), (SELECT count(*) FROM pgbench_history)")
IFS='|' read -r a t b d n <<< "$sums"
[ "$n" = "500" ] && [ "$a" = "$d" ] && [ "$t" = "$d" ] && [ "$b" = "$d" ] \
    || { echo "pgbench: balances $sums (accounts|tellers|branches|history delta|history rows) break the invariant"; exit 1; }
pgbench_run -c 2 -j 2 -S -t 200 -M extended
echo "client-tests: pgbench ok"

# Graceful shutdown on SIGTERM: the server exits 0 and the data survives a restart.
kill -TERM "$PID"
wait "$PID"
PID=""
"$BIN" serve --data-dir "$WORK/data" --listen 127.0.0.1:0 --port-file "$WORK/port2" > "$WORK/server2.log" 2>&1 &
PID=$!
# (Recovery replays the WAL, which after pgbench holds about 30 MB: seconds in a debug build.)
for _ in $(seq 1200); do [ -s "$WORK/port2" ] && break; sleep 0.1; done
[ -s "$WORK/port2" ] || { cat "$WORK/server2.log"; echo "client-tests: the server did not restart" >&2; exit 1; }
PGPORT=$(cat "$WORK/port2") psql -X -A -t -c "SELECT count(*) FROM items" > "$WORK/count.out"
[ "$(cat "$WORK/count.out")" = "3" ] || { cat "$WORK/count.out"; echo "client-tests: data lost across restart"; exit 1; }
echo "client-tests: restart ok"

# A crash: SIGKILL while four connections commit concurrently; after the restart every
# acknowledged commit is there and no transaction is torn (tests/clients/crash_test.py).
python3 tests/clients/crash_test.py run "$(cat "$WORK/port2")" "$PID" "$WORK/acked"
wait "$PID" 2>/dev/null || true
PID=""
"$BIN" serve --data-dir "$WORK/data" --listen 127.0.0.1:0 --port-file "$WORK/port3" > "$WORK/server3.log" 2>&1 &
PID=$!
for _ in $(seq 1200); do [ -s "$WORK/port3" ] && break; sleep 0.1; done
[ -s "$WORK/port3" ] || { cat "$WORK/server3.log"; echo "client-tests: the server did not restart after the crash" >&2; exit 1; }
python3 tests/clients/crash_test.py check "$(cat "$WORK/port3")" "$WORK/acked"
echo "client-tests: crash ok"

# Settings from a configuration file and the environment (a flag beats the environment, which
# beats the file); an unknown setting stops the server before it starts.
printf '# client tests\nlisten = "127.0.0.1:0"\nsuperuser = cfguser\nmax-connections = 2  # small\nquery-memory-mb = 1\n' > "$WORK/apus.conf"
APUS_DATA_DIR="$WORK/data-cfg" APUS_SUPERUSER=envuser "$BIN" serve --config "$WORK/apus.conf" --port-file "$WORK/port-cfg" \
    > "$WORK/server-cfg.log" 2>&1 &
CFG_PID=$!
for _ in $(seq 100); do [ -s "$WORK/port-cfg" ] && break; sleep 0.1; done
[ -s "$WORK/port-cfg" ] || { cat "$WORK/server-cfg.log"; echo "client-tests: the configured server did not start" >&2; exit 1; }
[ "$(PGPORT=$(cat "$WORK/port-cfg") PGUSER=envuser psql -X -Atc "SELECT current_user")" = "envuser" ] \
    || { echo "client-tests: APUS_SUPERUSER not applied"; exit 1; }
[ -d "$WORK/data-cfg" ] || { echo "client-tests: APUS_DATA_DIR not applied"; exit 1; }
# query-memory-mb = 1: a query holding more fails with 53200, the connection and server go on.
SAVED_PGPORT=$PGPORT SAVED_PGUSER=$PGUSER
export PGPORT=$(cat "$WORK/port-cfg") PGUSER=envuser
[ "$(psql -X -Atc "SHOW max_query_memory")" = "1MB" ] || { echo "client-tests: query-memory-mb not applied"; exit 1; }
set +e
psql -X -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "SELECT count(*) FROM (SELECT repeat('x', 100) || g FROM generate_series(1, 100000) g ORDER BY 1) s" \
    > "$WORK/mem.out" 2>&1
status=$?
set -e
[ "$status" -ne 0 ] && grep -q "53200" "$WORK/mem.out" || { cat "$WORK/mem.out"; echo "client-tests: no 53200 over the memory budget"; exit 1; }
[ "$(psql -X -Atc "SET max_query_memory = '64MB'; SELECT count(*) FROM (SELECT repeat('x', 100) || g FROM generate_series(1, 100000) g ORDER BY 1) s" | tail -1)" = "100000" ] \
    || { echo "client-tests: the query failed within a raised budget"; exit 1; }
export PGPORT=$SAVED_PGPORT PGUSER=$SAVED_PGUSER
kill "$CFG_PID"; wait "$CFG_PID" 2>/dev/null || true; CFG_PID=""
printf 'no_such_setting = 1\n' > "$WORK/bad.conf"
if "$BIN" serve --config "$WORK/bad.conf" > "$WORK/bad-cfg.log" 2>&1; then echo "client-tests: a bad configuration was accepted"; exit 1; fi
grep -q 'unknown setting "no_such_setting"' "$WORK/bad-cfg.log" || { cat "$WORK/bad-cfg.log"; exit 1; }
echo "client-tests: configuration ok"

# Authentication and TLS: a server with SCRAM-SHA-256 and a self-signed certificate (TLS
# optional), and one that requires TLS. The superuser's password comes from --password-file.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
    -keyout "$WORK/server.key" -out "$WORK/server.crt" > "$WORK/openssl.log" 2>&1 \
    || { cat "$WORK/openssl.log"; echo "client-tests: openssl failed"; exit 1; }
printf 'apus-secret\n' > "$WORK/password"
start_server() { # name, extra arguments...
    local name=$1; shift
    "$BIN" serve --data-dir "$WORK/data-$name" --listen 127.0.0.1:0 --port-file "$WORK/port-$name" \
        --tls-cert "$WORK/server.crt" --tls-key "$WORK/server.key" "$@" > "$WORK/server-$name.log" 2>&1 &
}
start_server auth --auth scram --password-file "$WORK/password"
AUTH_PID=$!
start_server req --auth scram --password-file "$WORK/password" --tls-required
REQ_PID=$!
for name in auth req; do
    for _ in $(seq 100); do [ -s "$WORK/port-$name" ] && break; sleep 0.1; done
    [ -s "$WORK/port-$name" ] || { cat "$WORK/server-$name.log"; echo "client-tests: the $name server did not start"; exit 1; }
done
export PGPORT=$(cat "$WORK/port-auth") PGUSER=apus
grep -q "authentication: SCRAM-SHA-256" "$WORK/server-auth.log" || { cat "$WORK/server-auth.log"; exit 1; }
# psql: the right password logs in (over TLS when the server offers it, libpq's default
# sslmode=prefer), a wrong one fails with PostgreSQL's message, \du lists the roles.
[ "$(PGPASSWORD=apus-secret psql -X -A -t -c 'SELECT current_user')" = "apus" ] || { echo "psql: SCRAM login failed"; exit 1; }
PGPASSWORD=apus-secret psql -X -c '\conninfo' | grep -q 'SSL connection (protocol: TLSv1\.[23]' \
    || { PGPASSWORD=apus-secret psql -X -c '\conninfo'; echo "psql: \\conninfo shows no SSL"; exit 1; }
set +e
PGPASSWORD=wrong psql -X -c 'SELECT 1' > "$WORK/wrong.out" 2>&1
status=$?
set -e
[ "$status" -eq 2 ] || { cat "$WORK/wrong.out"; echo "psql: a wrong password gave status $status"; exit 1; }
grep -q 'password authentication failed for user "apus"' "$WORK/wrong.out" || { cat "$WORK/wrong.out"; exit 1; }
PGPASSWORD=apus-secret psql -X -q -v ON_ERROR_STOP=1 -c "CREATE ROLE reader LOGIN PASSWORD 'reader-pw'"
[ "$(PGPASSWORD=reader-pw psql -X -A -t -U reader -c 'SELECT session_user')" = "reader" ] || { echo "psql: reader login failed"; exit 1; }
PGPASSWORD=apus-secret psql -X -A -t -c '\du' | grep -q '^reader|' || { PGPASSWORD=apus-secret psql -X -c '\du'; echo "psql: \\du misses reader"; exit 1; }
PGPASSWORD=apus-secret psql -X -q -c "DROP ROLE reader"
echo "client-tests: psql SCRAM ok"
# apus sql over the wire with SCRAM (the password from the URL, then from PGPASSWORD).
printf 'CREATE TABLE shell_remote (id int PRIMARY KEY, v text);\nINSERT INTO shell_remote VALUES (1, $$a;b$$);\nSELECT v FROM shell_remote;\n\\d shell_remote\n' \
    | "$BIN" sql "postgres://apus:apus-secret@127.0.0.1:$PGPORT/apus" > "$WORK/remote.out" 2>&1 \
    || { cat "$WORK/remote.out"; echo "apus sql: the remote script failed"; exit 1; }
grep -q '^ a;b$' "$WORK/remote.out" && grep -q '^ v      | text    |' "$WORK/remote.out" \
    || { cat "$WORK/remote.out"; echo "apus sql: unexpected remote output"; exit 1; }
set +e
PGPASSWORD=apus-secret "$BIN" sql -c 'SELECT 1/0' "postgres://apus@127.0.0.1:$PGPORT/apus" > "$WORK/remote-err.out" 2>&1
status=$?
"$BIN" sql -c 'SELECT 1' "postgres://apus:wrong@127.0.0.1:$PGPORT/apus" > "$WORK/remote-bad.out" 2>&1
bad_status=$?
set -e
[ "$status" -eq 1 ] && grep -q 'division by zero (SQLSTATE 22012)' "$WORK/remote-err.out" \
    || { cat "$WORK/remote-err.out"; echo "apus sql: a remote error gave status $status"; exit 1; }
[ "$bad_status" -eq 2 ] && grep -q '28P01' "$WORK/remote-bad.out" \
    || { cat "$WORK/remote-bad.out"; echo "apus sql: a wrong password gave status $bad_status"; exit 1; }
echo "client-tests: apus sql over the network ok"
PGPASSWORD=apus-secret APUS_TLS_REQUIRED_PORT=$(cat "$WORK/port-req") python3 tests/clients/auth_tls_test.py
echo "client-tests: SCRAM and TLS (psycopg) ok"
