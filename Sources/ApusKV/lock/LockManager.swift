import ApusCore
import Foundation

/// The concurrent shell around `LockTable`: a conflicting request blocks the calling thread on a
/// condition variable until the lock is granted (no busy retry), the wait would deadlock (40P01,
/// raised at once when the cycle forms, naming another transaction on it), or `timeout` passes
/// (55P03, PostgreSQL's `lock_timeout`). `nowait` refuses instead of waiting (`FOR UPDATE NOWAIT`).
///
/// Concurrency: `Sendable`. The table sits behind one mutex; each waiting transaction sleeps on a
/// condition of its own, signalled only when the table grants its request (no thundering herd:
/// a release wakes exactly the transactions it grants). Lock order: the mutex, then a waiter's
/// condition; a waiter holds only its own condition while it sleeps.
public final class LockManager: @unchecked Sendable {
    private let mutex = NSLock()
    private var table = LockTable()
    /// Waiting transactions' parking spots, guarded by `mutex`.
    private var parked: [TxnID: Parker] = [:]
    /// Deadlock and timeout counters for metrics (guarded by `mutex`).
    private var deadlockCount = 0
    private var timeoutCount = 0

    private final class Parker {
        let cond = NSCondition()
        let key: [UInt8]
        /// The waiter's snapshot point, when a commit of its key after that point dooms it.
        let snapshot: UInt64?
        var granted = false  // guarded by `cond`
        var failure: KVError?  // guarded by `cond`

        init(key: [UInt8], snapshot: UInt64?) {
            self.key = key
            self.snapshot = snapshot
        }
    }

    public init() {}

    /// Doomed waiters on one key are failed at once only from this many on: a short queue
    /// unwinds faster by granting and aborting in turn (measured with `apus bench txn`).
    static let doomQueueMin = 8

    /// Deadlocks detected so far.
    public var deadlocks: Int { mutex.withLock { deadlockCount } }
    /// Lock waits that timed out so far.
    public var timeouts: Int { mutex.withLock { timeoutCount } }

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
        mutex.lock()
        switch table.acquire(txn, key: key, mode: mode) {
        case .granted:
            mutex.unlock()
            return
        case .deadlock(let other):
            deadlockCount += 1
            mutex.unlock()
            throw KVError(.deadlockDetected,
                          "deadlock detected: transaction \(txn) waits for transaction \(other), which waits for transaction \(txn)")
        case .queued:
            break
        }
        if nowait {
            wake(table.cancelWait(txn))
            mutex.unlock()
            throw KVError(.lockNotAvailable, "could not obtain lock on row")
        }
        let parker = Parker(key: key, snapshot: snapshot)
        parked[txn] = parker
        mutex.unlock()

        let deadline = timeout.map { Date(timeIntervalSinceNow: $0) }
        var failure: KVError?
        parker.cond.lock()
        while !parker.granted {
            if let doomed = parker.failure {
                parker.cond.unlock()
                throw doomed  // already withdrawn from the queue by the committer
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

        mutex.lock()
        defer { mutex.unlock() }
        parked[txn] = nil
        // Granted while giving up: keep the lock (the caller holds it now).
        guard let failure, !table.holds(txn, key: key, mode: mode) else { return }
        if failure.code == .lockNotAvailable { timeoutCount += 1 }
        wake(table.cancelWait(txn))
        throw failure
    }

    /// Signals the parked transactions the table just granted (caller holds `mutex`).
    private func wake(_ granted: [TxnID]) {
        for id in granted {
            guard let p = parked[id] else { continue }
            p.cond.lock()
            p.granted = true
            p.cond.signal()
            p.cond.unlock()
        }
    }

    /// The number of keys locked or waited for (for tests and metrics).
    public var lockedKeyCount: Int {
        mutex.withLock { table.lockedKeyCount }
    }

    /// Whether `txn` holds `key` at least in `mode`.
    public func holds(_ txn: TxnID, key: [UInt8], mode: LockMode) -> Bool {
        mutex.withLock { table.holds(txn, key: key, mode: mode) }
    }

    /// Releases all of `txn`'s locks and wakes the waiters that were granted.
    public func releaseAll(_ txn: TxnID) {
        mutex.lock()
        wake(table.releaseAll(txn))
        mutex.unlock()
    }

    /// Releases the locks of `txn`, which just committed `written` as commit number `commit`:
    /// waiters on those keys whose snapshot predates the commit fail at once with 40001 (they
    /// could only abort once granted), and the others are granted as usual. Without this, a
    /// queue of doomed waiters is granted and aborts one after the other, a context switch each.
    public func releaseAll(_ txn: TxnID, committed written: [[UInt8]], at commit: UInt64) {
        mutex.lock()
        var woken: [TxnID] = []
        var doomed: [ByteKey: [(TxnID, Parker)]] = [:]
        if !parked.isEmpty {
            let writtenSet = Set(written.map(ByteKey.init))
            for (id, p) in parked where p.snapshot.map({ $0 < commit }) == true && writtenSet.contains(ByteKey(p.key)) {
                doomed[ByteKey(p.key), default: []].append((id, p))
            }
        }
        for (id, p) in doomed.values.filter({ $0.count >= LockManager.doomQueueMin }).joined() {
            woken += table.cancelWait(id)
            p.cond.lock()
            p.failure = KVError(.serializationFailure, "could not serialize access due to concurrent update")
            p.cond.signal()
            p.cond.unlock()
        }
        woken += table.releaseAll(txn)
        wake(woken.filter { parked[$0]?.failure == nil })
        mutex.unlock()
    }

    /// Whether `txn` is blocked in `acquire` (for tests that must know a waiter is queued).
    public func isWaiting(_ txn: TxnID) -> Bool {
        mutex.withLock { table.isWaiting(txn) }
    }
}
