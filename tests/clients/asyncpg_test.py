"""asyncpg against `apus serve`: the binary protocol throughout, prepared statements, type round
trips, errors with their SQLSTATE, transactions, and cancellation (an asyncio timeout makes
asyncpg send a CancelRequest; the server must end the statement with 57014 and the connection
must stay usable). Expected values are PostgreSQL's. Run by scripts/client-tests.sh."""
import asyncio
import datetime
import decimal
import sys

import asyncpg

failures = []

# A statement that would run for many minutes: every row pair of the cross join is compared,
# and (almost) none passes, so it stays cheap in memory while it runs.
LONG_QUERY = ("SELECT count(*) FROM generate_series(1, 100000) a(x) "
              "JOIN generate_series(1, 100000) b(y) ON a.x * 1000003 + b.y < 0")


def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")


async def main():
    conn = await asyncpg.connect()
    try:
        check("select", await conn.fetchval("SELECT 41 + 1"), 42)
        # Prepared statements: parameters and result types come from Describe, values are binary.
        stmt = await conn.prepare("SELECT $1::int8 * 2 AS doubled, $2::text || '!' AS shout")
        check("prepared columns", [a.name for a in stmt.get_attributes()], ["doubled", "shout"])
        check("prepared 1", tuple(await stmt.fetchrow(21, "hi")), (42, "hi!"))
        check("prepared 2", tuple(await stmt.fetchrow(-4, "")), (-8, "!"))

        await conn.execute(
            "CREATE TABLE apg (id int PRIMARY KEY, b boolean, i2 smallint, i8 bigint, f4 real, f8 float8, "
            "n numeric(20,6), t text, vc varchar(10), d date, ts timestamp, tstz timestamptz, by bytea)")
        row = (1, True, -32768, 9223372036854775807, 1.5, -2.25e-7, decimal.Decimal("-12345678901234.123456"),
               "ünï\"code'", "short", datetime.date(2024, 2, 29), datetime.datetime(2024, 1, 2, 3, 4, 5, 678901),
               datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc), b"\x00\xffab")
        await conn.execute("INSERT INTO apg VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)", *row)
        await conn.execute("INSERT INTO apg (id) VALUES (2)")
        got = await conn.fetch("SELECT * FROM apg ORDER BY id")
        check("round trip", tuple(got[0]), row)
        check("nulls", tuple(got[1]), (2,) + (None,) * 12)
        # Arrays in the binary protocol: parameters and results.
        await conn.execute("CREATE TABLE apg_arr (id int PRIMARY KEY, i8 bigint[], t text[], ts timestamp[])")
        arow = (1, [9223372036854775807, None, -1], ["a", None, "ünï \"q\""], [datetime.datetime(2024, 1, 2, 3, 4, 5)])
        await conn.execute("INSERT INTO apg_arr VALUES ($1, $2, $3, $4)", *arow)
        check("array round trip", tuple(await conn.fetchrow("SELECT * FROM apg_arr")), arow)
        check("ANY($1)", await conn.fetchval("SELECT count(*) FROM apg WHERE id = ANY($1)", [1, 2, 3]), 2)
        check("empty array", await conn.fetchval("SELECT $1::int[]", []), [])
        # uuid, interval, time and jsonb parameters and results, binary both ways.
        import uuid
        u = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        iv = datetime.timedelta(days=3, hours=12, minutes=34, seconds=56, microseconds=789)
        check("uuid", await conn.fetchval("SELECT $1::uuid", u), u)
        check("interval", await conn.fetchval("SELECT $1::interval", iv), iv)
        check("interval arithmetic", await conn.fetchval("SELECT $1::interval + $1::interval", iv), iv * 2)
        # An error while asyncpg prepares (Parse, Describe, Flush) reaches it at once.
        for sql, state in [("SELECT $1::int + nosuchcol", "42703"), ("SELECT $1::int FROM nosuch", "42P01"),
                           ("SELECT $1::text * 2", "42883")]:
            try:
                await asyncio.wait_for(conn.fetchval(sql, 1 if "int" in sql else "a"), 20)
                failures.append(f"{sql}: no error")
            except asyncpg.PostgresError as e:
                check(f"prepare error {sql}", e.sqlstate, state)
        check("time", await conn.fetchval("SELECT $1::time", datetime.time(23, 59, 58, 1)), datetime.time(23, 59, 58, 1))
        check("jsonb", await conn.fetchval("SELECT $1::jsonb -> 'a'", '{"a": [1, 2]}'), "[1, 2]")
        # executemany through one prepared INSERT.
        await conn.executemany("INSERT INTO apg (id, t) VALUES ($1, $2)", [(100 + i, f"r{i}") for i in range(30)])
        check("executemany", tuple(await conn.fetchrow("SELECT count(*), min(t) FROM apg WHERE id >= 100")),
              (30, "r0"))

        # Errors carry their SQLSTATE and map to asyncpg's exception classes.
        for sql, state in [("SELECT * FROM nosuch", "42P01"), ("SELECT 1/0", "22012"), ("SELEC 1", "42601"),
                           ("INSERT INTO apg (id) VALUES (1)", "23505")]:
            try:
                await conn.execute(sql)
                failures.append(f"{sql}: no error")
            except asyncpg.PostgresError as e:
                check(sql, e.sqlstate, state)

        # Transactions: an exception inside rolls back, a clean exit commits.
        try:
            async with conn.transaction():
                await conn.execute("INSERT INTO apg (id) VALUES (10)")
                await conn.execute("SELECT 1/0")
        except asyncpg.DivisionByZeroError:
            pass
        async with conn.transaction():
            await conn.execute("INSERT INTO apg (id) VALUES (11)")
        check("transactions", [r["id"] for r in await conn.fetch("SELECT id FROM apg WHERE id IN (10, 11)")], [11])

        # Cancellation: the timeout makes asyncpg send a CancelRequest on a new connection and
        # wait for the statement's end. A statement that was not interrupted would keep the
        # connection busy for many minutes and fail the bounded wait below.
        try:
            await conn.fetchval(LONG_QUERY, timeout=0.5)
            failures.append("long query: finished instead of being cancelled")
        except asyncio.TimeoutError:
            pass
        check("usable after cancel", await asyncio.wait_for(conn.fetchval("SELECT 7"), 60), 7)
        # The same through statement_timeout, which reports 57014 itself.
        await conn.execute("SET statement_timeout = '300ms'")
        try:
            await asyncio.wait_for(conn.fetchval(LONG_QUERY), 60)
            failures.append("statement_timeout: no error")
        except asyncpg.QueryCanceledError as e:
            check("statement_timeout sqlstate", e.sqlstate, "57014")
            check("statement_timeout message", str(e), "canceling statement due to statement timeout")
        await conn.execute("RESET statement_timeout")
        check("usable after timeout", await conn.fetchval("SELECT count(*) FROM apg"), 33)
        # A pool resets each connection it takes back (SELECT pg_advisory_unlock_all(); CLOSE ALL;
        # UNLISTEN *; RESET ALL): settings return to those the connection started with.
        pool = await asyncpg.create_pool(min_size=1, max_size=1, server_settings={"application_name": "pooled"})
        async with pool.acquire() as pc:
            await pc.execute("SET application_name = 'changed'")
            await pc.execute("BEGIN; DECLARE pc_cur CURSOR WITH HOLD FOR SELECT 1; COMMIT")
        async with pool.acquire() as pc:
            check("pool reset keeps startup settings", await pc.fetchval("SHOW application_name"), "pooled")
            check("pool reset closes cursors", await pc.fetchval("SELECT count(*) FROM pg_cursors WHERE name = 'pc_cur'"), 0)
        await pool.close()
        # Cursors: protocol portals fetched in batches (Execute with a row limit, PortalSuspended),
        # forward() (MOVE FORWARD n on the portal), iteration with prefetch, and a DECLARE'd cursor.
        async with conn.transaction():
            cur = await conn.cursor("SELECT g FROM generate_series(1, 50) g WHERE g > $1", 10)
            check("cursor fetch", [r[0] for r in await cur.fetch(3)], [11, 12, 13])
            check("cursor forward", await cur.forward(5), 5)
            check("cursor fetchrow", (await cur.fetchrow())[0], 19)
            check("cursor fetch rest", len(await cur.fetch(100)), 31)
            got = [r[0] async for r in conn.cursor("SELECT g FROM generate_series(1, 25) g", prefetch=4)]
            check("cursor iteration", got, list(range(1, 26)))
            await conn.execute("DECLARE dc SCROLL CURSOR FOR SELECT g FROM generate_series(1, 5) g")
            check("declared fetch", [r[0] for r in await conn.fetch("FETCH 2 FROM dc")], [1, 2])
            check("declared backward", [r[0] for r in await conn.fetch("FETCH BACKWARD 1 FROM dc")], [1])
            check("declared move", await conn.execute("MOVE LAST IN dc"), "MOVE 1")
            await conn.execute("CLOSE dc")
    finally:
        await conn.close()


asyncio.run(main())
if failures:
    print("\n".join(failures))
    sys.exit(1)
