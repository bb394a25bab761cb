"""Cancellation and timeouts through psycopg 3 against `apus serve`: conn.cancel() (libpq's
CancelRequest with the session's BackendKeyData) ends a long statement with 57014, in and out of
a transaction block, and the connection stays usable; statement_timeout ends one with 57014;
idle_in_transaction_session_timeout terminates the session with 25P03.

No assertion depends on timing: the canceller repeats its request until the statement has
ended (a request that reaches an idle session is ignored, as in PostgreSQL), and a statement
that is not interrupted would run for many minutes, so every wait here has a generous bound
that only a broken server reaches. Run by scripts/client-tests.sh."""
import select
import sys
import threading

import psycopg

failures = []

LONG_QUERY = ("SELECT count(*) FROM generate_series(1, 100000) a(x) "
              "JOIN generate_series(1, 100000) b(y) ON a.x * 1000003 + b.y < 0")


def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")


def run_cancelled(conn, sql):
    """Runs sql while another thread keeps cancelling it; returns the error it ended with."""
    done = threading.Event()

    def canceller():
        while not done.wait(0.05):
            conn.cancel()

    t = threading.Thread(target=canceller)
    t.start()
    try:
        conn.execute(sql)
        return None
    except psycopg.Error as e:
        return e
    finally:
        done.set()
        t.join()


with psycopg.connect(autocommit=True) as conn:
    e = run_cancelled(conn, LONG_QUERY)
    check("cancel sqlstate", e and e.sqlstate, "57014")
    check("cancel message", e and e.diag.message_primary, "canceling statement due to user request")
    check("usable after cancel", conn.execute("SELECT 6 * 7").fetchone(), (42,))

    # Inside a block the cancelled statement fails the block, like any error.
    conn.execute("CREATE TABLE cancelled (id int PRIMARY KEY)")
    conn.execute("BEGIN")
    conn.execute("INSERT INTO cancelled VALUES (1)")
    e = run_cancelled(conn, LONG_QUERY)
    check("cancel in block", e and e.sqlstate, "57014")
    check("block failed", conn.info.transaction_status, psycopg.pq.TransactionStatus.INERROR)
    conn.execute("ROLLBACK")
    check("block rolled back", conn.execute("SELECT count(*) FROM cancelled").fetchone(), (0,))

    # statement_timeout, as an integer of milliseconds and with a unit.
    for value in ("250", "'250ms'"):
        conn.execute(f"SET statement_timeout = {value}")
        try:
            conn.execute(LONG_QUERY)
            failures.append(f"statement_timeout {value}: no error")
        except psycopg.errors.QueryCanceled as e:
            check("timeout message", e.diag.message_primary, "canceling statement due to statement timeout")
        check(f"usable after timeout {value}", conn.execute("SELECT 1").fetchone(), (1,))
    check("SHOW statement_timeout", conn.execute("SHOW statement_timeout").fetchone(), ("250ms",))
    conn.execute("SET statement_timeout = 0")
    try:
        conn.execute("SET statement_timeout = 'soon'")
        failures.append("bad statement_timeout: no error")
    except psycopg.Error as e:
        check("bad statement_timeout", e.sqlstate, "22023")

# idle_in_transaction_session_timeout: the server ends the session (FATAL 25P03) and closes
# the socket; waiting for the socket to become readable needs no guess about timing.
with psycopg.connect() as conn:
    conn.execute("SET idle_in_transaction_session_timeout = '100ms'")
    conn.commit()
    conn.execute("SELECT 1")  # opens a transaction block and leaves it idle
    readable, _, _ = select.select([conn.fileno()], [], [], 60)
    check("server ended the idle session", bool(readable), True)
    try:
        conn.execute("SELECT 1")
        failures.append("idle in transaction: the session survived")
    except psycopg.Error as e:
        check("idle timeout sqlstate", e.sqlstate, "25P03")

# The locks of the terminated session are gone: another session writes at once.
with psycopg.connect(autocommit=True) as conn:
    conn.execute("INSERT INTO cancelled VALUES (2)")
    check("after idle timeout", conn.execute("SELECT count(*) FROM cancelled").fetchone(), (1,))

if failures:
    print("\n".join(failures))
    sys.exit(1)
