import ApusCore
import Foundation

/// The concurrent shell around `LockTable`s: a conflicting request blocks the calling thread on a
/// condition variable until the lock is granted (no busy retry), the wait would deadlock (40P01,
/// raised at once when the cycle forms, naming another transaction on it), or `timeout` passes
/// (55P03, PostgreSQL's `lock_timeout`). `nowait` refuses instead of waiting (`FOR UPDATE NOWAIT`).
///
/// One table per range: a key's lock is kept in the table of the range holding it
/// (`partitionOf`), behind that table's own mutex, so that requests are addressed to ranges like
/// every other request of a transaction. The wait-for graph spans the tables: a request that
/// must wait locks every table (in index order) and looks for a cycle through all of them, so
/// detection stays exact; a request granted at once, a release and a withdrawal take only their
/// table's mutex.
///
/// Concurrency: `Sendable`. Each waiting transaction sleeps on a condition of its own,
/// signalled only when a table grants its request (no thundering herd: a release wakes exactly
/// the transactions it grants). Lock order: tables in index order, then a waiter's condition; a
/// waiter holds only its own condition while it sleeps. A thread holding one table's mutex
/// never takes another's except in index order.
public final class LockManager: @unchecked Sendable {
    /// One range's lock table, its waiters and counters.
    private final class Partition {
        let mutex = NSLock()
        var table = LockTable()
        /// Transactions waiting on this table's keys, guarded by `mutex`.
        var parked: [TxnID: Parker] = [:]
        /// Deadlock and timeout counters for metrics (guarded by `mutex`).
        var deadlockCount = 0
        var timeoutCount = 0
    }

    private let partitions: [Partition]
    private let partitionOf: @Sendable ([UInt8]) -> Int

    private final class Parker {
        let cond = NSCondition()
        let key: [UInt8]
        /// The waiter's snapshot point, when a commit of its key after that point dooms it.
        let snapshot: UInt64?
        var granted = false  // guarded by `cond`
        var failure: KVError?  // guarded by `cond`
        /// The table was dropped (its lease moved): ask again (guarded by `cond`).
        var moved = false

        init(key: [UInt8], snapshot: UInt64?) {
            self.key = key
            self.snapshot = snapshot
        }
    }

    /// A lock manager with one table.
    public convenience init() {
        self.init(partitions: 1) { _ in 0 }
    }

    /// A lock manager with `partitions` tables (one per range); `partitionOf` maps a key to the
    /// index of its table, in `0..<partitions`.
    public init(partitions: Int, partitionOf: @escaping @Sendable ([UInt8]) -> Int) {
        precondition(partitions >= 1)
        self.partitions = (0..<partitions).map { _ in Partition() }
        self.partitionOf = partitionOf
    }

    /// Doomed waiters on one key are failed at once only from this many on: a short queue
    /// unwinds faster by granting and aborting in turn (measured with `apus bench txn`).
    static let doomQueueMin = 8

    /// Deadlocks detected so far.
    public var deadlocks: Int { partitions.reduce(0) { n, p in n + p.mutex.withLock { p.deadlockCount } } }
    /// Lock waits that timed out so far.
    public var timeouts: Int { partitions.reduce(0) { n, p in n + p.mutex.withLock { p.timeoutCount } } }

    private func partition(_ key: [UInt8]) -> Partition {
        partitions.count == 1 ? partitions[0] : partitions[partitionOf(key)]
    }

    /// Acquires `mode` on `key` for `txn`, waiting if it conflicts.
    /// - Parameters:
    ///   - timeout: seconds to wait at most (nil: wait until granted or deadlocked).
    ///   - nowait: fail with 55P03 instead of waiting.
    ///   - stop: polled every 50 ms while waiting; a non-nil error withdraws the request and is
    ///     thrown (a cancelled statement or its `statement_timeout`).
    ///   - snapshot: for a transaction that must fail if the key is committed after its snapshot
    ///     (REPEATABLE READ, SERIALIZABLE): its snapshot point, so that a holder committing the
    ///     key fails the wait at once (see `releaseAll(_:committed:at:)`) instead of granting a
    ///     lock whose owner can only abort.
    public func acquire(_ txn: TxnID, key: [UInt8], mode: LockMode, timeout: Double? = nil, nowait: Bool = false,
                        stop: (() -> KVError?)? = nil, snapshot: UInt64? = nil) throws(KVError) {
        let part = partition(key)
        part.mutex.lock()
        if part.table.tryAcquire(txn, key: key, mode: mode) {
            part.mutex.unlock()
            return
        }
        part.mutex.unlock()
        // A wait: every table, so that the cycle check sees the whole wait-for graph.
        for p in partitions { p.mutex.lock() }
        // The other tables' edges (not `part`'s own, which is being changed and asked directly).
        let elsewhere: ((TxnID) -> [TxnID])? = partitions.count == 1 ? nil : { [partitions] other in
            partitions.first { $0 !== part && $0.table.isWaiting(other) }?.table.waitsFor(other) ?? []
        }
        let decision = part.table.acquire(txn, key: key, mode: mode, elsewhere: elsewhere)
        for p in partitions where p !== part { p.mutex.unlock() }
        switch decision {
        case .granted:
            part.mutex.unlock()
            return
        case .deadlock(let other):
            part.deadlockCount += 1
            part.mutex.unlock()
            throw KVError(.deadlockDetected,
                          "deadlock detected: transaction \(txn) waits for transaction \(other), which waits for transaction \(txn)")
        case .queued:
            break
        }
        if nowait {
            wake(part, part.table.cancelWait(txn))
            part.mutex.unlock()
            throw KVError(.lockNotAvailable, "could not obtain lock on row")
        }
        let parker = Parker(key: key, snapshot: snapshot)
        part.parked[txn] = parker
        part.mutex.unlock()

        let deadline = timeout.map { Date(timeIntervalSinceNow: $0) }
        var failure: KVError?
        parker.cond.lock()
        while !parker.granted {
            if let doomed = parker.failure {
                parker.cond.unlock()
                throw doomed  // already withdrawn from the queue by the committer
            }
            if parker.moved {
                // The table went with its lease (`transfer`): ask the new one.
                parker.cond.unlock()
                let left = deadline.map { max($0.timeIntervalSinceNow, 0) }
                return try acquire(txn, key: key, mode: mode, timeout: left, nowait: nowait, stop: stop, snapshot: snapshot)
            }
            if let stop, let error = stop() {
                failure = error
                break
            }
            if let deadline, Date() >= deadline {
                failure = KVError(.lockNotAvailable, "canceling statement due to lock timeout")
                break
            }
            var wake = deadline
            if stop != nil { wake = min(wake ?? .distantFuture, Date(timeIntervalSinceNow: 0.05)) }
            if let wake { _ = parker.cond.wait(until: wake) } else { parker.cond.wait() }
        }
        parker.cond.unlock()

        part.mutex.lock()
        defer { part.mutex.unlock() }
        part.parked[txn] = nil
        // Granted while giving up: keep the lock (the caller holds it now).
        guard let failure, !part.table.holds(txn, key: key, mode: mode) else { return }
        if failure.code == .lockNotAvailable { part.timeoutCount += 1 }
        wake(part, part.table.cancelWait(txn))
        throw failure
    }

    /// Signals the transactions parked on `part` that its table just granted (caller holds its mutex).
    private func wake(_ part: Partition, _ granted: [TxnID]) {
        for id in granted {
            guard let p = part.parked[id] else { continue }
            p.cond.lock()
            p.granted = true
            p.cond.signal()
            p.cond.unlock()
        }
    }

    /// The number of keys locked or waited for (for tests and metrics).
    public var lockedKeyCount: Int {
        partitions.reduce(0) { n, p in n + p.mutex.withLock { p.table.lockedKeyCount } }
    }

    /// Whether `txn` holds `key` at least in `mode`.
    public func holds(_ txn: TxnID, key: [UInt8], mode: LockMode) -> Bool {
        let part = partition(key)
        return part.mutex.withLock { part.table.holds(txn, key: key, mode: mode) }
    }

    /// Releases all of `txn`'s locks and wakes the waiters that were granted.
    public func releaseAll(_ txn: TxnID) {
        for part in partitions {
            part.mutex.lock()
            wake(part, part.table.releaseAll(txn))
            part.mutex.unlock()
        }
    }

    /// Releases the locks of `txn`, which just committed `written` as commit number `commit`:
    /// waiters on those keys whose snapshot predates the commit fail at once with 40001 (they
    /// could only abort once granted), and the others are granted as usual. Without this, a
    /// queue of doomed waiters is granted and aborts one after the other, a context switch each.
    public func releaseAll(_ txn: TxnID, committed written: [[UInt8]], at commit: UInt64) {
        var writtenSet: Set<ByteKey>?
        for part in partitions {
            part.mutex.lock()
            var woken: [TxnID] = []
            var doomed: [ByteKey: [(TxnID, Parker)]] = [:]
            if !part.parked.isEmpty {
                if writtenSet == nil { writtenSet = Set(written.map(ByteKey.init)) }
                for (id, p) in part.parked where p.snapshot.map({ $0 < commit }) == true && writtenSet!.contains(ByteKey(p.key)) {
                    doomed[ByteKey(p.key), default: []].append((id, p))
                }
            }
            for (id, p) in doomed.values.filter({ $0.count >= LockManager.doomQueueMin }).joined() {
                woken += part.table.cancelWait(id)
                p.cond.lock()
                p.failure = KVError(.serializationFailure, "could not serialize access due to concurrent update")
                p.cond.signal()
                p.cond.unlock()
            }
            woken += part.table.releaseAll(txn)
            wake(part, woken.filter { part.parked[$0]?.failure == nil })
            part.mutex.unlock()
        }
    }

    /// Grants `mode` on `key` to `txn` if that needs no wait; otherwise changes nothing.
    public func tryAcquire(_ txn: TxnID, key: [UInt8], mode: LockMode) -> Bool {
        let part = partition(key)
        return part.mutex.withLock { part.table.tryAcquire(txn, key: key, mode: mode) }
    }

    /// Table `index`'s lease moved: its locks and queues are forgotten (the new holder rebuilds
    /// them from the intents writers meet, `handOver`), and its waiters ask again.
    public func transfer(partition index: Int) {
        let part = partitions[index]
        part.mutex.lock()
        part.table = LockTable()
        for p in part.parked.values {
            p.cond.lock()
            p.moved = true
            p.cond.signal()
            p.cond.unlock()
        }
        part.parked = [:]
        part.mutex.unlock()
    }

    /// `from` holds `key` exclusively but found there the intent of `to`, which still runs
    /// (the lock table forgot it, `transfer`): `to` holds the lock instead. `from` then
    /// queues behind it with `acquire`. No effect unless `from` holds the key.
    public func handOver(_ key: [UInt8], from: TxnID, to: TxnID) {
        let part = partition(key)
        part.mutex.lock()
        wake(part, part.table.handOver(key, from: from, to: to))
        part.mutex.unlock()
    }

    /// Whether `txn` is blocked in `acquire` (for tests that must know a waiter is queued).
    public func isWaiting(_ txn: TxnID) -> Bool {
        partitions.contains { p in p.mutex.withLock { p.table.isWaiting(txn) } }
    }
}
