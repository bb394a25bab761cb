"""pg8000 (pure Python, every parameter sent with type OID 0 so the server infers its type)
against `apus serve`: round trips through both of its APIs, errors with their SQLSTATE,
transactions. Expected values are PostgreSQL's. Run by scripts/client-tests.sh."""
import datetime
import decimal
import os
import sys

import pg8000.dbapi
import pg8000.native

failures = []


def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")


params = dict(user=os.environ.get("PGUSER", "apus"), host=os.environ.get("PGHOST", "127.0.0.1"),
              port=int(os.environ["PGPORT"]), database=os.environ.get("PGDATABASE", "apus"))

con = pg8000.native.Connection(**params)
check("select", con.run("SELECT 41 + 1"), [[42]])
con.run("CREATE TABLE p8 (id int PRIMARY KEY, t text, n numeric(10,2), f float8, b boolean, d date, "
        "ts timestamp, by bytea)")
row = [1, "héllo 'q'", decimal.Decimal("12.50"), 0.25, True, datetime.date(2024, 2, 29),
       datetime.datetime(2024, 1, 2, 3, 4, 5, 600000), b"\x00\x01\xff"]
# Parameter types are inferred from the INSERT's target columns.
con.run("INSERT INTO p8 VALUES (:id, :t, :n, :f, :b, :d, :ts, :by)",
        id=row[0], t=row[1], n=row[2], f=row[3], b=row[4], d=row[5], ts=row[6], by=row[7])
con.run("INSERT INTO p8 (id) VALUES (:id)", id=2)
check("round trip", con.run("SELECT * FROM p8 ORDER BY id"), [row, [2] + [None] * 7])
# ... and from comparisons and casts.
check("param in WHERE", con.run("SELECT t FROM p8 WHERE id = :id", id=1), [["héllo 'q'"]])
check("param cast", con.run("SELECT CAST(:x AS int) + 1", x=9), [[10]])
for sql, state in [("SELECT * FROM nosuch", "42P01"), ("SELECT 1/0", "22012"),
                   ("INSERT INTO p8 (id) VALUES (1)", "23505")]:
    try:
        con.run(sql)
        failures.append(f"{sql}: no error")
    except pg8000.native.DatabaseError as e:
        check(sql, e.args[0].get("C"), state)
con.close()

# The DB-API: transactions are implicit; rollback discards, commit keeps.
conn = pg8000.dbapi.connect(**params)
cur = conn.cursor()
cur.execute("INSERT INTO p8 (id, t) VALUES (%s, %s)", (10, "rolled back"))
conn.rollback()
cur.execute("INSERT INTO p8 (id, t) VALUES (%s, %s)", (11, "kept"))
conn.commit()
cur.execute("SELECT id, t FROM p8 WHERE id >= 10 ORDER BY id")
check("dbapi transactions", [tuple(r) for r in cur.fetchall()], [(11, "kept")])
try:
    cur.execute("SELECT 1/0")
    failures.append("dbapi: no error")
except pg8000.dbapi.DatabaseError as e:
    check("dbapi error", e.args[0].get("C"), "22012")
conn.rollback()
cur.executemany("INSERT INTO p8 (id, t) VALUES (%s, %s)", [(20 + i, f"m{i}") for i in range(10)])
conn.commit()
cur.execute("SELECT count(*) FROM p8 WHERE id >= 20")
check("executemany", cur.fetchone()[0], 10)
conn.close()

if failures:
    print("\n".join(failures))
    sys.exit(1)
