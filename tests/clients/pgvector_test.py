"""The pgvector Python package over psycopg 3 against `apus serve`: register_vector finds the
type, vectors round-trip in text and binary, dimension errors carry SQLSTATE 22000, and an HNSW
index answers nearest-neighbour queries with parameters (k rows, also under a WHERE clause).
Expected answers are worked out here from the data. Run by scripts/client-tests.sh."""
import sys

import numpy as np
import psycopg
from pgvector import Vector
from pgvector.psycopg import register_vector

failures = []


def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")


with psycopg.connect(autocommit=True) as conn:
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    register_vector(conn)
    conn.execute("CREATE TABLE docs (id bigserial PRIMARY KEY, embedding vector(3), lang text)")
    # Text parameters (numpy arrays through pgvector's text dumper) and binary ones.
    conn.execute("INSERT INTO docs (embedding, lang) VALUES (%s, 'en'), (%s, 'fr')",
                 (np.array([1, 2, 3]), np.array([4, 5, 6])))
    bcur = conn.cursor(binary=True)
    bcur.execute("INSERT INTO docs (embedding, lang) VALUES (%s, 'en')", (np.array([0.5, -1.25, 3e-3], dtype=np.float32),))
    rows = conn.execute("SELECT id, embedding FROM docs ORDER BY id").fetchall()
    check("text round trip", [(i, v.to_list()) for i, v in rows],
          [(1, [1.0, 2.0, 3.0]), (2, [4.0, 5.0, 6.0]), (3, [0.5, -1.25, float(np.float32(3e-3))])])
    brows = bcur.execute("SELECT id, embedding FROM docs ORDER BY id").fetchall()
    check("binary round trip", [(i, v.to_list()) for i, v in brows], [(i, v.to_list()) for i, v in rows])
    # 1000 points on a line, [i, 0, 0]; an HNSW index; nearest rows with a parameter.
    conn.execute("CREATE TABLE line (id int PRIMARY KEY, v vector(3), even bool)")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO line VALUES (%s, %s, %s)", [(i, np.array([i, 0, 0]), i % 2 == 0) for i in range(1, 1001)])
    conn.execute("CREATE INDEX ON line USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 64)")
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT id FROM line ORDER BY v <-> %s LIMIT 5", (Vector([1, 0, 0]),)))
    check("plan uses the index", "Index Scan using line_v_idx on line" in plan, True)
    got = [r[0] for r in conn.execute("SELECT id FROM line ORDER BY v <-> %s LIMIT 5", (Vector([500.2, 0, 0]),))]
    check("nearest 5", got, [500, 501, 499, 502, 498])
    got = [r[0] for r in bcur.execute("SELECT id FROM line WHERE even ORDER BY v <-> %s LIMIT 3", (np.array([700.6, 1, 1]),))]
    check("nearest 3 even (binary)", got, [700, 702, 698])
    conn.execute("SET hnsw.ef_search = 100")
    got = [r[0] for r in conn.execute("SELECT id FROM line WHERE id %% 100 = 0 ORDER BY v <-> %s LIMIT 4", (Vector([0, 0, 0]),))]
    check("selective filter returns k rows", got, [100, 200, 300, 400])
    got = conn.execute("SELECT l2_distance(%s, %s), cosine_distance(%s, %s)",
                       (Vector([0, 0, 0]), Vector([3, 4, 0]), Vector([1, 0, 0]), Vector([0, 1, 0]))).fetchone()
    check("distance functions", got, (5.0, 1.0))
    for sql, args in [("INSERT INTO docs (embedding) VALUES (%s)", (np.array([1, 2]),)),
                      ("SELECT %s <-> %s", (Vector([1, 2]), Vector([1, 2, 3])))]:
        try:
            conn.execute(sql, args)
            failures.append(f"{sql}: no error")
        except psycopg.Error as e:
            check(f"{sql}: SQLSTATE", e.sqlstate, "22000")
    conn.execute("DROP TABLE line")
    conn.execute("DROP TABLE docs")

if failures:
    print("\n".join(failures))
    sys.exit(1)
