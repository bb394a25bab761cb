import ApusCore
import ApusStorage
import Foundation
import Synchronization

/// Isolation levels, with PostgreSQL's names and guarantees.
public enum IsolationLevel: String, Sendable {
    case readCommitted = "read committed"
    case repeatableRead = "repeatable read"
    case serializable = "serializable"
}

/// The transaction coordinator on one engine (one range for now): hands out HLC timestamps,
/// owns the lock table and serializes the commit step.
///
/// Commit protocol: under `commitLock`, a transaction takes its commit timestamp from the clock,
/// validates (SERIALIZABLE: no version committed in (readTS, commitTS] on anything it read), then
/// writes its record COMMITTED together with the resolution of all its intents in one synced
/// batch. Because commit timestamps are taken under the lock from a monotonic clock, every
/// transaction that has not committed yet will commit above every read timestamp already issued,
/// so readers skip foreign pending intents without waiting.
public final class TxnDB: @unchecked Sendable {
    public let store: MVCCStore
    public let locks = LockManager()
    private let clock = Mutex(HybridLogicalClock())
    private let nextID = Mutex<TxnID>(1)
    let commitLock = NSLock()

    public init(engine: StorageEngine) {
        self.store = MVCCStore(engine: engine)
        nextID.withLock { $0 = UInt64(Date().timeIntervalSince1970 * 1_000_000) }
    }

    /// A read timestamp: taken under the commit lock, so every commit at or below it is fully applied.
    func readTimestamp() -> Timestamp {
        commitLock.lock()
        defer { commitLock.unlock() }
        return now()
    }

    func now() -> Timestamp {
        let phys = SystemClock().nowNanos()
        return clock.withLock { $0.now(physicalNanos: phys) }
    }

    func newID() -> TxnID { nextID.withLock { $0 += 1; return $0 } }

    /// Begins a transaction.
    public func begin(_ isolation: IsolationLevel = .serializable, lockTimeout: Double? = nil) -> KVTxn {
        KVTxn(db: self, id: newID(), isolation: isolation, readTS: readTimestamp(), lockTimeout: lockTimeout)
    }
}

/// One transaction: reads at its read timestamp, writes intents under exclusive locks.
public final class KVTxn {
    let db: TxnDB
    public let id: TxnID
    public let isolation: IsolationLevel
    public private(set) var readTS: Timestamp
    let lockTimeout: Double?
    private var reads: [[UInt8]] = []
    private var scans: [(lower: [UInt8], upper: [UInt8])] = []
    private var written: [[UInt8]] = []
    private var finished = false

    init(db: TxnDB, id: TxnID, isolation: IsolationLevel, readTS: Timestamp, lockTimeout: Double?) {
        self.db = db
        self.id = id
        self.isolation = isolation
        self.readTS = readTS
        self.lockTimeout = lockTimeout
    }

    /// READ COMMITTED: each statement reads from a fresh snapshot.
    public func beginStatement() {
        if isolation == .readCommitted { readTS = db.readTimestamp() }
    }

    public func get(_ key: [UInt8]) throws(KVError) -> [UInt8]? {
        if isolation == .serializable { reads.append(key) }
        switch try db.store.get(key, readTS: readTS, txn: id, reportIntents: false) {
        case .value(let v): return v
        case .intent: return nil  // not reported with reportIntents false
        }
    }

    /// The visible pairs in `[lower, upper)`; under SERIALIZABLE the span is validated at commit
    /// (any version committed into it after the snapshot fails the commit: no phantoms).
    public func scan(lower: [UInt8], upper: [UInt8]) throws(KVError) -> [(key: [UInt8], value: [UInt8])] {
        if isolation == .serializable { scans.append((lower, upper)) }
        return try db.store.scan(lower: lower, upper: upper, readTS: readTS, txn: id).rows
    }

    /// Writes (or deletes, `value == nil`) `key`: takes the key's exclusive lock (queueing behind
    /// other writers), then fails with 40001 if a version newer than the snapshot was committed
    /// (first committer wins; not under READ COMMITTED).
    public func put(_ key: [UInt8], _ value: [UInt8]?) throws(KVError) {
        try db.locks.acquire(id, key: key, mode: .exclusive, timeout: lockTimeout)
        if isolation != .readCommitted, let latest = try db.store.latestVersion(key), latest > readTS {
            throw KVError(.serializationFailure, "could not serialize access due to concurrent update")
        }
        var b = WriteBatch()
        if written.isEmpty { MVCCStore.putRecord(&b, txn: id, status: .pending, ts: readTS) }
        MVCCStore.putIntent(&b, key: key, txn: id, ts: readTS, value: value)
        do { try db.store.engine.write(b, sync: false) } catch { throw MVCCStore.storageError(error) }
        written.append(key)
    }

    /// Commits; SERIALIZABLE validates its reads at the commit timestamp first (40001 if any
    /// changed). Durable when it returns.
    public func commit() throws(KVError) {
        guard !finished else { return }
        if try !commitValidated() {
            rollback()
            throw KVError(.serializationFailure, "could not serialize access due to read/write dependencies among transactions")
        }
        db.locks.releaseAll(id)
    }

    /// Validates and commits under the commit lock; false if validation failed (nothing written).
    private func commitValidated() throws(KVError) -> Bool {
        db.commitLock.lock()
        defer { db.commitLock.unlock() }
        let commitTS = db.now()
        if isolation == .serializable {
            for key in reads where !written.contains(key) {
                if let latest = try db.store.latestVersion(key), latest > readTS { return false }
            }
            for span in scans where try db.store.scan(lower: span.lower, upper: span.upper, readTS: readTS, txn: id).newerExists {
                return false
            }
        }
        finished = true
        if written.isEmpty { return true }
        var b = WriteBatch()
        MVCCStore.putRecord(&b, txn: id, status: .committed, ts: commitTS)
        for key in written { try db.store.resolveIntent(&b, key: key, txn: id, commitTS: commitTS) }
        do { try db.store.engine.write(b, sync: true) } catch { throw MVCCStore.storageError(error) }
        return true
    }

    /// Aborts: removes the intents and releases the locks.
    public func rollback() {
        guard !finished else { return }
        finished = true
        var b = WriteBatch()
        MVCCStore.putRecord(&b, txn: id, status: .aborted, ts: readTS)
        for key in written { try? db.store.resolveIntent(&b, key: key, txn: id, commitTS: nil) }
        try? db.store.engine.write(b, sync: false)
        db.locks.releaseAll(id)
    }
}
