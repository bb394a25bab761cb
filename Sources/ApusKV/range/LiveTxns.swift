import ApusCore
import Foundation

/// The live transactions whose records a range holds, and how far they have been pushed: the
/// in-memory side of the records, where a reader that met a pending intent and the owner's
/// commit meet, one at a time.
///
/// A reader at `ts` that meets a pending intent pushes its owner (`push(_:above:)`): the owner
/// may then commit only above `ts`, so the reader skips the intent without waiting. The owner
/// decides its commit timestamp here (`decide(_:at:)`): refused while a push asks for a later
/// one (the owner refreshes its reads up to it and asks again), else fixed, after which pushes
/// wait until the commit is written (`finish(_:)`). A transaction not held here has finished or
/// its owner is gone: its durable record says which.
///
/// The states are a cache of the durable records, held by the range's current lease: a lease
/// moving to another node (`KVRange.transferLease`) starts from an empty set whose low-water
/// mark is above every push and decision the old one saw, so that no forgotten push is undone.
/// A transaction it does not hold is then judged by its record: pushes adopt a PENDING one
/// whose heartbeat is alive (`push(_:above:unknown:)`), and abort one whose heartbeat expired;
/// its owner's `decide` finds an ABORTED record and fails.
///
/// The SQL layer keeps its transactions here too (`MVCCLayer`), from the first write until the
/// intents are resolved, and reads the state without pushing (its readers read below every
/// commit timestamp in flight, and later ones are drawn above them); it never moves a lease.
///
/// Concurrency: `Sendable`; the states sit behind one condition per range.
public final class LiveTxns: @unchecked Sendable {
    private enum State {
        /// Not yet committing: it must commit above `minimum`.
        case pending(minimum: Timestamp)
        /// Committing at the timestamp, its record being written.
        case committing(Timestamp)
    }

    /// What the durable record says of a transaction not held here (`push`'s `unknown`).
    public enum Unknown: Equatable, Sendable {
        /// COMMITTED, ABORTED, or no record: the record decides its intents.
        case finished
        /// PENDING with a live heartbeat: its owner may be running (held from now on, pushed).
        case running
        /// PENDING with an expired heartbeat: the callee wrote its ABORTED record.
        case expired
    }

    /// What a push found.
    public enum PushOutcome: Equatable, Sendable {
        /// The transaction will commit above the pusher's timestamp (or never).
        case pushed
        /// Not live here: finished (perhaps just now, at or below the pusher's timestamp) or
        /// abandoned; its durable record decides.
        case gone
    }

    /// A live transaction's state, for a caller that decides visibility itself.
    public enum Status: Equatable, Sendable {
        /// Not yet committing: it must commit above `minimum`.
        case pending(minimum: Timestamp)
        /// Its commit timestamp is fixed (its record is being written or, for a caller that
        /// keeps it here until its intents are resolved, written).
        case committing(Timestamp)
    }

    private let cond = NSCondition()
    private var states: [TxnID: State] = [:]
    /// The gateway running each live transaction that named one, and its record's key.
    private var owners: [TxnID: (gateway: Int, record: [UInt8])] = [:]
    /// Transactions aborted because their gateway failed, until their owner finishes them.
    private var aborted: Set<TxnID> = []
    /// Transactions held because a push found their record PENDING (not registered by their
    /// owner here): their records' heartbeats keep deciding whether they are alive.
    private var adopted: Set<TxnID> = []
    /// Every transaction commits above this: pushes and decisions a previous lease saw.
    public let lowWater: Timestamp
    /// The newest timestamp pushed or decided here (at least `lowWater`).
    private var newest: Timestamp

    /// An empty set; every commit decided here lands above `lowWater`.
    public init(lowWater: Timestamp = .zero) {
        self.lowWater = lowWater
        self.newest = lowWater
    }

    /// The newest timestamp pushed or decided here: where a set taking this one's place starts.
    public var highWater: Timestamp {
        cond.lock()
        defer { cond.unlock() }
        return newest
    }

    /// Registers `txn` as live and pending, before its first intent is laid; `gateway` (with
    /// the record's key) names the gateway running it, whose failure aborts it.
    public func begin(_ txn: TxnID, gateway: (id: Int, record: [UInt8])? = nil) {
        cond.lock()
        if states[txn] == nil { states[txn] = .pending(minimum: .zero) }
        if let gateway { owners[txn] = (gateway.id, gateway.record) }
        cond.unlock()
    }

    /// Aborts the pending transactions that gateway `id` runs (it failed): they leave the live
    /// set, so readers decide their intents by their records, and their commits are refused.
    /// Transactions already committing finish.
    /// - Returns: the aborted transactions and their records' keys.
    public func abandon(gateway id: Int) -> [(txn: TxnID, record: [UInt8])] {
        cond.lock()
        defer { cond.unlock() }
        var out: [(txn: TxnID, record: [UInt8])] = []
        for (txn, owner) in owners where owner.gateway == id {
            guard case .pending? = states[txn] else { continue }
            states[txn] = nil
            owners[txn] = nil
            aborted.insert(txn)
            out.append((txn, owner.record))
        }
        cond.broadcast()
        return out
    }

    /// Pushes `txn` to commit above `ts`. A transaction committing at or below `ts` is waited
    /// for (its record is being written): the pusher then reads the record. One not held here
    /// is judged by `unknown` (its record), under the lock: a running one is held from now on,
    /// pushed.
    public func push(_ txn: TxnID, above ts: Timestamp,
                     unknown: () throws(KVError) -> Unknown = { () throws(KVError) in .finished }) throws(KVError) -> PushOutcome {
        cond.lock()
        defer { cond.unlock() }
        newest = max(newest, ts)
        while true {
            switch states[txn] {
            case nil:
                if aborted.contains(txn) { return .gone }
                guard try unknown() == .running else { return .gone }
                states[txn] = .pending(minimum: ts.next)
                adopted.insert(txn)
                return .pushed
            case .pending(let minimum):
                if adopted.contains(txn), try unknown() != .running {
                    states[txn] = nil
                    adopted.remove(txn)
                    cond.broadcast()
                    return .gone
                }
                if minimum <= ts { states[txn] = .pending(minimum: ts.next) }
                return .pushed
            case .committing(let at):
                if at > ts { return .pushed }
                // At or below the pusher: wait for the record, then the value counts.
                cond.wait()
            }
        }
    }

    /// Fixes `txn`'s commit timestamp at `ts`, unless a push (or the low-water mark) asks for a
    /// later one. A transaction not held here (its lease moved since it began) is looked up in
    /// its durable `record` first.
    /// - Returns: nil when fixed (the caller writes the record, then calls `finish`); else the
    ///   timestamp the transaction must commit at or above.
    /// - Throws: 40001 when the transaction was aborted (its gateway failed, or its heartbeat
    ///   expired and a pusher aborted it).
    public func decide(_ txn: TxnID, at ts: Timestamp,
                       record: () throws(KVError) -> TxnRecord? = { () throws(KVError) in nil }) throws(KVError) -> Timestamp? {
        cond.lock()
        defer { cond.unlock() }
        if aborted.contains(txn) {
            throw KVError(.serializationFailure, "the transaction was aborted: its gateway failed")
        }
        if states[txn] == nil, try record()?.status == .aborted {
            throw KVError(.serializationFailure, "the transaction was aborted: its heartbeat expired")
        }
        if ts <= lowWater { return lowWater.next }
        if case .pending(let minimum) = states[txn], minimum > ts { return minimum }
        states[txn] = .committing(ts)
        newest = max(newest, ts)
        return nil
    }

    /// Fixes `txn`'s commit timestamp at `ts` without asking the pushes: for a coordinator
    /// whose commits already land above every read of a key they wrote (the SQL layer's
    /// `TxnCoordinator`: one clock, and readers read below every commit timestamp in flight).
    public func fix(_ txn: TxnID, at ts: Timestamp) {
        cond.lock()
        states[txn] = .committing(ts)
        cond.unlock()
    }

    /// `txn`'s commit did not happen (its record's write failed): pending again.
    public func undecide(_ txn: TxnID) {
        cond.lock()
        if states[txn] != nil { states[txn] = .pending(minimum: .zero) }
        cond.broadcast()
        cond.unlock()
    }

    /// `txn`'s state, nil when it is not live here.
    public func status(_ txn: TxnID) -> Status? {
        cond.lock()
        defer { cond.unlock() }
        switch states[txn] {
        case nil: return nil
        case .pending(let minimum): return .pending(minimum: minimum)
        case .committing(let ts): return .committing(ts)
        }
    }

    /// The timestamp `txn` has been pushed to commit at or above (zero: never pushed, and no
    /// earlier lease to stay above).
    public func minimum(_ txn: TxnID) -> Timestamp {
        cond.lock()
        defer { cond.unlock() }
        let floor = lowWater.isZero ? Timestamp.zero : lowWater.next
        if case .pending(let minimum) = states[txn] { return max(minimum, floor) }
        return floor
    }

    /// `txn` finished (its record says how, and its intents are resolved or being resolved
    /// from it); waiting pushers go on.
    public func finish(_ txn: TxnID) {
        cond.lock()
        states[txn] = nil
        owners[txn] = nil
        aborted.remove(txn)
        adopted.remove(txn)
        cond.broadcast()
        cond.unlock()
    }

    /// Runs `body` under the set's lock, so that no push judges a record meanwhile (a record
    /// written in `body` and one read by `push`'s `unknown` do not interleave). `body` must not
    /// call back into the set.
    public func locked<T>(_ body: () throws(KVError) -> T) throws(KVError) -> T {
        cond.lock()
        defer { cond.unlock() }
        return try body()
    }

    /// The transactions held (for tests).
    public var count: Int {
        cond.lock()
        defer { cond.unlock() }
        return states.count
    }
}
