import ApusCore

/// A transaction's identity in the lock table and the wait-for graph.
public typealias TxnID = UInt64

/// Lock strength: shared (`FOR SHARE`) or exclusive (writes, `FOR UPDATE`).
public enum LockMode: Sendable, Equatable {
    case shared
    case exclusive

    func conflicts(with other: LockMode) -> Bool { self == .exclusive || other == .exclusive }
}

/// The outcome of asking the lock table for a lock.
public enum LockDecision: Sendable, Equatable {
    /// The lock is held now.
    case granted
    /// The request waits in the key's FIFO queue behind `holders`.
    case queued(holders: [TxnID])
    /// Waiting would close a cycle in the wait-for graph; `victim` (the requester) must abort,
    /// and `other` is a transaction on the cycle to name in the 40P01 message.
    case deadlock(other: TxnID)
}

/// The deterministic core of the lock table: per-key holders and FIFO waiters, and the
/// wait-for graph derived from them.
///
/// Conflicting requests queue (no busy retry); a request that would close a cycle of waiters is
/// refused with `.deadlock`, so deadlocks are found at the moment they form, not by a timer.
/// Requests are granted in arrival order except that a compatible request with an empty queue is
/// granted at once. Concurrency: a non-`Sendable` value with one owner (`LockManager` wraps it
/// in a mutex); no clock, no randomness, no order-dependent dictionary iteration in its output.
public struct LockTable {
    struct Waiter: Equatable {
        var txn: TxnID
        var mode: LockMode
    }

    struct Entry {
        var holders = Holders()
        var queue: [Waiter] = []
    }

    /// A key's lock holders: almost always one (a writer), kept inline, so that locking a key
    /// allocates no dictionary; further sharers go to `rest`.
    struct Holders {
        private var one: TxnID = 0
        private var oneMode: LockMode = .shared
        private var hasOne = false
        private var rest: [TxnID: LockMode] = [:]

        subscript(txn: TxnID) -> LockMode? {
            get {
                if hasOne && one == txn { return oneMode }
                return rest.isEmpty ? nil : rest[txn]
            }
            set {
                if hasOne && one == txn {
                    if let m = newValue { oneMode = m } else { hasOne = false }
                } else if !rest.isEmpty && rest[txn] != nil {
                    rest[txn] = newValue
                } else if let m = newValue {
                    if hasOne {
                        rest[txn] = m
                    } else {
                        (one, oneMode, hasOne) = (txn, m, true)
                    }
                }
            }
        }

        var isEmpty: Bool { !hasOne && rest.isEmpty }

        /// Every holder and its mode (in no particular order).
        var all: [(txn: TxnID, mode: LockMode)] {
            var out: [(txn: TxnID, mode: LockMode)] = hasOne ? [(one, oneMode)] : []
            for (t, m) in rest { out.append((t, m)) }
            return out
        }
    }

    private var entries: [ByteKey: Entry] = [:]
    /// Keys each transaction holds or waits for, so release touches only those.
    private var keysOf: [TxnID: Set<ByteKey>] = [:]
    /// The key a transaction is queued on, if any (a transaction waits for at most one lock).
    private var waitingOn: [TxnID: ByteKey] = [:]

    public init() {}

    /// The number of keys with a holder or a waiter.
    public var lockedKeyCount: Int { entries.count }

    /// Requests `mode` on `key` for `txn`. Re-requesting a held lock (or a weaker one) is granted;
    /// upgrading shared to exclusive waits for the other sharers.
    ///
    /// `elsewhere`: when the wait-for graph spans several tables (one per range), what a
    /// transaction not waiting in this table waits for in the others (a transaction waits for
    /// one key, so in at most one table); the cycle check follows those edges too.
    public mutating func acquire(_ txn: TxnID, key bytes: [UInt8], mode: LockMode,
                                 elsewhere: ((TxnID) -> [TxnID])? = nil) -> LockDecision {
        if tryAcquire(txn, key: bytes, mode: mode) { return .granted }
        let key = ByteKey(bytes)
        var e = entries[key] ?? Entry()
        let blockers = blockingHolders(e, txn: txn, mode: mode)
        // The requester would wait for the blocking holders and for every queued waiter ahead of it.
        let waitsFor = blockers + e.queue.map(\.txn).filter { $0 != txn }
        for w in waitsFor {
            if w == txn { continue }
            if pathFrom(w, to: txn, elsewhere: elsewhere) != nil { return .deadlock(other: w) }
        }
        e.queue.append(Waiter(txn: txn, mode: mode))
        entries[key] = e
        keysOf[txn, default: []].insert(key)
        waitingOn[txn] = key
        return .queued(holders: blockers.sorted())
    }

    /// Grants `mode` on `key` to `txn` if that needs no wait (what `acquire` grants at once);
    /// otherwise changes nothing and returns false.
    public mutating func tryAcquire(_ txn: TxnID, key bytes: [UInt8], mode: LockMode) -> Bool {
        let key = ByteKey(bytes)
        var e = entries[key] ?? Entry()
        if let held = e.holders[txn], held == .exclusive || mode == .shared { return true }
        guard blockingHolders(e, txn: txn, mode: mode).isEmpty && (e.queue.isEmpty || e.holders[txn] != nil) else {
            return false
        }
        e.holders[txn] = mode
        entries[key] = e
        keysOf[txn, default: []].insert(key)
        return true
    }

    /// Whether `txn` holds `key` in a mode at least as strong as `mode`.
    public func holds(_ txn: TxnID, key: [UInt8], mode: LockMode) -> Bool {
        guard let held = entries[ByteKey(key)]?.holders[txn] else { return false }
        return held == .exclusive || mode == .shared
    }

    /// Withdraws `txn`'s queued request (timeout, cancel); returns transactions granted as a result.
    public mutating func cancelWait(_ txn: TxnID) -> [TxnID] {
        guard let key = waitingOn.removeValue(forKey: txn), var e = entries[key] else { return [] }
        e.queue.removeAll { $0.txn == txn }
        if e.holders[txn] == nil { keysOf[txn]?.remove(key) }
        entries[key] = e
        return grantWaiters(key)
    }

    /// Releases every lock and request of `txn` (commit or abort); returns the transactions
    /// whose queued requests were granted, in grant order.
    public mutating func releaseAll(_ txn: TxnID) -> [TxnID] {
        var woken: [TxnID] = []
        _ = waitingOn.removeValue(forKey: txn)
        // Keys without waiters are dropped in any order; those with waiters are granted in key
        // order, so that the wake-up order is deterministic (sorting every key of a large
        // transaction cost a tenth of its commit).
        var contended: [ByteKey] = []
        for key in keysOf.removeValue(forKey: txn) ?? [] {
            guard var e = entries[key] else { continue }
            e.holders[txn] = nil
            e.queue.removeAll { $0.txn == txn }
            if e.queue.isEmpty {
                entries[key] = e.holders.isEmpty ? nil : e
            } else {
                entries[key] = e
                contended.append(key)
            }
        }
        for key in contended.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
            woken += grantWaiters(key)
        }
        return woken
    }

    /// Makes `to` the exclusive holder of `key` in place of `from` (see
    /// `LockManager.handOver`); `to`'s own queued request on it is granted.
    /// - Returns: `to` when its queued request was granted, else nothing.
    public mutating func handOver(_ bytes: [UInt8], from: TxnID, to: TxnID) -> [TxnID] {
        let key = ByteKey(bytes)
        guard var e = entries[key], e.holders[from] != nil else { return [] }
        e.holders[from] = nil
        if waitingOn[from] != key { keysOf[from]?.remove(key) }
        e.holders[to] = .exclusive
        keysOf[to, default: []].insert(key)
        var granted: [TxnID] = []
        if waitingOn[to] == key {
            e.queue.removeAll { $0.txn == to }
            waitingOn[to] = nil
            granted.append(to)
        }
        entries[key] = e
        return granted
    }

    /// Whether `txn` is currently queued.
    public func isWaiting(_ txn: TxnID) -> Bool { waitingOn[txn] != nil }

    /// The transactions `txn` waits for (holders blocking it and waiters ahead of it), sorted.
    public func waitsFor(_ txn: TxnID) -> [TxnID] {
        guard let key = waitingOn[txn], let e = entries[key],
              let idx = e.queue.firstIndex(where: { $0.txn == txn }) else { return [] }
        let ahead = e.queue[..<idx].map(\.txn)
        return Array(Set(blockingHolders(e, txn: txn, mode: e.queue[idx].mode) + ahead)).sorted()
    }

    // MARK: - Internals

    private func blockingHolders(_ e: Entry, txn: TxnID, mode: LockMode) -> [TxnID] {
        if e.holders.isEmpty { return [] }
        return e.holders.all.filter { $0.txn != txn && $0.mode.conflicts(with: mode) }.map(\.txn).sorted()
    }

    /// A path of wait-for edges from `start` to `target`, depth-first in sorted order; nil if none.
    /// Edges of transactions waiting in other tables come from `elsewhere`.
    private func pathFrom(_ start: TxnID, to target: TxnID, elsewhere: ((TxnID) -> [TxnID])?) -> [TxnID]? {
        var visited: Set<TxnID> = []
        var stack: [(TxnID, [TxnID])] = [(start, [start])]
        while let (node, path) = stack.popLast() {
            if node == target { return path }
            if !visited.insert(node).inserted { continue }
            let edges = isWaiting(node) ? waitsFor(node) : (elsewhere?(node) ?? [])
            for next in edges.reversed() where !visited.contains(next) {
                stack.append((next, path + [next]))
            }
        }
        return nil
    }

    /// Grants queued requests on `key` from the front while they are compatible.
    private mutating func grantWaiters(_ key: ByteKey) -> [TxnID] {
        guard var e = entries[key] else { return [] }
        var granted: [TxnID] = []
        while let w = e.queue.first, blockingHolders(e, txn: w.txn, mode: w.mode).isEmpty {
            e.queue.removeFirst()
            e.holders[w.txn] = w.mode
            waitingOn[w.txn] = nil
            granted.append(w.txn)
        }
        if e.holders.isEmpty && e.queue.isEmpty {
            entries[key] = nil
        } else {
            entries[key] = e
        }
        return granted
    }
}
