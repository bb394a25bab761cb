"""Durability of concurrent commits across a crash (SIGKILL of `apus serve`).

    crash_test.py run PORT SERVER_PID ACKED_FILE   # load, kill the server mid-way, record acks
    crash_test.py check PORT ACKED_FILE            # after a restart: every acknowledged commit is there

Four connections commit concurrently (group commit): each transaction inserts one log row and
moves one unit between two accounts (READ COMMITTED, so that writers queue rather than fail).
The server is killed with SIGKILL while they run. After the restart, every transaction whose
COMMIT was acknowledged must be there, the accounts must still sum to their initial total, and
every surviving log row must belong to a whole transaction (its transfer applied: the log
row's count equals the accounts' operation counts).
"""
import os
import signal
import sys
import threading
import time

import psycopg

ACCOUNTS = 10
INITIAL = 1000


def connect(port):
    return psycopg.connect(host="127.0.0.1", port=port, user="apus", dbname="apus")


def run(port, pid, acked_path):
    with connect(port) as c:
        c.autocommit = True
        c.execute("CREATE TABLE crash_log (id int PRIMARY KEY, client int NOT NULL)")
        c.execute("CREATE TABLE crash_acct (id int PRIMARY KEY, balance int NOT NULL, ops int NOT NULL)")
        for i in range(ACCOUNTS):
            c.execute("INSERT INTO crash_acct VALUES (%s, %s, 0)", (i, INITIAL))
    acked = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n):
        try:
            with connect(port) as c:
                c.execute("SET default_transaction_isolation = 'read committed'")
                c.commit()
                i = 0
                while not stop.is_set():
                    tid = n * 1_000_000 + i
                    a, b = (tid % ACCOUNTS), ((tid // ACCOUNTS + 1 + tid) % ACCOUNTS)
                    if a == b:
                        b = (b + 1) % ACCOUNTS
                    c.execute("INSERT INTO crash_log VALUES (%s, %s)", (tid, n))
                    c.execute("UPDATE crash_acct SET balance = balance - 1, ops = ops + 1 WHERE id = %s", (a,))
                    c.execute("UPDATE crash_acct SET balance = balance + 1, ops = ops + 1 WHERE id = %s", (b,))
                    c.commit()
                    with lock:
                        acked.append(tid)
                    i += 1
        except psycopg.Error:
            pass  # the server died

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.time() + 30
    while time.time() < deadline:
        with lock:
            if len(acked) >= 300:
                break
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join()
    with lock:
        ids = list(acked)
    if len(ids) < 50:
        sys.exit(f"crash_test: only {len(ids)} commits acknowledged before the kill")
    with open(acked_path, "w") as f:
        f.write("\n".join(str(i) for i in ids))
    print(f"crash_test: {len(ids)} commits acknowledged, server killed")


def check(port, acked_path):
    acked = [int(x) for x in open(acked_path).read().split()]
    with connect(port) as c:
        present = {r[0] for r in c.execute("SELECT id FROM crash_log").fetchall()}
        missing = [i for i in acked if i not in present]
        if missing:
            sys.exit(f"crash_test: {len(missing)} acknowledged commits lost, e.g. {missing[:5]}")
        total, ops = c.execute("SELECT sum(balance), sum(ops) FROM crash_acct").fetchone()
        if total != ACCOUNTS * INITIAL:
            sys.exit(f"crash_test: the accounts sum to {total}, not {ACCOUNTS * INITIAL}")
        if ops != 2 * len(present):
            sys.exit(f"crash_test: {len(present)} log rows but {ops} account operations (a torn transaction)")
    print(f"crash_test: all {len(acked)} acknowledged commits survived ({len(present)} rows), totals intact")


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        check(int(sys.argv[2]), sys.argv[3])
