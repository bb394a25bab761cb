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

/// A node's clock, through which its transactions take their timestamps: a hybrid logical
/// clock over the system clock, shifted by `offsetNanos` (tests give gateways skewed clocks, as
/// the nodes of a cluster have).
///
/// Concurrency: `Sendable`; the clock sits behind a mutex.
public final class TxnGateway: Sendable {
    /// The gateway's identity (unique in the process).
    public let id: Int
    private static let ids = Mutex(0)
    /// Whether the gateway failed (`TxnDB.gatewayFailed`): its transactions were aborted.
    private let failedFlag = Mutex(false)
    public var failed: Bool { failedFlag.withLock { $0 } }
    func fail() { failedFlag.withLock { $0 = true } }
    public let offsetNanos: Int64
    /// The most any two gateways' clocks may differ by (the cluster's setting; 0 when one
    /// gateway runs every transaction): a transaction treats a value committed up to this far
    /// above its read timestamp as possibly committed before it began, and moves its read
    /// timestamp up to it (or restarts with 40001 when what it read has changed since).
    public let maxOffsetNanos: Int64
    private let clock = Mutex(HybridLogicalClock())
    /// The physical time the clock follows (simulations drive their own).
    private let physical: any PhysicalClock

    /// A bound on clock differences for gateways of a cluster: 500 ms.
    public static let clusterMaxOffsetNanos: Int64 = 500_000_000

    public init(offsetNanos: Int64 = 0, maxOffsetNanos: Int64 = 0, physical: any PhysicalClock = SystemClock()) {
        self.id = TxnGateway.ids.withLock { $0 += 1; return $0 }
        self.offsetNanos = offsetNanos
        self.maxOffsetNanos = maxOffsetNanos
        self.physical = physical
    }

    public func now() -> Timestamp {
        let phys = UInt64(max(Int64(clamping: physical.nowNanos()) + offsetNanos, 1))
        return clock.withLock { $0.now(physicalNanos: phys) }
    }

    /// The gateway's physical time (ns), without the clock's lock: what heartbeats carry.
    public func wallNanos() -> Int64 { Int64(clamping: physical.nowNanos()) &+ offsetNanos }

    /// Folds in a timestamp the gateway's transactions saw (a commit pushed past its clock), so
    /// that its later transactions read above it.
    public func observe(_ ts: Timestamp) { clock.withLock { $0.update(ts) } }
}

/// Transactions over ranges, without a commit order of any one node: each range holds what its
/// keys need (a timestamp cache of reads, a lock table, the live transactions whose records it
/// holds), so that gateways with their own clocks can run transactions over the same ranges.
///
/// The protocol (CockroachDB's, see docs/ARCHITECTURE.md, "Transactions without a node's
/// commit order"):
/// - A transaction reads at its read timestamp, taken from its gateway's clock. Each read is
///   noted in its range's timestamp cache first. A foreign intent at or below the read
///   timestamp is resolved through its owner's record range: a pending owner is pushed to
///   commit above the read and skipped, an owner committing at or below it is waited for.
/// - A write takes the key's exclusive lock (queueing behind other writers), fails with 40001
///   when a version newer than the snapshot exists (not under READ COMMITTED), and lays its
///   intent above every other transaction's read of the key (`TimestampCache.write`). The
///   transaction's write timestamp is the highest so far.
/// - Commit: the commit timestamp is the write timestamp, or higher when a reader pushed the
///   transaction. SERIALIZABLE transactions whose commit timestamp is above their read
///   timestamp refresh their reads: nothing they read may have changed in between (keys and
///   scanned spans; a foreign intent there is pushed above, or failed on when committed inside).
///   The commit timestamp is fixed in the record range's `LiveTxns` (refused while a push asks
///   for more), the COMMITTED record written durably, then the intents are resolved range by
///   range.
/// Every commit is therefore at a timestamp where all its reads still hold and above every read
/// that did not see it: the history is serializable in commit-timestamp order.
public final class TxnDB: @unchecked Sendable {
    public let store: MVCCStore
    public let router: RangeRouter
    /// One lock table per range.
    public let locks: LockManager
    /// The gateway `begin` uses unless given another.
    public let gateway = TxnGateway()
    private let nextID = Mutex<TxnID>(1)
    /// The first transaction id of this process: a lower one ran in an earlier process, whose
    /// gateways (all in-process for now) are gone with it.
    let firstID: TxnID
    /// How long a PENDING record's heartbeat keeps a transaction that a range's lease holder
    /// does not know alive (nanoseconds; a running transaction renews it at half that).
    public let heartbeatTimeoutNanos: Int64
    /// The default heartbeat timeout: 10 s.
    public static let defaultHeartbeatTimeoutNanos: Int64 = 10_000_000_000

    /// Transactions over `engine`, split into ranges at `splitPoints` (none: one range).
    public init(engine: StorageEngine, splitPoints: [[UInt8]] = [],
                heartbeatTimeoutNanos: Int64 = TxnDB.defaultHeartbeatTimeoutNanos) {
        self.store = MVCCStore(engine: engine)
        let router = RangeRouter(engine: engine, splitPoints: splitPoints)
        self.router = router
        self.heartbeatTimeoutNanos = heartbeatTimeoutNanos
        locks = LockManager(partitions: router.all.count) { router.range(for: $0).id - 1 }
        let first = UInt64(Date().timeIntervalSince1970 * 1_000_000)
        firstID = first + 1
        nextID.withLock { $0 = first }
    }

    func newID() -> TxnID { nextID.withLock { $0 += 1; return $0 } }

    /// Begins a transaction on `gateway` (nil: the default one).
    public func begin(_ isolation: IsolationLevel = .serializable, lockTimeout: Double? = nil,
                      gateway: TxnGateway? = nil) -> KVTxn {
        let g = gateway ?? self.gateway
        return KVTxn(db: self, gateway: g, id: newID(), isolation: isolation, lockTimeout: lockTimeout)
    }

    /// Gateway `gateway` failed (its node is gone, as the cluster's liveness decides): its
    /// pending transactions are aborted on every range holding their records (ABORTED records,
    /// their locks released), so that writers waiting for their keys go on; their intents are
    /// invisible from then on and overwritten by the next writers. Its transactions that use it
    /// later fail with 40001.
    /// - Returns: how many transactions were aborted.
    @discardableResult
    public func gatewayFailed(_ gateway: TxnGateway) -> Int {
        gateway.fail()
        var n = 0
        for range in router.all {
            for (txn, record) in range.live.abandon(gateway: gateway.id) {
                var b = WriteBatch()
                KVRange.putRecord(&b, at: record, TxnRecord(status: .aborted, timestamp: .zero, heartbeat: SystemClock.wallNanos()))
                try? range.write(b, sync: false)
                locks.releaseAll(txn)
                n += 1
            }
        }
        return n
    }

    /// `range`'s lease moves to another holder (see `KVRange.transferLease`): its timestamp
    /// cache, live transactions and lock table start empty above everything the old holder
    /// saw. The caller stops the range's requests first (tests: between operations).
    public func transferLease(_ range: KVRange) {
        range.transferLease()
        locks.transfer(partition: range.id - 1)
    }

    /// Pushes the writers a read at `ts` found in flight (`TimestampCache.noteRead`) to commit
    /// above it, or waits for those committing at or below it, before the read takes its snapshot.
    func push(_ writers: [TimestampCache.Writer], above ts: Timestamp, gateway: TxnGateway) throws(KVError) {
        for w in writers {
            let range = router.range(for: w.record)
            _ = try range.live.push(w.txn, above: ts) { () throws(KVError) in try judge(w.txn, record: w.record, range, gateway) }
        }
    }

    /// What a transaction's record says of it when its range's lease holder does not hold it
    /// live: PENDING with a heartbeat renewed within the timeout (plus the gateway's clock
    /// offset), from this process, is running; PENDING and expired is aborted here (its record
    /// becomes ABORTED); anything else is finished.
    func judge(_ txn: TxnID, record key: [UInt8], _ range: KVRange, _ gateway: TxnGateway) throws(KVError) -> LiveTxns.Unknown {
        guard let record = try range.record(at: key), record.status == .pending || record.status == .staging else { return .finished }
        let age = gateway.wallNanos() - record.heartbeat
        if txn >= firstID && age <= heartbeatTimeoutNanos + gateway.maxOffsetNanos { return .running }
        var b = WriteBatch()
        KVRange.putRecord(&b, at: key, TxnRecord(status: .aborted, timestamp: record.timestamp, heartbeat: record.heartbeat))
        try range.write(b, sync: false)
        return .expired
    }

    /// Where the owner of a foreign intent stands for a transaction at `ts` on `gateway`.
    enum Owner: Equatable {
        /// Pending (pushed above `ts`): its intent is invisible, and it holds its key's lock.
        case running
        /// Its record is COMMITTED at the timestamp.
        case committed(Timestamp)
        /// Aborted or abandoned: the intent is nobody's.
        case finished
        /// No record: the owner finished and resolved its intents since this one was read (a
        /// record goes last), so the key must be read again.
        case vanished
    }

    /// Pushes the owner of `intent` above `ts`; an owner committing at or below `ts` is waited
    /// for first, then its durable record decides.
    func owner(of intent: Intent, above ts: Timestamp, gateway: TxnGateway) throws(KVError) -> Owner {
        let recordKey = intent.recordKey
        let range = router.range(for: recordKey)
        let pushed = try range.live.push(intent.txn, above: ts) { () throws(KVError) in try judge(intent.txn, record: recordKey, range, gateway) }
        if pushed == .pushed { return .running }
        guard let record = try range.record(at: recordKey) else { return .vanished }
        return record.status == .committed ? .committed(record.timestamp) : .finished
    }

    /// How often one read looks at a key again after its intent's record vanished (more would
    /// mean an intent without a record, which is then taken as nobody's).
    static let rereadLimit = 16

    /// Test hook: called when a read, a refresh or a write meets another transaction's intent,
    /// before it asks about the owner (tests finish the owner there).
    var intentMetForTesting: ((Intent) -> Void)?

    /// What a lock wait's `stop` returns when the holder turned out to be gone (`KVTxn.lock`,
    /// which names the holder beside it and asks again).
    static let holderGone = KVError(.lockNotAvailable, "the lock holder is gone")
}

/// One transaction: reads at its read timestamp, writes intents under exclusive locks.
public final class KVTxn {
    let db: TxnDB
    let gateway: TxnGateway
    public let id: TxnID
    public let isolation: IsolationLevel
    public private(set) var readTS: Timestamp
    /// At or above the read timestamp and every intent's timestamp: where the transaction
    /// commits unless pushed.
    public private(set) var writeTS: Timestamp
    /// A value committed in `(readTS, uncertaintyLimit]` may have been committed before the
    /// transaction (READ COMMITTED: the statement) began, on a gateway whose clock is ahead:
    /// meeting one moves the read timestamp up to it.
    public private(set) var uncertaintyLimit: Timestamp
    /// Where the transaction committed, once it has (nil for a read-only one).
    public private(set) var commitTS: Timestamp?
    let lockTimeout: Double?
    /// What the transaction read (READ COMMITTED: the statement), for refreshes.
    private var reads: [[UInt8]] = []
    private var scans: [(lower: [UInt8], upper: [UInt8])] = []
    private var written: [[UInt8]] = []
    private var writtenSet: Set<ByteKey> = []
    /// The values written (nil: a deletion), so that resolution reads nothing back; dropped
    /// once over `valuesBytesMax`.
    private var values: [ByteKey: [UInt8]?]? = [:]
    private var valuesBytes = 0
    static let valuesBytesMax = 1 << 20
    /// Whether every write is on the record's range (the commit then writes the record and the
    /// versions in one batch).
    private var oneRange = true
    /// The first written key: its range holds the record.
    private var anchor: [UInt8]?
    private var finished = false
    /// The heartbeat last written into the record (the gateway's clock, ns).
    private var heartbeatWall: Int64 = 0

    init(db: TxnDB, gateway: TxnGateway, id: TxnID, isolation: IsolationLevel, lockTimeout: Double?) {
        self.db = db
        self.gateway = gateway
        self.id = id
        self.isolation = isolation
        let now = gateway.now()
        self.readTS = now
        self.writeTS = now
        self.uncertaintyLimit = KVTxn.limit(now, gateway)
        self.lockTimeout = lockTimeout
    }

    private static func limit(_ ts: Timestamp, _ gateway: TxnGateway) -> Timestamp {
        Timestamp(wallNanos: ts.wallNanos &+ UInt64(max(gateway.maxOffsetNanos, 0)), logical: ts.logical)
    }

    /// A transaction dropped unfinished rolls back (its locks and live state would otherwise
    /// stay until the process ends).
    deinit { rollback() }

    /// READ COMMITTED: each statement reads from a fresh snapshot.
    public func beginStatement() {
        guard isolation == .readCommitted else { return }
        readTS = max(readTS, gateway.now())
        uncertaintyLimit = max(uncertaintyLimit, KVTxn.limit(readTS, gateway))
        reads = []
        scans = []
    }

    public func get(_ key: [UInt8]) throws(KVError) -> [UInt8]? {
        try heartbeatIfDue()
        let range = db.router.range(for: key)
        while true {
            try db.push(range.reads.noteRead(key, at: readTS, txn: id), above: readTS, gateway: gateway)
            var value: [UInt8]?
            if let uncertain = try read(range, lower: key, upper: key + [0], { _, v in value = v }) {
                try moveReadTimestamp(to: uncertain)
                continue
            }
            reads.append(key)
            return value
        }
    }

    /// Calls `body` with each key in `[lower, upper)` of `range` visible at the read timestamp
    /// and its value, in key order.
    /// - Returns: the newest timestamp in `(readTS, uncertaintyLimit]` at which another
    ///   transaction committed a key of the span (the read must move up to it and start over),
    ///   or nil.
    private func read(_ range: KVRange, lower: [UInt8], upper: [UInt8],
                      _ body: ([UInt8], [UInt8]) -> Void) throws(KVError) -> Timestamp? {
        var uncertain: Timestamp?
        let entries = try Entries(range, lower, upper)
        var current: [UInt8]?
        var decided = false
        var skipped = 0
        var rereads = 0
        while let (k, ts, stored) = entries.current {
            if k != current {
                current = k
                decided = false
                skipped = 0
            } else if decided {
                // The key's older versions: a few steps, then a seek past them (a hot key
                // keeps many versions within the GC window).
                skipped += 1
                if skipped > 4 { try entries.skip(past: k) } else { try entries.next() }
                continue
            }
            if ts.isZero {
                // Intents above the limit commit above it too: never seen, never pushed.
                if let intent = KVRange.decodeIntent(stored), intent.timestamp <= uncertaintyLimit || intent.txn == id {
                    if intent.txn == id {
                        decided = true
                        if let v = intent.value { body(k, v) }
                    } else {
                        db.intentMetForTesting?(intent)
                        switch try db.owner(of: intent, above: readTS, gateway: gateway) {
                        case .committed(let c) where c <= readTS:
                            decided = true
                            if let v = intent.value { body(k, v) }
                        case .committed(let c) where c <= uncertaintyLimit:
                            uncertain = max(uncertain ?? c, c)
                        case .vanished where rereads < TxnDB.rereadLimit:
                            rereads += 1
                            try entries.restart(at: k)
                            current = nil
                            continue
                        default:
                            break
                        }
                    }
                }
            } else if ts <= readTS {
                decided = true
                if let v = KVRange.versionValue(stored) { body(k, v) }
            } else if ts <= uncertaintyLimit {
                uncertain = max(uncertain ?? ts, ts)
            }
            try entries.next()
        }
        return uncertain
    }

    /// Moves the read timestamp up to `ts`, where a value within the uncertainty interval was
    /// committed: everything read so far must still hold there (40001 otherwise).
    private func moveReadTimestamp(to ts: Timestamp) throws(KVError) {
        guard try refresh(from: readTS, to: ts) else {
            throw KVError(.serializationFailure,
                          "could not serialize access: a value committed within the clock uncertainty interval changed what the transaction read")
        }
        readTS = ts
        writeTS = max(writeTS, ts)
        gateway.observe(ts)
    }

    /// The visible pairs in `[lower, upper)`; under SERIALIZABLE the span is refreshed at commit
    /// (any version committed into it after the snapshot fails the commit: no phantoms).
    public func scan(lower: [UInt8], upper: [UInt8]) throws(KVError) -> [(key: [UInt8], value: [UInt8])] {
        try heartbeatIfDue()
        while true {
            var rows: [(key: [UInt8], value: [UInt8])] = []
            var uncertain: Timestamp?
            for piece in db.router.ranges(lower: lower, upper: upper) {
                try db.push(piece.range.reads.noteRead(lower: piece.lower, upper: piece.upper, at: readTS, txn: id), above: readTS, gateway: gateway)
                if let u = try read(piece.range, lower: piece.lower, upper: piece.upper, { rows.append(($0, $1)) }) {
                    uncertain = max(uncertain ?? u, u)
                }
            }
            if let uncertain {
                try moveReadTimestamp(to: uncertain)
                continue
            }
            scans.append((lower, upper))
            return rows
        }
    }

    /// Writes (or deletes, `value == nil`) `key`: takes the key's exclusive lock (queueing behind
    /// other writers), then fails with 40001 if a version newer than the snapshot was committed
    /// (first committer wins; not under READ COMMITTED); the intent lands above every other
    /// transaction's read of the key and above its newest version.
    public func put(_ key: [UInt8], _ value: [UInt8]?) throws(KVError) {
        try checkGateway()
        try heartbeatIfDue()
        let range = db.router.range(for: key)
        try lock(key, in: range)
        var latest: Timestamp?
        // Another transaction's intent under this lock: one that committed (its record
        // written, its intents not yet resolved when the process stopped) is resolved into a
        // version with this write; an abandoned or aborted one is overwritten. One whose owner
        // still runs is there because the lock table forgot it (the range's lease moved): the
        // owner gets the lock back and this transaction queues behind it.
        var committed: (ts: Timestamp, value: [UInt8]?)?
        var rereads = 0
        while true {
            let (foreign, newest) = try KVTxn.newest(range, key)
            latest = newest
            guard let intent = foreign, intent.txn != id else { break }
            db.intentMetForTesting?(intent)
            let owner = try db.owner(of: intent, above: readTS, gateway: gateway)
            if case .committed(let c) = owner {
                committed = (c, intent.value)
                latest = max(latest ?? c, c)
            }
            if owner == .vanished && rereads < TxnDB.rereadLimit {
                rereads += 1
                continue
            }
            guard owner == .running else { break }
            try waitFor(intent, key: key, in: range)
        }
        if isolation != .readCommitted, let latest, latest > readTS {
            throw KVError(.serializationFailure, "could not serialize access due to concurrent update")
        }
        writeTS = max(writeTS, readTS)
        if let latest, latest >= writeTS { writeTS = latest.next }
        let first = anchor == nil
        if first {
            anchor = key
            range.live.begin(id, gateway: (gateway.id, TxnRecord.key(id, anchor: key)))
        } else if oneRange, let anchor, db.router.range(for: anchor) !== range {
            oneRange = false
        }
        // Its gateway may have failed while it waited for the lock (its locks then went), or
        // before it became live (a failure marks the gateway first, then aborts its live ones).
        try checkGateway()
        let recordKey = TxnRecord.key(id, anchor: anchor)
        let wall = gateway.wallNanos()
        if first { heartbeatWall = wall }
        let ts = try range.reads.write(key, txn: id, record: recordKey, atLeast: writeTS) { (ts: Timestamp) throws(KVError) -> Timestamp in
            var b = WriteBatch()
            if first { KVRange.putRecord(&b, at: recordKey, TxnRecord(status: .pending, timestamp: ts, heartbeat: wall)) }
            if let committed { KVRange.putVersion(&b, key: key, ts: committed.ts, value: committed.value) }
            MVCCStore.putIntent(&b, key: key, txn: id, ts: ts, value: value, anchor: anchor)
            try range.write(b, sync: false)
            return ts
        }
        writeTS = ts
        let k = ByteKey(key)
        if writtenSet.insert(k).inserted { written.append(key) }
        if values != nil {
            valuesBytes += key.count + (value?.count ?? 0)
            if valuesBytes > KVTxn.valuesBytesMax { values = nil } else { values![k] = .some(value) }
        }
    }

    /// Gives `key`'s lock, which this transaction holds, to the running owner of `intent` on it,
    /// and queues behind it.
    private func waitFor(_ intent: Intent, key: [UInt8], in range: KVRange) throws(KVError) {
        db.locks.handOver(key, from: id, to: intent.txn)
        // Finished meanwhile (its locks released before the hand-over): nobody would release it.
        if db.router.range(for: intent.recordKey).live.status(intent.txn) == nil { db.locks.releaseAll(intent.txn) }
        try lock(key, in: range)
    }

    /// Takes `key`'s exclusive lock, queueing behind other writers. While it waits, the intent
    /// on the key is looked at every 50 ms: when its owner is gone (aborted, or its heartbeat
    /// expired, which aborts it here), the owner's locks go (they may be left from before the
    /// lock table forgot it) and the request is made again.
    private func lock(_ key: [UInt8], in range: KVRange) throws(KVError) {
        if db.locks.tryAcquire(id, key: key, mode: .exclusive) { return }
        let db = self.db, id = self.id, gateway = self.gateway, readTS = self.readTS
        final class Box: @unchecked Sendable { var gone: TxnID? }
        let box = Box()
        // Called with the waiter's condition held: it must not call into the lock manager.
        let stop = { () -> KVError? in
            guard let found = try? KVTxn.newest(range, key), let intent = found.0, intent.txn != id,
                  (try? db.owner(of: intent, above: readTS, gateway: gateway)) == .finished else { return nil }
            box.gone = intent.txn
            return TxnDB.holderGone
        }
        while true {
            do {
                try db.locks.acquire(id, key: key, mode: .exclusive, timeout: lockTimeout, stop: stop)
                return
            } catch {
                // The wait stopped because the holder is gone (`box` names it): its locks go.
                guard let gone = box.gone else { throw error }
                box.gone = nil
                db.locks.releaseAll(gone)
            }
        }
    }

    /// Renews the record's heartbeat once half its timeout has passed (see `heartbeat`).
    private func heartbeatIfDue() throws(KVError) {
        guard anchor != nil, !finished,
              gateway.wallNanos() - heartbeatWall > db.heartbeatTimeoutNanos / 2 else { return }
        try heartbeat()
    }

    /// Renews the PENDING record's heartbeat, which keeps the transaction alive for a range's
    /// lease holder that does not know it (after its lease moved). Called by every operation
    /// once half the timeout has passed; a transaction idle longer than the timeout may be
    /// aborted by the next one that meets its intents.
    /// - Throws: 40001 when the transaction was aborted meanwhile (its record is ABORTED).
    public func heartbeat() throws(KVError) {
        guard let anchor, !finished else { return }
        let recordKey = TxnRecord.key(id, anchor: anchor)
        let range = db.router.range(for: anchor)
        let wall = gateway.wallNanos()
        let writeTS = self.writeTS
        // Under the live set's lock, so that no push judges the record meanwhile.
        try range.live.locked { () throws(KVError) in
            if let record = try range.record(at: recordKey), record.status == .aborted {
                throw KVError(.serializationFailure, "the transaction was aborted: its heartbeat expired")
            }
            var b = WriteBatch()
            KVRange.putRecord(&b, at: recordKey, TxnRecord(status: .pending, timestamp: writeTS, heartbeat: wall))
            try range.write(b, sync: false)
        }
        heartbeatWall = wall
    }

    /// The intent on `key` in `range`, if any, and the timestamp of its newest version: one
    /// pass over the key's first entries.
    private static func newest(_ range: KVRange, _ key: [UInt8]) throws(KVError) -> (Intent?, Timestamp?) {
        let entries = try Entries(range, key, key + [0])
        var intent: Intent?
        while let (_, ts, stored) = entries.current {
            if !ts.isZero { return (intent, ts) }
            intent = KVRange.decodeIntent(stored)
            try entries.next()
        }
        return (intent, nil)
    }

    /// 40001 once the transaction's gateway failed (its transactions were aborted).
    private func checkGateway() throws(KVError) {
        if gateway.failed { throw KVError(.serializationFailure, "the transaction was aborted: its gateway failed") }
    }

    /// Commits; SERIALIZABLE refreshes its reads to the commit timestamp first (40001 if any
    /// changed). Durable when it returns.
    public func commit() throws(KVError) {
        guard !finished else { return }
        guard let anchor else {
            // Read-only: its reads are one consistent snapshot (serializable at the read timestamp).
            finished = true
            db.locks.releaseAll(id)
            return
        }
        let recordRange = db.router.range(for: anchor)
        var commitTS = max(writeTS, recordRange.live.minimum(id))
        var refreshed = readTS
        while true {
            if isolation == .serializable && commitTS > refreshed && !(reads.isEmpty && scans.isEmpty) {
                let ok: Bool
                do { ok = try refresh(from: refreshed, to: commitTS) } catch {
                    rollback()
                    throw error
                }
                guard ok else {
                    rollback()
                    throw KVError(.serializationFailure, "could not serialize access due to read/write dependencies among transactions")
                }
                refreshed = commitTS
            }
            let later: Timestamp?
            let recordKey = TxnRecord.key(id, anchor: anchor)
            do {
                later = try recordRange.live.decide(id, at: commitTS) { () throws(KVError) in try recordRange.record(at: recordKey) }
            } catch {
                rollback()
                throw error
            }
            guard let later else { break }
            commitTS = later
        }
        finished = true
        defer { db.locks.releaseAll(id) }
        var b = WriteBatch()
        let recordKey = TxnRecord.key(id, anchor: anchor)
        // Every write on the record's range, values known: the versions replace the intents in
        // the range's one atomic write, which is the commit point; nothing is left to resolve,
        // so the record goes in it too.
        let withRecord = oneRange && values != nil
        if withRecord, let values {
            for key in written {
                b.delete(MVCCKey.encode(key, .zero))
                KVRange.putVersion(&b, key: key, ts: commitTS, value: values[ByteKey(key)] ?? nil)
            }
            b.delete(MVCCKey.encode(recordKey, .zero))
        } else {
            KVRange.putRecord(&b, at: recordKey, TxnRecord(status: .committed, timestamp: commitTS, heartbeat: SystemClock.wallNanos()))
        }
        do {
            try recordRange.write(b, sync: true)
        } catch {
            // Not committed: the record says so if it can still be written; else readers find
            // it pending, its owner gone, and its heartbeat expires.
            var aborted = WriteBatch()
            KVRange.putRecord(&aborted, at: TxnRecord.key(id, anchor: anchor),
                              TxnRecord(status: .aborted, timestamp: commitTS, heartbeat: heartbeatWall))
            try? recordRange.write(aborted, sync: false)
            recordRange.live.finish(id)
            throw error
        }
        self.commitTS = commitTS
        gateway.observe(commitTS)
        // The record decides from here on; the intents become versions range by range. A
        // failure leaves them to readers, who find the COMMITTED record, and to later writers,
        // who keep their values as versions: the commit stands. The transaction stays live
        // until they are resolved, so that a writer that meets one of them after its lock was
        // forgotten (the lease moved) waits in its push instead of writing under a resolution.
        // Once every intent is resolved the record goes (a reader that met an intent before
        // then finds no record and reads the key again).
        if !withRecord && (try? resolveIntents(at: commitTS)) != nil { deleteRecord(recordKey, recordRange) }
        recordRange.live.finish(id)
    }

    /// Deletes the record at `key` once no intent needs it (unsynced: a record left by a crash
    /// is COMMITTED or ABORTED and decides the same).
    private func deleteRecord(_ key: [UInt8], _ range: KVRange) {
        var b = WriteBatch()
        b.delete(MVCCKey.encode(key, .zero))
        try? range.write(b, sync: false)
    }

    /// Whether nothing this transaction read changed in `(from, to]`; notes its reads at `to`
    /// first, so that later writers land above it.
    private func refresh(from: Timestamp, to: Timestamp) throws(KVError) -> Bool {
        for key in reads where !writtenSet.contains(ByteKey(key)) {
            let range = db.router.range(for: key)
            try db.push(range.reads.noteRead(key, at: to, txn: id), above: to, gateway: gateway)
            if try changed(range, lower: key, upper: key + [0], from: from, to: to) { return false }
        }
        for span in scans {
            for piece in db.router.ranges(lower: span.lower, upper: span.upper) {
                try db.push(piece.range.reads.noteRead(lower: piece.lower, upper: piece.upper, at: to, txn: id), above: to, gateway: gateway)
                if try changed(piece.range, lower: piece.lower, upper: piece.upper, from: from, to: to) { return false }
            }
        }
        return true
    }

    /// Whether another transaction wrote into `[lower, upper)` of `range` at a timestamp in
    /// `(from, to]`: a committed version there, or an intent whose owner committed there (a
    /// pending owner is pushed above `to`).
    private func changed(_ range: KVRange, lower: [UInt8], upper: [UInt8], from: Timestamp, to: Timestamp) throws(KVError) -> Bool {
        let entries = try Entries(range, lower, upper)
        var rereads = 0
        while let (k, ts, stored) = entries.current {
            if ts.isZero {
                if let intent = KVRange.decodeIntent(stored), intent.txn != id {
                    db.intentMetForTesting?(intent)
                    switch try db.owner(of: intent, above: to, gateway: gateway) {
                    case .committed(let c) where c > from && c <= to:
                        return true
                    case .vanished where rereads < TxnDB.rereadLimit:
                        rereads += 1
                        try entries.restart(at: k)
                        continue
                    default:
                        break
                    }
                }
            } else if ts > from && ts <= to {
                return true
            } else if ts <= from {
                // Older versions of the key are older still.
                try entries.skip(past: k)
                continue
            }
            try entries.next()
        }
        return false
    }

    /// Turns the intents into versions at `commitTS` (or removes them: nil), one write per range.
    private func resolveIntents(at commitTS: Timestamp?) throws(KVError) {
        for (_, g) in db.router.grouped(written, key: { $0 }) {
            var batch = WriteBatch()
            for key in g.items {
                let value: [UInt8]?
                if commitTS != nil, let known = values?[ByteKey(key)] {
                    value = known
                } else {
                    guard let intent = try g.range.intent(on: key), intent.txn == id else { continue }
                    value = intent.value
                }
                batch.delete(MVCCKey.encode(key, .zero))
                if let commitTS { KVRange.putVersion(&batch, key: key, ts: commitTS, value: value) }
            }
            try g.range.write(batch, sync: false)
        }
    }

    /// Aborts: removes the intents and releases the locks.
    public func rollback() {
        guard !finished else { return }
        finished = true
        if let anchor {
            let recordRange = db.router.range(for: anchor)
            var b = WriteBatch()
            KVRange.putRecord(&b, at: TxnRecord.key(id, anchor: anchor),
                              TxnRecord(status: .aborted, timestamp: writeTS, heartbeat: SystemClock.wallNanos()))
            try? recordRange.write(b, sync: false)
            recordRange.live.finish(id)
            if (try? resolveIntents(at: nil)) != nil { deleteRecord(TxnRecord.key(id, anchor: anchor), recordRange) }
        }
        db.locks.releaseAll(id)
    }
}

/// The entries of the keys in `[lower, upper)` of a range, in engine order (a key's intent at
/// `key@0` first, then its versions newest first), decoded; storage errors as `KVError`.
private final class Entries {
    private var it: StorageIterator
    private let range: KVRange
    private let upper: [UInt8]

    init(_ range: KVRange, _ lower: [UInt8], _ upper: [UInt8]) throws(KVError) {
        self.range = range
        self.upper = upper
        it = try Entries.iterator(range, from: lower, upper)
        try settle()
    }

    private static func iterator(_ range: KVRange, from lower: [UInt8], _ upper: [UInt8]) throws(KVError) -> StorageIterator {
        let start = MVCCKey.encode(lower, .zero)
        do {
            let it = try range.engine.makeIterator(IteratorOptions(lowerBound: start, upperBound: MVCCKey.encode(upper, .zero)))
            try it.seek(start)
            return it
        } catch {
            throw KVRange.storageError(error)
        }
    }

    /// Reads on from `key`'s first entry in the engine's current state (a new iterator).
    func restart(at key: [UInt8]) throws(KVError) {
        it = try Entries.iterator(range, from: key, upper)
        try settle()
    }

    /// The entry under the cursor (nil at the end): user key, timestamp (zero: an intent), stored value.
    private(set) var current: (key: [UInt8], ts: Timestamp, value: [UInt8])?

    func next() throws(KVError) {
        do { try it.next() } catch { throw KVRange.storageError(error) }
        try settle()
    }

    /// Moves past every entry of `key`.
    func skip(past key: [UInt8]) throws(KVError) {
        do { try it.seek(MVCCKey.encode(key + [0], .zero)) } catch { throw KVRange.storageError(error) }
        try settle()
    }

    /// Decodes the iterator's entry, stepping over any that does not decode.
    private func settle() throws(KVError) {
        while it.isValid {
            if let (k, ts) = MVCCKey.decode(it.key) {
                current = (k, ts, it.value)
                return
            }
            do { try it.next() } catch { throw KVRange.storageError(error) }
        }
        current = nil
    }
}
