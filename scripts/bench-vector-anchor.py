#!/usr/bin/env python3
"""Anchor for `apus bench vector`: hnswlib and FAISS on the same dataset, single-threaded.

Reads base.fvecs, query.fvecs and gt.ivecs (exact top-10) written by `apus bench vector
--out-dir DIR`, then reports build time, recall@10 and queries/s for hnswlib HNSW (M,
ef_construction as given; ef_search sweep), FAISS IndexHNSWFlat with the same parameters, and
FAISS IndexIVFFlat (lists, probes sweep). Queries run as one batch call per setting, so the
numbers are the libraries' C++ loops without Python per-query overhead: the strictest anchor
for an in-process comparison. Installs hnswlib, faiss-cpu and numpy with pip if missing.

Usage: OMP_NUM_THREADS=1 python3 scripts/bench-vector-anchor.py --dir /tmp/apus-bench-vector
"""

import argparse
import os
import subprocess
import sys
import time

os.environ["OMP_NUM_THREADS"] = "1"  # before numpy/faiss load their thread pools


def ensure(packages):
    missing = []
    for module, package in packages:
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *missing])


ensure([("numpy", "numpy"), ("hnswlib", "hnswlib"), ("faiss", "faiss-cpu")])

import faiss  # noqa: E402
import hnswlib  # noqa: E402
import numpy as np  # noqa: E402


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)[:, 1:]
    return np.ascontiguousarray(rows.view(dtype) if dtype == np.float32 else rows)


def recall(found, truth, k):
    hits = 0
    for f, t in zip(found, truth):
        hits += len(set(f[:k].tolist()) & set(t[:k].tolist()))
    return hits / (len(truth) * k)


def median_qps(fn, count, repetitions):
    """Medians of queries per CPU-second of this thread and per wall-second.

    The machine is shared, so wall rates swing with its load; thread CPU time excludes the
    time spent descheduled. With one thread, hnswlib and FAISS run the queries on the calling
    thread, so thread_time() covers all their work.
    """
    cpu_rates, wall_rates = [], []
    result = None
    for _ in range(repetitions):
        t, c = time.perf_counter(), time.thread_time()
        result = fn()
        cpu_rates.append(count / (time.thread_time() - c))
        wall_rates.append(count / (time.perf_counter() - t))
    cpu_rates.sort()
    wall_rates.sort()
    return f"{cpu_rates[len(cpu_rates) // 2]:.0f} | {wall_rates[len(wall_rates) // 2]:.0f}", result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/apus-bench-vector")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef-search", default="16,32,64,128")
    ap.add_argument("--lists", type=int, default=256)
    ap.add_argument("--probes", default="1,2,4,8,16,32")
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--skip-faiss-hnsw", action="store_true")
    args = ap.parse_args()
    k = 10
    xb = read_vecs(os.path.join(args.dir, "base.fvecs"), np.float32)
    xq = read_vecs(os.path.join(args.dir, "query.fvecs"), np.float32)
    gt = read_vecs(os.path.join(args.dir, "gt.ivecs"), np.int32)
    n, dim = xb.shape
    efs = [int(x) for x in args.ef_search.split(",")]
    probes = [int(x) for x in args.probes.split(",")]
    faiss.omp_set_num_threads(1)
    print(f"# anchor: n={n} dim={dim} queries={len(xq)} hnswlib {hnswlib.__version__ if hasattr(hnswlib, '__version__') else ''} faiss {faiss.__version__}")

    # hnswlib
    index = hnswlib.Index(space="l2", dim=dim)
    index.init_index(max_elements=n, M=args.m, ef_construction=args.ef_construction, random_seed=args.seed)
    index.set_num_threads(1)
    t, c = time.perf_counter(), time.thread_time()
    index.add_items(xb, np.arange(n), num_threads=1)
    build, build_cpu = time.perf_counter() - t, time.thread_time() - c
    print(f"\n## hnswlib HNSW (M={args.m}, ef_construction={args.ef_construction}), single thread")
    print(f"build: {build_cpu:.2f} CPU-s, {build:.2f} s wall")
    print(f"| ef_search | recall@10 | QPS per CPU-s | QPS wall (medians of {args.repetitions}) |\n|---|---|---|---|")
    for ef in efs:
        index.set_ef(ef)
        qps, (labels, _) = median_qps(lambda: index.knn_query(xq, k=k, num_threads=1), len(xq), args.repetitions)
        print(f"| {ef} | {recall(labels, gt, k):.4f} | {qps} |")
    del index

    # FAISS HNSW
    if not args.skip_faiss_hnsw:
        fh = faiss.IndexHNSWFlat(dim, args.m)
        fh.hnsw.efConstruction = args.ef_construction
        t = time.perf_counter()
        fh.add(xb)
        build = time.perf_counter() - t
        print(f"\n## FAISS IndexHNSWFlat (M={args.m}, efConstruction={args.ef_construction}), single thread")
        print(f"build: {build:.2f} s")
        print(f"| ef_search | recall@10 | QPS per CPU-s | QPS wall (medians of {args.repetitions}) |\n|---|---|---|---|")
        for ef in efs:
            fh.hnsw.efSearch = ef
            qps, (_, labels) = median_qps(lambda: fh.search(xq, k), len(xq), args.repetitions)
            print(f"| {ef} | {recall(labels, gt, k):.4f} | {qps} |")
        del fh

    # FAISS IVFFlat
    if args.lists > 0:
        quantizer = faiss.IndexFlatL2(dim)
        ivf = faiss.IndexIVFFlat(quantizer, dim, args.lists)
        ivf.cp.niter = 10
        ivf.cp.seed = args.seed
        train = xb[: min(n, args.lists * 100)]
        t = time.perf_counter()
        ivf.train(train)
        ivf.add(xb)
        build = time.perf_counter() - t
        print(f"\n## FAISS IndexIVFFlat (lists={args.lists}, trained on {len(train)}, 10 iterations), single thread")
        print(f"build (train + add): {build:.2f} s")
        print(f"| probes | recall@10 | QPS per CPU-s | QPS wall (medians of {args.repetitions}) |\n|---|---|---|---|")
        for p in probes:
            ivf.nprobe = p
            qps, (_, labels) = median_qps(lambda: ivf.search(xq, k), len(xq), args.repetitions)
            print(f"| {p} | {recall(labels, gt, k):.4f} | {qps} |")


if __name__ == "__main__":
    main()
