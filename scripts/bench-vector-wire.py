#!/usr/bin/env python3
"""Vector search over the PostgreSQL wire protocol, side by side on several servers.

Reads base.fvecs, query.fvecs and gt.ivecs (exact top-10) written by `apus bench vector`
(see docs/bench-vector.md) and, for each target given as LABEL=CONNINFO (an `apus serve` and a
PostgreSQL with pgvector, say), through psycopg 3 and the pgvector package:

  - loads the rows with COPY (id int, embedding vector(dim), attr int, attr uniform in 0..999
    from a fixed seed, the same on every target),
  - builds `USING hnsw (embedding vector_l2_ops) WITH (m, ef_construction)` single-threaded
    (PostgreSQL: max_parallel_maintenance_workers = 0, maintenance_work_mem large enough to
    build in memory),
  - times `SELECT id FROM items ORDER BY embedding <-> $1 LIMIT 10` as a prepared statement, one
    client, at each ef_search: recall@10 against the ground truth and queries/s (median of the
    repetitions),
  - times filtered queries `WHERE attr < $2` at 1%, 10% and 50% selectivity: recall@10 against
    an exact filtered ground truth computed here with numpy, rows returned (min/mean) and
    queries/s. For pgvector also with `hnsw.iterative_scan = strict_order` (0.8's remedy for
    short results; its default is off).

Prints Markdown tables. Usage:
  bench-vector-wire.py --dir /tmp/apus-bench-vector \\
      --target apus=postgresql://apus@127.0.0.1:5433/apus \\
      --target pgvector=postgresql://postgres@127.0.0.1:5434/postgres
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import psycopg
from pgvector.psycopg import register_vector


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    rows = raw.reshape(-1, dim + 1)[:, 1:]
    return rows.view(dtype) if dtype != np.int32 else rows


def exact_filtered(xb, xq, mask, k):
    """Exact top-k by L2 among the rows where mask is true, per query."""
    ids = np.nonzero(mask)[0]
    sub = xb[ids]
    sub_norm = (sub * sub).sum(axis=1)
    out = []
    for start in range(0, len(xq), 100):
        q = xq[start:start + 100]
        d = sub_norm[None, :] - 2 * q @ sub.T
        part = np.argpartition(d, min(k, d.shape[1] - 1), axis=1)[:, :k]
        for row, cand in zip(d, part):
            out.append(ids[cand[np.argsort(row[cand])]].tolist())
    return out


def recall(found, truth, k):
    hit = sum(len(set(f[:k]) & set(t[:k])) for f, t in zip(found, truth))
    want = sum(min(k, len(t)) for t in truth)
    return hit / max(want, 1)


def timed_runs(reps, fn):
    times, result = [], None
    for _ in range(reps):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def run_target(label, conninfo, xb, xq, gt, attr, args, filtered_truth):
    n, dim = xb.shape
    k = 10
    conn = psycopg.connect(conninfo, autocommit=True)
    is_pg = "ApusDB" not in conn.execute("SELECT version()").fetchone()[0]
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    register_vector(conn)
    conn.execute("DROP TABLE IF EXISTS items")
    conn.execute(f"CREATE TABLE items (id int PRIMARY KEY, embedding vector({dim}), attr int)")
    t = time.perf_counter()
    with conn.cursor() as cur:
        with cur.copy("COPY items (id, embedding, attr) FROM STDIN") as copy:
            for i in range(n):
                copy.write_row((i, "[" + ",".join(repr(float(x)) for x in xb[i]) + "]", int(attr[i])))
    load = time.perf_counter() - t
    if is_pg:
        conn.execute("SET maintenance_work_mem = '2GB'")
        conn.execute("SET max_parallel_maintenance_workers = 0")
    t = time.perf_counter()
    conn.execute(f"CREATE INDEX items_embedding ON items USING hnsw (embedding vector_l2_ops) "
                 f"WITH (m = {args.m}, ef_construction = {args.ef_construction})")
    build = time.perf_counter() - t
    if is_pg:
        conn.execute("VACUUM ANALYZE items")
    print(f"\n### {label}: {conn.execute('SELECT version()').fetchone()[0].split(',')[0]}")
    print(f"load (COPY) {load:.2f} s; CREATE INDEX hnsw (m={args.m}, ef_construction={args.ef_construction}) {build:.2f} s")
    queries = [xq[i] for i in range(min(args.queries, len(xq)))]
    sql = f"SELECT id FROM items ORDER BY embedding <-> %s LIMIT {k}"
    print("\n| ef_search | recall@10 | QPS (median of %d) |" % args.repetitions)
    print("|---|---|---|")
    results = {}
    for ef in args.ef:
        conn.execute(f"SET hnsw.ef_search = {ef}")
        def run():
            return [[r[0] for r in conn.execute(sql, (q,), prepare=True).fetchall()] for q in queries]
        run()  # warm up (prepares the statement, touches the index)
        secs, found = timed_runs(args.repetitions, run)
        qps = len(queries) / secs
        rc = recall(found, gt.tolist(), k)
        results[ef] = (rc, qps)
        print(f"| {ef} | {rc:.4f} | {qps:.0f} |")
    modes = [("", None)]
    if is_pg:
        modes.append((" (iterative_scan = strict_order)", "strict_order"))
    fqueries = queries[:args.filter_queries]
    print(f"\nfiltered (`WHERE attr < $2`, ef_search = {args.filter_ef}, first {len(fqueries)} queries):")
    print("| selectivity | recall@10 | rows returned min/mean | QPS |")
    print("|---|---|---|---|")
    conn.execute(f"SET hnsw.ef_search = {args.filter_ef}")
    fsql = f"SELECT id FROM items WHERE attr < %s ORDER BY embedding <-> %s LIMIT {k}"
    for note, mode in modes:
        if mode:
            conn.execute(f"SET hnsw.iterative_scan = {mode}")
        for permille in (10, 100, 500):
            def run():
                return [[r[0] for r in conn.execute(fsql, (permille, q), prepare=True).fetchall()] for q in fqueries]
            run()
            secs, found = timed_runs(args.repetitions, run)
            counts = [len(f) for f in found]
            rc = recall(found, filtered_truth[permille][:len(fqueries)], k)
            print(f"| {permille / 10:g}%{note} | {rc:.4f} | {min(counts)}/{statistics.mean(counts):.2f} "
                  f"| {len(fqueries) / secs:.0f} |")
    conn.execute("DROP TABLE items")
    conn.close()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/tmp/apus-bench-vector")
    ap.add_argument("--target", action="append", required=True, help="LABEL=CONNINFO")
    ap.add_argument("--ef", type=lambda s: [int(x) for x in s.split(",")], default=[16, 32, 64, 128])
    ap.add_argument("--filter-ef", type=int, default=64)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--filter-queries", type=int, default=200, help="queries of the filtered runs")
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    args = ap.parse_args()
    xb = read_vecs(os.path.join(args.dir, "base.fvecs"), np.float32)
    xq = read_vecs(os.path.join(args.dir, "query.fvecs"), np.float32)
    gt = read_vecs(os.path.join(args.dir, "gt.ivecs"), np.int32)[:, :10]
    n = xb.shape[0]
    attr = np.random.default_rng(20261205).integers(0, 1000, size=n)
    filtered_truth = {p: exact_filtered(xb, xq[:args.queries], attr < p, 10) for p in (10, 100, 500)}
    print(f"# vectors over the wire: n={n} dim={xb.shape[1]} queries={min(args.queries, len(xq))} (psycopg {psycopg.__version__})")
    all_results = {}
    for target in args.target:
        label, _, conninfo = target.partition("=")
        all_results[label] = run_target(label, conninfo, xb, xq, gt, attr, args, filtered_truth)
    if len(all_results) == 2:
        (a, ra), (b, rb) = all_results.items()
        print(f"\n| ef_search | QPS ratio {a}/{b} | recall {a} / {b} |")
        print("|---|---|---|")
        for ef in args.ef:
            print(f"| {ef} | {ra[ef][1] / rb[ef][1]:.2f} | {ra[ef][0]:.4f} / {rb[ef][0]:.4f} |")


if __name__ == "__main__":
    sys.exit(main())
