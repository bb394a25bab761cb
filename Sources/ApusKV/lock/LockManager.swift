import ApusCore
import Foundation

/// The concurrent shell around `LockTable`: a conflicting request blocks the calling thread on a
/// condition variable until the lock is granted (no busy retry), the wait would deadlock (40P01,
/// raised at once when the cycle forms, naming another transaction on it), or `timeout` passes
/// (55P03, PostgreSQL's `lock_timeout`). `nowait` refuses instead of waiting (`FOR UPDATE NOWAIT`).
///
/// Concurrency: `Sendable`; all state sits behind one `NSCondition`, broadcast on every release.
public final class LockManager: @unchecked Sendable {
    private let cond = NSCondition()
    private var table = LockTable()
    /// Deadlock and timeout counters for metrics.
    public private(set) var deadlocks = 0
    public private(set) var timeouts = 0

    public init() {}

    /// Acquires `mode` on `key` for `txn`, waiting if it conflicts.
    /// - Parameters:
    ///   - timeout: seconds to wait at most (nil: wait until granted or deadlocked).
    ///   - nowait: fail with 55P03 instead of waiting.
    ///   - stop: polled every 50 ms while waiting; a non-nil error withdraws the request and is
    ///     thrown (a cancelled statement or its `statement_timeout`).
    public func acquire(_ txn: TxnID, key: [UInt8], mode: LockMode, timeout: Double? = nil, nowait: Bool = false,
                        stop: (() -> KVError?)? = nil) throws(KVError) {
        cond.lock()
        defer { cond.unlock() }
        switch table.acquire(txn, key: key, mode: mode) {
        case .granted:
            return
        case .deadlock(let other):
            deadlocks += 1
            throw KVError(.deadlockDetected,
                          "deadlock detected: transaction \(txn) waits for transaction \(other), which waits for transaction \(txn)")
        case .queued:
            break
        }
        if nowait {
            let woken = table.cancelWait(txn)
            if !woken.isEmpty { cond.broadcast() }
            throw KVError(.lockNotAvailable, "could not obtain lock on row")
        }
        let deadline = timeout.map { Date(timeIntervalSinceNow: $0) }
        while !table.holds(txn, key: key, mode: mode) {
            if let stop, let error = stop() {
                let woken = table.cancelWait(txn)
                if !woken.isEmpty { cond.broadcast() }
                throw error
            }
            if let deadline, Date() >= deadline {
                timeouts += 1
                let woken = table.cancelWait(txn)
                if !woken.isEmpty { cond.broadcast() }
                throw KVError(.lockNotAvailable, "canceling statement due to lock timeout")
            }
            var wake = deadline
            if stop != nil { wake = min(wake ?? .distantFuture, Date(timeIntervalSinceNow: 0.05)) }
            if let wake { _ = cond.wait(until: wake) } else { cond.wait() }
        }
    }

    /// The number of keys locked or waited for (for tests and metrics).
    public var lockedKeyCount: Int {
        cond.lock()
        defer { cond.unlock() }
        return table.lockedKeyCount
    }

    /// Whether `txn` holds `key` at least in `mode`.
    public func holds(_ txn: TxnID, key: [UInt8], mode: LockMode) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        return table.holds(txn, key: key, mode: mode)
    }

    /// Releases all of `txn`'s locks and wakes the waiters that were granted.
    public func releaseAll(_ txn: TxnID) {
        cond.lock()
        let woken = table.releaseAll(txn)
        if !woken.isEmpty { cond.broadcast() }
        cond.unlock()
    }

    /// Whether `txn` is blocked in `acquire` (for tests that must know a waiter is queued).
    public func isWaiting(_ txn: TxnID) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        return table.isWaiting(txn)
    }
}
