import ApusCore
@testable import ApusKV
import Foundation
import Testing

private func k(_ i: Int) -> [UInt8] { Array("key\(i)".utf8) }

@Suite struct LockTableTests {
    @Test func sharedLocksAreCompatibleExclusiveQueues() {
        var t = LockTable()
        #expect(t.acquire(1, key: k(0), mode: .shared) == .granted)
        #expect(t.acquire(2, key: k(0), mode: .shared) == .granted)
        #expect(t.acquire(3, key: k(0), mode: .exclusive) == .queued(holders: [1, 2]))
        // A later shared request queues behind the exclusive waiter (FIFO, no starvation).
        #expect(t.acquire(4, key: k(0), mode: .shared) == .queued(holders: []))
        #expect(t.releaseAll(1) == [])
        #expect(t.releaseAll(2) == [3])
        #expect(t.holds(3, key: k(0), mode: .exclusive))
        #expect(t.releaseAll(3) == [4])
        #expect(t.releaseAll(4) == [])
        #expect(t.lockedKeyCount == 0)
    }

    @Test func reacquireAndUpgrade() {
        var t = LockTable()
        #expect(t.acquire(1, key: k(0), mode: .exclusive) == .granted)
        #expect(t.acquire(1, key: k(0), mode: .shared) == .granted)
        #expect(t.holds(1, key: k(0), mode: .exclusive))
        #expect(t.acquire(2, key: k(1), mode: .shared) == .granted)
        #expect(t.acquire(3, key: k(1), mode: .shared) == .granted)
        #expect(t.acquire(2, key: k(1), mode: .exclusive) == .queued(holders: [3]))
        #expect(t.releaseAll(3) == [2])
        #expect(t.holds(2, key: k(1), mode: .exclusive))
    }

    /// A ring of `n` transactions, each holding key i and requesting key i+1: the last request
    /// closes the cycle and is refused, naming the transaction it would wait for.
    @Test(arguments: [2, 3, 10])
    func ringDeadlockIsDetectedWhenItForms(n: Int) {
        var t = LockTable()
        for i in 0..<n { #expect(t.acquire(TxnID(i + 1), key: k(i), mode: .exclusive) == .granted) }
        for i in 0..<(n - 1) {
            #expect(t.acquire(TxnID(i + 1), key: k(i + 1), mode: .exclusive) == .queued(holders: [TxnID(i + 2)]))
        }
        #expect(t.acquire(TxnID(n), key: k(0), mode: .exclusive) == .deadlock(other: 1))
        // The victim aborts: its locks go to the next in the ring, and the chain unwinds.
        #expect(t.releaseAll(TxnID(n)) == [TxnID(n - 1)])
        for i in stride(from: n - 1, through: 1, by: -1) {
            let woken = t.releaseAll(TxnID(i))
            #expect(woken == (i > 1 ? [TxnID(i - 1)] : []))
        }
        #expect(t.lockedKeyCount == 0)
    }

    /// The same ring with each key in a table of its own (one per range): the cycle check
    /// follows the edges of transactions waiting in the other tables.
    @Test(arguments: [2, 3, 10])
    func ringAcrossTablesIsDetected(n: Int) {
        final class Table { var t = LockTable() }
        let tables = (0..<n).map { _ in Table() }
        func acquire(_ i: Int, _ txn: TxnID, _ key: [UInt8], crossTables: Bool = true) -> LockDecision {
            let own = tables[i]
            return own.t.acquire(txn, key: key, mode: .exclusive, elsewhere: crossTables ? { other in
                tables.first { $0 !== own && $0.t.isWaiting(other) }?.t.waitsFor(other) ?? []
            } : nil)
        }
        for i in 0..<n { #expect(acquire(i, TxnID(i + 1), k(i)) == .granted) }
        for i in 0..<(n - 1) {
            #expect(acquire(i + 1, TxnID(i + 1), k(i + 1)) == .queued(holders: [TxnID(i + 2)]))
        }
        #expect(acquire(0, TxnID(n), k(0)) == .deadlock(other: 1))
        // Without the other tables' edges the closing request would wait forever.
        #expect(acquire(0, TxnID(n), k(0), crossTables: false) == .queued(holders: [1]))
    }

    @Test func sharedUpgradeDeadlock() {
        var t = LockTable()
        #expect(t.acquire(1, key: k(0), mode: .shared) == .granted)
        #expect(t.acquire(2, key: k(0), mode: .shared) == .granted)
        #expect(t.acquire(1, key: k(0), mode: .exclusive) == .queued(holders: [2]))
        #expect(t.acquire(2, key: k(0), mode: .exclusive) == .deadlock(other: 1))
    }

    @Test func cancelWaitGrantsThoseBehind() {
        var t = LockTable()
        #expect(t.acquire(1, key: k(0), mode: .shared) == .granted)
        #expect(t.acquire(2, key: k(0), mode: .exclusive) == .queued(holders: [1]))
        #expect(t.acquire(3, key: k(0), mode: .shared) == .queued(holders: []))
        #expect(t.cancelWait(2) == [3])
        #expect(t.holds(3, key: k(0), mode: .shared))
        #expect(!t.isWaiting(2))
    }
}

/// Runs `body` on `n` dedicated threads and waits for all of them.
func runThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    var threads: [Thread] = []
    for i in 0..<n {
        group.enter()
        threads.append(Thread { body(i); group.leave() })
    }
    for t in threads { t.start() }
    group.wait()
}

final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var codes: [Int: String] = [:]
    func set(_ i: Int, _ code: String) { lock.lock(); codes[i] = code; lock.unlock() }
    var all: [Int: String] { lock.lock(); defer { lock.unlock() }; return codes }
}

@Suite struct LockManagerTests {
    /// `n` threads each lock key i, then wait until every thread holds its first lock, then
    /// request key i+1: exactly one is chosen as the deadlock victim (40P01), the rest commit.
    /// With `partitioned`, every key is in a lock table of its own (one per range).
    @Test(arguments: [2, 3, 10], [false, true])
    func threadedRingDeadlock(n: Int, partitioned: Bool) {
        let m = partitioned
            ? LockManager(partitions: n) { key in Int(String(decoding: key.dropFirst(3), as: UTF8.self))! % n }
            : LockManager()
        let out = Outcomes()
        let barrier = DispatchGroup()
        for _ in 0..<n { barrier.enter() }
        runThreads(n) { i in
            let txn = TxnID(i + 1)
            do {
                try m.acquire(txn, key: k(i), mode: .exclusive)
                barrier.leave()
                barrier.wait()
                try m.acquire(txn, key: k((i + 1) % n), mode: .exclusive)
                out.set(i, "ok")
            } catch {
                out.set(i, ((error as? KVError)?.code.code ?? "other"))
            }
            m.releaseAll(txn)
        }
        let codes = out.all
        #expect(codes.count == n)
        #expect(codes.values.filter { $0 == "40P01" }.count == 1)
        #expect(codes.values.filter { $0 == "ok" }.count == n - 1)
    }

    @Test func lockTimeoutAndNowait() throws {
        let m = LockManager()
        try m.acquire(1, key: k(0), mode: .exclusive)
        #expect(throws: KVError.self) { try m.acquire(2, key: k(0), mode: .shared, nowait: true) }
        do {
            try m.acquire(2, key: k(0), mode: .exclusive, timeout: 0.05)
            Issue.record("expected a lock timeout")
        } catch {
            #expect(error.code == .lockNotAvailable)
        }
        #expect(!m.isWaiting(2))
        m.releaseAll(1)
        try m.acquire(2, key: k(0), mode: .exclusive, timeout: 0.05)
        #expect(m.timeouts == 1)
    }

    /// A waiter blocks (no retry loop) and is granted when the holder releases.
    @Test func waiterIsGrantedOnRelease() throws {
        let m = LockManager()
        try m.acquire(1, key: k(0), mode: .exclusive)
        let out = Outcomes()
        let t = Thread {
            do { try m.acquire(2, key: k(0), mode: .exclusive); out.set(0, "ok") } catch { out.set(0, ((error as? KVError)?.code.code ?? "other")) }
        }
        t.start()
        while !m.isWaiting(2) { Thread.sleep(forTimeInterval: 0.001) }
        #expect(out.all.isEmpty)
        m.releaseAll(1)
        while out.all.isEmpty { Thread.sleep(forTimeInterval: 0.001) }
        #expect(out.all[0] == "ok")
        #expect(m.holds(2, key: k(0), mode: .exclusive))
    }
}

@Suite struct DoomedWaiterTests {
    /// A holder that commits the key fails, at once, a long queue of waiters whose snapshots
    /// predate the commit (they could only abort); a short queue is granted in turn as usual,
    /// and a waiter with a newer snapshot is granted either way.
    @Test(arguments: [2, LockManager.doomQueueMin + 1])
    func commitFailsLongQueuesOfDoomedWaiters(waiters: Int) {
        let m = LockManager()
        let key: [UInt8] = Array("hot".utf8)
        do { try m.acquire(1, key: key, mode: .exclusive) } catch { Issue.record("\(error)") }
        let out = Outcomes()
        let done = DispatchGroup()
        for i in 0..<waiters {
            done.enter()
            Thread {
                do {
                    try m.acquire(TxnID(100 + i), key: key, mode: .exclusive, snapshot: 5)
                    out.set(i, "granted")
                    m.releaseAll(TxnID(100 + i))
                } catch {
                    out.set(i, (error as? KVError)?.code.code ?? "\(error)")
                }
                done.leave()
            }.start()
            while !m.isWaiting(TxnID(100 + i)) { usleep(100) }
        }
        // A waiter with a snapshot taken after the commit to come.
        let fresh = DispatchGroup()
        fresh.enter()
        let freshOutcome = Outcomes()
        Thread {
            do {
                try m.acquire(999, key: key, mode: .exclusive, snapshot: 7)
                freshOutcome.set(0, "granted")
                m.releaseAll(999)
            } catch {
                freshOutcome.set(0, (error as? KVError)?.code.code ?? "\(error)")
            }
            fresh.leave()
        }.start()
        while !m.isWaiting(999) { usleep(100) }
        m.releaseAll(1, committed: [key], at: 6)
        done.wait()
        fresh.wait()
        let expected = waiters >= LockManager.doomQueueMin ? "40001" : "granted"
        #expect(out.all.values.allSatisfy { $0 == expected }, "\(out.all)")
        #expect(out.all.count == waiters)
        #expect(freshOutcome.all[0] == "granted")
    }
}
