"""psycopg 3 against `apus serve --auth scram` with a self-signed certificate: SCRAM-SHA-256 logins
(right and wrong passwords, roles made with CREATE ROLE), TLS with sslmode=require (the
connection really is encrypted) and a plain connection with sslmode=disable while TLS is
optional. With --tls-required (APUS_TLS_REQUIRED_PORT), plain connections are refused.
Run by scripts/client-tests.sh with PGHOST, PGPORT, PGUSER and PGPASSWORD set."""
import os
import sys

import psycopg

failures = []


def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")


def refused(what, want_text, **kwargs):
    try:
        psycopg.connect(**kwargs).close()
        failures.append(f"{what}: connected, want a refusal")
    except psycopg.OperationalError as e:
        if want_text not in str(e):
            failures.append(f"{what}: got {e!r}, want {want_text!r}")


with psycopg.connect(sslmode="require", autocommit=True) as conn:
    check("TLS in use with sslmode=require", conn.pgconn.ssl_in_use, True)
    cur = conn.cursor()
    cur.execute("SELECT current_user, session_user")
    check("current_user over TLS", cur.fetchone(), (os.environ["PGUSER"], os.environ["PGUSER"]))
    cur.execute("CREATE ROLE app LOGIN PASSWORD 'app-secret'")
    cur.execute("CREATE ROLE nologin PASSWORD 'x'")
    cur.execute("SELECT rolname, rolcanlogin FROM pg_roles ORDER BY rolname")
    check("pg_roles", cur.fetchall(), [("app", True), ("apus", True), ("nologin", False)])
    try:
        cur.execute("CREATE ROLE app")
        failures.append("duplicate role: no error")
    except psycopg.Error as e:
        check("duplicate role SQLSTATE", e.sqlstate, "42710")

with psycopg.connect(sslmode="disable", user="app", password="app-secret", autocommit=True) as conn:
    check("no TLS with sslmode=disable", conn.pgconn.ssl_in_use, False)
    cur = conn.cursor()
    cur.execute("SELECT current_user")
    check("login as a created role", cur.fetchone(), ("app",))
    try:
        cur.execute("CREATE ROLE other")
        failures.append("non-superuser CREATE ROLE: no error")
    except psycopg.Error as e:
        check("non-superuser CREATE ROLE SQLSTATE", e.sqlstate, "42501")

refused("wrong password", 'password authentication failed for user "app"', user="app", password="wrong")
refused("unknown role", 'password authentication failed for user "ghost"', user="ghost", password="x")
refused("NOLOGIN role", 'role "nologin" is not permitted to log in', user="nologin", password="x")

required = os.environ.get("APUS_TLS_REQUIRED_PORT")
if required:
    with psycopg.connect(port=required, sslmode="require") as conn:
        check("TLS-required server over TLS", conn.pgconn.ssl_in_use, True)
    refused("TLS-required server without TLS", "requires TLS", port=required, sslmode="disable")

if failures:
    print("\n".join(failures))
    sys.exit(1)
