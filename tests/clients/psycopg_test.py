"""psycopg 3 against `apus serve`: parameters, text and binary results, types, errors with
SQLSTATE, transactions. Expected values are PostgreSQL's. Run by scripts/client-tests.sh."""
import datetime
import decimal
import sys

import psycopg

failures = []


def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")


with psycopg.connect(autocommit=True) as conn:
    cur = conn.cursor()
    check("server_version", conn.info.server_version >= 150000, True)
    cur.execute("SHOW server_version")
    check("SHOW server_version", cur.fetchone()[0], conn.info.parameter_status("server_version"))
    cur.execute("SELECT version()")
    check("version()", cur.fetchone()[0].startswith("PostgreSQL 15"), True)
    cur.execute("SELECT id, name, price FROM items WHERE id = %s", (3,))
    check("param select", cur.fetchall(), [(3, "café", decimal.Decimal("10.00"))])
    cur.execute(
        "CREATE TABLE kinds (id int PRIMARY KEY, b boolean, i2 smallint, i8 bigint, f float8, n numeric(20,6), "
        "t text, d date, ts timestamp, by bytea)")
    row = (1, True, -32768, 9223372036854775807, 1.5e-7, decimal.Decimal("-12345678901234.123456"), "ünï\"code'",
           datetime.date(2024, 2, 29), datetime.datetime(2024, 1, 2, 3, 4, 5, 678901), b"\x00\xffab")
    cur.execute("INSERT INTO kinds VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", row)
    cur.execute("INSERT INTO kinds (id) VALUES (2)")
    for binary in (False, True):
        cur.execute("SELECT * FROM kinds ORDER BY id", binary=binary)
        got = cur.fetchall()
        check(f"round trip binary={binary}", got[0], row)
        check(f"nulls binary={binary}", got[1], (2,) + (None,) * 9)
    cur.execute("SELECT %s::int + 1, %s::text || 'b', %s::bool", (41, "a", False), binary=True)
    check("binary params", cur.fetchone(), (42, "ab", False))
    # Arrays: lists go out as array parameters and come back as lists, in text and binary.
    cur.execute("CREATE TABLE arrs (id int PRIMARY KEY, i int[], t text[], n numeric(8,2)[], f float8[], b bool[], d date[])")
    arow = (1, [1, None, -2147483648], ["a b", "", None, "q\"uote", "back\\slash", "{}", "ünï"],
            [decimal.Decimal("1.50"), None], [1.5, -0.25], [True, False], [datetime.date(2024, 2, 29)])
    cur.execute("INSERT INTO arrs VALUES (%s, %s, %s, %s, %s, %s, %s)", arow)
    cur.execute("INSERT INTO arrs (id, i, t) VALUES (2, %s, %s)", ([], []), binary=True)
    for binary in (False, True):
        cur.execute("SELECT * FROM arrs ORDER BY id", binary=binary)
        got = cur.fetchall()
        check(f"array round trip binary={binary}", got[0], arow)
        check(f"empty arrays binary={binary}", got[1][:3], (2, [], []))
        cur.execute("SELECT id FROM arrs WHERE %s = ANY(i) ORDER BY id", (-2147483648,), binary=binary)
        check(f"ANY(array column) binary={binary}", cur.fetchall(), [(1,)])
        cur.execute("SELECT count(*) FROM items WHERE id = ANY(%s)", ([1, 2, 99],), binary=binary)
        check(f"ANY(list parameter) binary={binary}", cur.fetchone(), (2,))
    cur.execute("SELECT (SELECT array_agg(id ORDER BY id DESC) FROM arrs), ARRAY(SELECT t FROM unnest(%s::text[]) AS u(t))", (["x", "y"],))
    check("array_agg and ARRAY()", cur.fetchone(), ([2, 1], ["x", "y"]))
    # time of day, both ways in text and binary.
    for binary in (False, True):
        cur.execute("SELECT %s::time, '23:59:59.5'::time", (datetime.time(13, 45, 10, 250000),), binary=binary)
        check(f"time binary={binary}", cur.fetchone(), (datetime.time(13, 45, 10, 250000), datetime.time(23, 59, 59, 500000)))
    # json and jsonb: dicts and lists out as parameters (binary jsonb has a version byte), back as
    # Python values; jsonb is stored in its canonical form, json as written.
    from psycopg.types.json import Json, Jsonb
    cur.execute("CREATE TABLE jdocs (id int PRIMARY KEY, j json, jb jsonb)")
    doc = {"name": "ünï \"q\"", "n": 1.5, "tags": ["a", None], "nested": {"ok": True}}
    cur.execute("INSERT INTO jdocs VALUES (1, %s, %s)", (Json(doc), Jsonb(doc)), binary=True)
    cur.execute("INSERT INTO jdocs VALUES (2, %s, %s)", ('{"b":1,  "a":2}', '{"b":1,  "a":2}'))
    for binary in (False, True):
        cur.execute("SELECT j, jb FROM jdocs WHERE id = 1", binary=binary)
        check(f"json round trip binary={binary}", cur.fetchone(), (doc, doc))
    cur.execute("SELECT j::text, jb::text FROM jdocs WHERE id = 2")
    check("json kept, jsonb canonical", cur.fetchone(), ('{"b":1,  "a":2}', '{"a": 2, "b": 1}'))
    cur.execute("SELECT id FROM jdocs WHERE jb @> %s ORDER BY id", (Jsonb({"nested": {"ok": True}}),))
    check("jsonb @> parameter", cur.fetchall(), [(1,)])
    cur.execute("SELECT jb ->> 'name', jb -> 'tags' -> 0 FROM jdocs WHERE id = 1")
    check("-> and ->>", cur.fetchone(), (doc["name"], "a"))
    try:
        cur.execute("SELECT %s::jsonb", ('{"bad"',))
        failures.append("bad jsonb: no error")
    except psycopg.Error as e:
        check("bad jsonb", e.sqlstate, "22P02")
    for sql, state in [("SELECT * FROM nosuch", "42P01"), ("SELECT 1/0", "22012"), ("SELEC 1", "42601"),
                       ("INSERT INTO items VALUES (1, 'dup', 1, NULL)", "23505"),
                       ("INSERT INTO items (id) VALUES (9)", "23502")]:
        try:
            cur.execute(sql)
            failures.append(f"{sql}: no error")
        except psycopg.Error as e:
            check(sql, e.sqlstate, state)
    # Transactions: rollback discards, commit keeps, an error aborts the block.
    with conn.transaction():
        cur.execute("INSERT INTO kinds (id) VALUES (10)")
    try:
        with conn.transaction():
            cur.execute("INSERT INTO kinds (id) VALUES (11)")
            cur.execute("SELECT 1/0")
    except psycopg.errors.DivisionByZero:
        pass
    cur.execute("SELECT id FROM kinds WHERE id >= 10 ORDER BY id")
    check("transactions", cur.fetchall(), [(10,)])
    # executemany through the extended protocol.
    cur.executemany("INSERT INTO kinds (id, t) VALUES (%s, %s)", [(100 + i, f"row{i}") for i in range(50)])
    cur.execute("SELECT count(*), min(t), max(t) FROM kinds WHERE id >= 100")
    check("executemany", cur.fetchone(), (50, "row0", "row9"))

    # COPY FROM STDIN and COPY TO STDOUT (text format), with escapes and NULLs.
    with cur.copy("COPY kinds (id, t) FROM STDIN") as cp:
        cp.write_row((200, "tab\there\\ and \\N"))
        cp.write_row((201, None))
    cur.execute("SELECT t FROM kinds WHERE id IN (200, 201) ORDER BY id")
    check("copy in", cur.fetchall(), [("tab\there\\ and \\N",), (None,)])
    with cur.copy("COPY (SELECT id, t FROM kinds WHERE id >= 200 ORDER BY id) TO STDOUT") as cp:
        got = [tuple(r) for r in cp.rows()]
    check("copy out", got, [("200", "tab\there\\ and \\N"), ("201", None)])
    try:
        with cur.copy("COPY kinds (id, t) FROM STDIN") as cp:
            cp.write_row((300, "x"))
            cp.write_row((200, "duplicate"))
        failures.append("copy with a duplicate key: no error")
    except psycopg.Error as e:
        check("copy duplicate", e.sqlstate, "23505")
    cur.execute("SELECT count(*) FROM kinds WHERE id = 300")
    check("copy is atomic", cur.fetchone(), (0,))

# Nested transactions are savepoints: an inner block that fails rolls back alone.
with psycopg.connect() as conn:
    with conn.transaction():
        conn.execute("INSERT INTO kinds (id, t) VALUES (400, 'outer')")
        try:
            with conn.transaction():
                conn.execute("INSERT INTO kinds (id, t) VALUES (401, 'inner')")
                conn.execute("INSERT INTO kinds (id, t) VALUES (400, 'duplicate')")
        except psycopg.errors.UniqueViolation:
            pass
        with conn.transaction():
            conn.execute("INSERT INTO kinds (id, t) VALUES (402, 'inner kept')")
    got = conn.execute("SELECT id, t FROM kinds WHERE id >= 400 ORDER BY id").fetchall()
    check("savepoints", got, [(400, "outer"), (402, "inner kept")])
    conn.execute("DELETE FROM kinds WHERE id >= 400")
    conn.commit()

# A second connection sees committed data and DDL.
with psycopg.connect() as other:
    check("other connection", other.execute("SELECT count(*) FROM kinds").fetchone(), (55,))

# Concurrent transactions: a reader is not blocked by an open writer and sees committed data
# only; SELECT ... FOR UPDATE NOWAIT on the writer's row fails with 55P03; REPEATABLE READ
# makes the second writer of a row fail with 40001 (SerializationFailure) once the first
# commits; AS OF SYSTEM TIME with a parameter reads the state before an update.
with psycopg.connect() as a, psycopg.connect() as b:
    a.execute("CREATE TABLE conc (id int PRIMARY KEY, v int)")
    a.execute("INSERT INTO conc VALUES (1, 10)")
    a.commit()
    before = a.execute("SELECT now()").fetchone()[0]
    a.execute("UPDATE conc SET v = 11 WHERE id = 1")
    check("reader not blocked", b.execute("SELECT v FROM conc WHERE id = 1").fetchone(), (10,))
    b.rollback()
    try:
        b.execute("SELECT v FROM conc WHERE id = 1 FOR UPDATE NOWAIT")
        failures.append("FOR UPDATE NOWAIT: no error")
    except psycopg.errors.LockNotAvailable:
        pass
    b.rollback()
    a.commit()
    check("committed value", b.execute("SELECT v FROM conc WHERE id = 1").fetchone(), (11,))
    b.rollback()
    b.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    check("snapshot", b.execute("SELECT v FROM conc WHERE id = 1").fetchone(), (11,))
    a.execute("UPDATE conc SET v = 12 WHERE id = 1")
    a.commit()
    try:
        b.execute("UPDATE conc SET v = v + 1 WHERE id = 1")
        failures.append("repeatable read: lost update not refused")
    except psycopg.errors.SerializationFailure:
        pass
    b.rollback()
    a.autocommit = True
    got = a.execute("SELECT v FROM conc AS OF SYSTEM TIME %s WHERE id = 1", (before,)).fetchone()
    check("AS OF SYSTEM TIME", got, (10,))

# NOTICE and WARNING messages (NoticeResponse), filtered by client_min_messages.
with psycopg.connect(autocommit=True) as conn:
    notices = []
    conn.add_notice_handler(lambda d: notices.append((d.severity, d.sqlstate, d.message_primary)))
    conn.execute("DROP TABLE IF EXISTS no_such_table")
    conn.execute("COMMIT")
    conn.execute("CREATE TABLE IF NOT EXISTS items (id int)")
    check("notices", notices, [("NOTICE", "00000", 'table "no_such_table" does not exist, skipping'),
                               ("WARNING", "25P01", "there is no transaction in progress"),
                               ("NOTICE", "42P07", 'relation "items" already exists, skipping')])
    conn.execute("SET client_min_messages = warning")
    conn.execute("DROP TABLE IF EXISTS no_such_table")
    check("client_min_messages", len(notices), 3)

# Server-side (named) cursors: DECLARE with parameters over the extended protocol, Describe of
# the cursor's portal, FETCH FORWARD n in text and binary, scroll (MOVE), WITH HOLD, iteration.
with psycopg.connect() as conn:
    conn.execute("CREATE TABLE big (id int PRIMARY KEY, label text, amount numeric(10,2))")
    with conn.cursor() as cur:
        with cur.copy("COPY big FROM STDIN") as cp:
            for i in range(1, 1001):
                cp.write_row((i, f"label {i}", decimal.Decimal(i) / 4))
    conn.commit()
    for binary in (False, True):
        with conn.cursor(name="named_c", binary=binary) as cur:
            cur.execute("SELECT id, label, amount FROM big WHERE id > %s ORDER BY id", (990,))
            check(f"named description binary={binary}", [d.name for d in cur.description], ["id", "label", "amount"])
            check(f"named fetchone binary={binary}", cur.fetchone(), (991, "label 991", decimal.Decimal("247.75")))
            check(f"named fetchmany binary={binary}", [r[0] for r in cur.fetchmany(3)], [992, 993, 994])
            check(f"named fetchall binary={binary}", [r[0] for r in cur.fetchall()], list(range(995, 1001)))
            check(f"named exhausted binary={binary}", cur.fetchone(), None)
        conn.rollback()
    with conn.cursor(name="scroll_c", scrollable=True) as cur:
        cur.execute("SELECT id FROM big ORDER BY id")
        cur.scroll(500, mode="absolute")
        check("scroll absolute", cur.fetchone(), (501,))
        cur.scroll(-11)
        check("scroll relative", cur.fetchone(), (491,))
    conn.rollback()
    with conn.cursor(name="noscroll_c", scrollable=False) as cur:
        cur.execute("SELECT id FROM big ORDER BY id")
        cur.fetchmany(5)
        try:
            cur.scroll(-2)
            failures.append("NO SCROLL cursor moved backward")
        except psycopg.errors.ObjectNotInPrerequisiteState:
            pass
    conn.rollback()
    cur = conn.cursor(name="iter_c")
    cur.itersize = 70
    total = 0
    count = 0
    cur.execute("SELECT id FROM big")
    for (i,) in cur:
        total += i
        count += 1
    check("named iteration", (count, total), (1000, 500500))
    cur.close()
    conn.commit()
    hold = conn.cursor(name="hold_c", withhold=True)
    hold.execute("SELECT id FROM big WHERE id <= 3 ORDER BY id")
    conn.commit()
    check("WITH HOLD after commit", hold.fetchall(), [(1,), (2,), (3,)])
    hold.close()
    check("pg_cursors after close", conn.execute("SELECT count(*) FROM pg_cursors").fetchone(), (0,))
    conn.execute("DROP TABLE big")
    conn.commit()

if failures:
    print("\n".join(failures))
    sys.exit(1)
