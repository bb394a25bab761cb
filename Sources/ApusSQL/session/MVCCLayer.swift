import ApusCore
import ApusKV
import ApusStorage
import Foundation

/// The storage layout of an SQL data directory.
///
/// `.mvcc` (the default, `SQLStorageLayout.default`): the engine runs with the `.mvcc`
/// comparator; versions are `key@ts` at hybrid-logical-clock timestamps, writes are intents
/// naming their transaction, and a transaction record commits them (see `MVCCLayer`).
/// `.sequence` (the first layout, still supported): versions are the storage engine's sequence
/// numbers and a transaction's writes are buffered until commit. The layout is the engine's
/// comparator, which the manifest records: a directory reopens with its own layout (so
/// directories made before the MVCC layout became the default keep the sequence layout), and
/// opening it with the other one is refused.
public enum SQLStorageLayout: String, Sendable, CaseIterable {
    case sequence
    case mvcc

    var comparator: KeyComparator { self == .mvcc ? .mvcc : .bytewise }

    /// The layout of a new data directory when none is asked for.
    public static let `default`: SQLStorageLayout = .mvcc

    /// `name`'s layout when `name` is "sequence" or "mvcc", the default when it is nil or empty
    /// (environment switches of the test harnesses), nil otherwise: callers refuse such a name,
    /// so that a misspelt switch cannot run a suite on the other layout unnoticed.
    public static func named(_ name: String?) -> SQLStorageLayout? {
        guard let name, !name.isEmpty else { return .default }
        return SQLStorageLayout(rawValue: name)
    }

    /// Sets `options` up for `layout`: its comparator; on the MVCC layout the prefix filter
    /// (`StorageOptions.sql`'s) takes the prefix of each `key@ts`'s key part
    /// (`BloomPrefix.onMVCCKeys`, a function of another name than the sequence layout's).
    public static func configure(_ options: inout StorageOptions, _ layout: SQLStorageLayout) {
        options.comparator = layout.comparator
        if layout == .mvcc { options.bloomPrefix = options.bloomPrefix?.onMVCCKeys }
    }

    /// The layout an engine was opened with.
    public init(engine: StorageEngine) { self = engine.comparator == .mvcc ? .mvcc : .sequence }

    /// Opens (or creates) the data directory at `directory`. With `layout` nil an existing
    /// directory opens with the layout it was created with and a new one gets `SQLStorageLayout.default`;
    /// an explicit `layout` that differs from an existing directory's is refused.
    public static func openEngine(directory: String, layout: SQLStorageLayout?, options: StorageOptions = StorageOptions()) throws -> StorageEngine {
        try openEngine(layout: layout, options: options) { try StorageEngine.open(directory: directory, options: $0) }
    }

    /// `openEngine(directory:layout:options:)` with the opening step given (tests use an in-memory file system).
    public static func openEngine(layout: SQLStorageLayout?, options: StorageOptions,
                                  _ open: (StorageOptions) throws -> StorageEngine) throws -> StorageEngine {
        var o = options
        configure(&o, layout ?? .default)
        do {
            return try open(o)
        } catch let e as StorageError where e.message.contains("uses comparator") {
            let other: SQLStorageLayout = o.comparator == .mvcc ? .sequence : .mvcc
            guard layout == nil, e.message.contains(other.comparator.name) else {
                let found = e.message.contains(KeyComparator.mvcc.name) ? SQLStorageLayout.mvcc : .sequence
                throw SQLError(.invalidParameterValue,
                               "the data directory uses the \(found.rawValue) storage layout; it cannot be opened with the "
                                   + "\((layout ?? .default).rawValue) layout")
            }
            o = options
            configure(&o, other)
            return try open(o)
        }
    }
}

/// SQL transactions on the MVCC layout: the state every transaction on one engine shares.
///
/// * **Versions** are `key@ts` (HLC timestamps, `MVCCKey`); a committed value carries a tag
///   byte (1 value, 0 deletion). Every request goes through a `RangeRouter` (one range, or
///   several over the one engine with split points).
/// * **Writes are intents** at `key@0` naming their transaction and its anchor (the first
///   written key), written to the engine at once (unsynced). The transaction's record, PENDING
///   with a heartbeat time and the spans of its intents, lives at a local key of the anchor's
///   range (`TxnRecord`); it is written with the first intents and again whenever the spans
///   grow or the heartbeat is due, before (or with) the intents it newly covers. Intents are
///   buffered (up to 256 KiB, until a read of their span): a transaction that sent none and
///   wrote on one range commits in one phase, its group write carrying the versions themselves
///   (`MVCCTransaction.onePhase`).
/// * **Commit**: the `TxnCoordinator` decides it on the ranges it wrote and read (validation with
///   the same conflict rules as the sequence layout, then a timestamp from the clock, `draw`,
///   in flight until applied) and writes the COMMITTED record, several commits per synced write
///   (group commit, in any timestamp order); that write is the commit point. A
///   transaction with intents on several ranges writes a STAGING record with its in-flight
///   writes instead (a parallel commit), made COMMITTED before resolution. The intents are then
///   resolved (`key@0` deleted, `key@commitTS` written, in chunks) and the record deleted,
///   before the transaction's locks go. A failed group write marks its transactions not
///   committed before readers may read at their timestamps (`commitFailed`).
/// * **Readers** read below every commit timestamp in flight (`readTimestamp`): every commit at
///   or below it has its record (or versions) written. A foreign intent is visible when its transaction committed
///   at or below the read timestamp: known here while it resolves (`states`), otherwise from its
///   record, read in the same engine snapshot as the intent (a record outlives its intents).
/// * **Heartbeats**: a PENDING record carries a heartbeat time, refreshed as the transaction
///   writes. A transaction not running in this process whose heartbeat expired is abandoned:
///   whoever meets one of its intents aborts it (ABORTED record) and removes its intents from
///   the record's spans. A gone owner's STAGING record is decided by counting its intents
///   (`decideStaging`).
/// * **Recovery** at open: PENDING records (transactions a crash cut off) are aborted and their
///   intents removed; COMMITTED records' remaining intents are resolved, and STAGING ones
///   decided; each from the spans its record lists; then the records go.
///
/// Concurrency: `Sendable`; `states` behind a mutex, the clock behind another.
public final class MVCCLayer: @unchecked Sendable {
    let engine: StorageEngine
    public let router: RangeRouter
    /// Guards the clock and the timestamps in flight (`inFlight`); signalled when some are applied.
    private let clock = NSCondition()
    private var hlc = HybridLogicalClock()
    private let mutex = NSLock()
    /// Serializes the removal of abandoned transactions' intents with writers replacing them.
    let cleanupLock = NSLock()
    /// How long a PENDING record's heartbeat stays valid (ns); tests lower it.
    public var heartbeatTimeoutNanos: Int64 = 10_000_000_000
    /// What recovery at open did: transactions aborted, committed transactions resolved, intents handled.
    public private(set) var recovered = (aborted: 0, committed: 0, intents: 0)
    /// Whether an intent of a transaction not running here may exist: one was abandoned since the
    /// open (recovery removes every intent a crash left, and one process owns the engine). Until
    /// then a writer holding a key's row lock knows the key holds no foreign intent and skips
    /// the lookup (`MVCCTransaction.put`).
    private(set) var foreignIntentsPossible = false

    func noteAbandoned() {
        mutex.lock()
        foreignIntentsPossible = true
        mutex.unlock()
    }

    /// Abandoned transactions aborted by readers or writers that met their intents.
    public private(set) var abandonedAborted = 0
    /// Where a commit stops after its commit point (test hook, as a crash there would).
    enum ResolutionStop {
        /// Right after the group write: the record is COMMITTED, or STAGING for a transaction
        /// that wrote on several ranges.
        case afterCommitPoint
        /// After a STAGING record was made explicitly COMMITTED, before any intent is resolved.
        case afterExplicitCommit
    }

    /// Test hook: commits stop there, leaving their intents unresolved.
    var stopResolutionForTesting: ResolutionStop?
    /// Whether small single-range transactions commit in one phase (`MVCCTransaction.onePhase`);
    /// tests of the intent path turn it off.
    var onePhaseCommits = true
    /// Intent resolution works in batches of about this many bytes.
    static let resolveChunkBytes = 1 << 20

    /// When the data directory was first opened with this layout (wall ns): AS OF SYSTEM TIME
    /// reads no earlier.
    private(set) var createdWall: Int64 = 0
    /// The system key holding `createdWall` (8 bytes, big-endian), as a version.
    static let createdKey: [UInt8] = [0] + Array("mvcc-created".utf8)

    /// Why the open could not finish the transactions a crash left (sessions refuse to start).
    private(set) var openError: SQLError?

    /// `splitPoints`: the key space is split into ranges there, over the one engine (tests;
    /// see `testSplitPoints`).
    init(engine: StorageEngine, splitPoints: [[UInt8]] = []) {
        self.engine = engine
        router = RangeRouter(engine: engine, splitPoints: splitPoints)
        do throws(any Error) {
            // The clock resumes above every timestamp handed out before (a wall clock that went
            // back across the restart must not give commits timestamps below stored versions).
            let clockRange = router.range(for: MVCCLayer.clockKey)
            if let v = try clockRange.engine.get(MVCCKey.encode(MVCCLayer.clockKey, MVCCLayer.clockVersion)), v.count == 12 {
                let logical = v[8..<12].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                hlc.update(Timestamp(wallNanos: decodeBigEndian64(v, at: 0), logical: logical))
            }
            try recover()
            if let v = try latest(MVCCLayer.createdKey), v.count == 8 {
                createdWall = Int64(bitPattern: decodeBigEndian64(v, at: 0))
            } else {
                let ts = now()
                createdWall = Int64(ts.wallNanos)
                var v: [UInt8] = []
                v.appendBigEndian64(ts.wallNanos)
                try writeVersion(MVCCLayer.createdKey, v, at: ts)
            }
        } catch let e as SQLError {
            openError = e
        } catch {
            openError = SQLError(.ioError, "MVCC layout: recovery at open failed: \(error)")
        }
    }

    /// Split points for tests that run transactions across ranges: `APUS_TEST_RANGES=N` splits
    /// the key space into N ranges (at most 67): system keys, the catalog and table data apart,
    /// then the first tables' primary indexes at the integer keys 2, 4 and 10 and their
    /// secondary indexes apart. Unset: one range.
    static func testSplitPoints(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> [[UInt8]] {
        guard let value = environment["APUS_TEST_RANGES"] else { return [] }
        // A value that names no count would run on one range unnoticed (a test pass claiming
        // several ranges); stop instead, as the layout switches do.
        guard let n = Int(value), n >= 1 else { preconditionFailure("APUS_TEST_RANGES must be a positive number of ranges, not \(value)") }
        if n == 1 { return [] }
        var points: [[UInt8]] = [[0x01], [0x02]]
        for table in UInt32(100)..<116 {
            let primary = KeyEncoding.indexPrefix(table: table, index: 1)
            for k: Int64 in [2, 4, 10] {
                var p = primary
                KeyEncoding.append(.int(k), to: &p)
                points.append(p)
            }
            points.append(KeyEncoding.indexPrefix(table: table, index: 2))
        }
        return Array(points.prefix(n - 1))
    }

    /// The system key under which each group write stores the newest commit timestamp, at the
    /// fixed version `clockVersion` (so that it is one entry, overwritten).
    static let clockKey: [UInt8] = [0] + Array("mvcc-clock".utf8)
    static let clockVersion = Timestamp(wallNanos: 1, logical: 0)

    /// Adds to a group write the newest commit timestamp it makes durable.
    func noteClock(_ batch: inout WriteBatch, _ ts: Timestamp) {
        var v: [UInt8] = []
        v.appendBigEndian64(ts.wallNanos)
        v.appendBigEndian32(ts.logical)
        batch.put(MVCCKey.encode(MVCCLayer.clockKey, MVCCLayer.clockVersion), v)
    }

    // MARK: Clock

    /// A timestamp above every earlier one.
    func now() -> Timestamp {
        clock.lock()
        defer { clock.unlock() }
        return tick()
    }

    /// The clock's next timestamp (caller holds `clock`).
    private func tick() -> Timestamp { hlc.now(physicalNanos: UInt64(max(SystemClock.wallNanos(), 0))) }

    /// The timestamps drawn by `draw()` whose writes are not yet applied (`applied(_:)`), in
    /// increasing order (draws increase). Guarded by `clock`.
    private var inFlight: [Timestamp] = []

    /// A commit timestamp above every earlier one, in flight until `applied` is called with it:
    /// readers read below it meanwhile (`readTimestamp`). Drawn and registered under one lock,
    /// so no reader takes a read timestamp at or above it before it is registered.
    func draw() -> Timestamp {
        clock.lock()
        defer { clock.unlock() }
        let ts = tick()
        inFlight.append(ts)
        return ts
    }

    /// The writes at these drawn timestamps are applied (or failed and were undone): readers
    /// may read at and above them.
    func applied(_ timestamps: [Timestamp]) {
        if timestamps.isEmpty { return }
        clock.lock()
        defer { clock.unlock() }
        // A few commits in flight at a time: a search from the oldest.
        for ts in timestamps { if let i = inFlight.firstIndex(of: ts) { inFlight.remove(at: i) } }
        clock.broadcast()
    }

    /// Returns once readers read at or above `ts` (a drawn timestamp whose write is applied):
    /// every commit drawn below it is applied too. A commit is acknowledged only then, so that
    /// a transaction that begins after a commit returned sees it.
    func waitVisible(_ ts: Timestamp) {
        clock.lock()
        defer { clock.unlock() }
        var told = false
        while let oldest = inFlight.first, oldest < ts {
            if !told, let hook = visibilityWaitHookForTesting {
                told = true
                clock.unlock()
                hook(ts)
                clock.lock()
                continue
            }
            clock.wait()
        }
    }

    /// Test hook: called (outside the lock) when a commit at the timestamp, applied, waits for
    /// an earlier one still in flight.
    var visibilityWaitHookForTesting: ((Timestamp) -> Void)?

    /// Where a reader of the latest committed state reads: just below the oldest commit still in
    /// flight, else the clock's next timestamp. Every commit at or below it is applied (its
    /// versions or record written), and every commit drawn later lands above it. Non-decreasing:
    /// a commit in flight was drawn above every earlier read timestamp. `draw`: false gives the
    /// clock's last timestamp instead of a new one when nothing is in flight (for bounds that
    /// need no reader's timestamp).
    func readTimestamp(draw: Bool = true) -> Timestamp {
        clock.lock()
        defer { clock.unlock() }
        if let oldest = inFlight.first { return MVCCLayer.before(oldest) }
        return draw ? tick() : hlc.last
    }

    /// The timestamp just below `ts` (`ts` is above zero).
    static func before(_ ts: Timestamp) -> Timestamp {
        ts.logical > 0 ? Timestamp(wallNanos: ts.wallNanos, logical: ts.logical - 1) : Timestamp(wallNanos: ts.wallNanos - 1, logical: .max)
    }

    /// The timestamp of wall time `wall` (ns since 1970), the largest at that time.
    static func timestamp(atWall wall: Int64) -> Timestamp { Timestamp(wallNanos: UInt64(max(wall, 0)), logical: .max) }

    // MARK: Transaction states

    // A transaction that wrote is live in `LiveTxns` of the range holding its record (the
    // range of its anchor, its first written key), where a reader of one of its intents finds
    // it: pending while it runs, committing from the moment the coordinator gives it a commit
    // timestamp until its intents are resolved.

    func began(_ txn: TxnID, anchor: [UInt8]) {
        router.range(for: anchor).live.begin(txn)
    }

    func committing(_ txn: TxnID, anchor: [UInt8], at ts: Timestamp) {
        router.range(for: anchor).live.fix(txn, at: ts)
    }

    /// `stagedCommit`: the transaction committed at this timestamp through a STAGING record
    /// (remembered for readers whose snapshot still holds that record; see `visibility`).
    func finished(_ txn: TxnID, anchor: [UInt8]?, stagedCommit: Timestamp? = nil) {
        guard let anchor else { return }
        if let stagedCommit {
            // Remembered before the live state goes, so that a reader finds one or the other.
            mutex.lock()
            recentStaged[txn] = stagedCommit
            recentStagedOrder.append(txn)
            if recentStagedOrder.count > MVCCLayer.recentStagedMax {
                recentStaged[recentStagedOrder.removeFirst()] = nil
            }
            mutex.unlock()
        }
        router.range(for: anchor).live.finish(txn)
    }

    /// The latest transactions of this process that committed through a STAGING record and
    /// finished, with their commit timestamps (at most `recentStagedMax`, oldest first in the order).
    private var recentStaged: [TxnID: Timestamp] = [:]
    private var recentStagedOrder: [TxnID] = []
    static let recentStagedMax = 4096

    /// Test hook: forgets `recentStaged` (as for a snapshot older than its bound).
    func forgetRecentStagedForTesting() {
        mutex.lock()
        recentStaged = [:]
        recentStagedOrder = []
        mutex.unlock()
    }

    func recentlyStaged(_ txn: TxnID) -> Timestamp? {
        mutex.lock()
        defer { mutex.unlock() }
        return recentStaged[txn]
    }

    /// The group write that held the COMMITTED records of `txns` failed: they are not committed
    /// (readers must not see their intents while their owners abort them). Called by the
    /// coordinator before readers may read at their commit timestamps.
    func commitFailed(_ txns: [(id: TxnID, anchor: [UInt8])]) {
        for t in txns { router.range(for: t.anchor).live.undecide(t.id) }
    }

    /// Test hook: runs when a commit failed, before the transaction removes its intents.
    var commitFailureHookForTesting: (() -> Void)?

    /// The state of `intent`'s owner, from its record range's live transactions: nil when not
    /// live; .some(nil): running; .some(ts): committed at ts (its intents being resolved).
    func state(of intent: Intent) -> Timestamp?? {
        switch router.range(for: intent.recordKey).live.status(intent.txn) {
        case nil: return nil
        case .pending?: return .some(nil)
        case .committing(let ts)?: return .some(ts)
        }
    }

    func expired(_ record: TxnRecord) -> Bool {
        SystemClock.wallNanos() - record.heartbeat > heartbeatTimeoutNanos
    }

    /// Whether a reader sees `intent` (on `key`, met in `snapshot`); an abandoned owner is aborted
    /// and the intent removed on the way.
    func visibility(_ intent: Intent, _ key: [UInt8], _ snapshot: Snapshot) throws(KVError) -> IntentVisibility {
        switch state(of: intent) {
        case .some(.some(let ts)): return .committed(ts)
        case .some(.none): return .invisible
        case .none: break
        }
        // The record is on the range of the intent's anchor; every range is on `engine`, so the
        // intent's snapshot serves for the record too.
        let recordKey = intent.recordKey
        let range = router.range(for: recordKey)
        guard let record = try range.record(at: recordKey, snapshot: range.engine === engine ? snapshot : nil) else {
            return .invisible
        }
        switch record.status {
        case .committed: return .committed(record.timestamp)
        case .aborted: return .invisible
        case .staging:
            // Its owner is not running here (a running one is known above). It may have finished
            // since the snapshot was taken (resolved, record deleted): the snapshot decides, with
            // the intents it holds. An owner that is gone is settled on the way.
            if let ts = recentlyStaged(intent.txn) { return .committed(ts) }
            cleanupLock.lock()
            defer { cleanupLock.unlock() }
            if state(of: intent) == nil, try range.record(at: recordKey)?.status == .staging {
                // Still undecided now: deciding it counts the intents once, in the current state,
                // which agrees with the snapshot's (a gone owner writes no more, and intents are
                // removed only after their record stopped being STAGING).
                return try decideStaging(intent.txn, recordKey: recordKey).map { .committed($0) } ?? .invisible
            }
            // Decided since the snapshot (its record changed or went): the snapshot's intents decide.
            let committed = try stagingCommitted(intent.txn, record, snapshot: range.engine === engine ? snapshot : nil)
            return committed ? .committed(record.timestamp) : .invisible
        case .pending:
            if expired(record) { try abortAbandoned(intent, key: key) }
            return .invisible
        }
    }

    /// Aborts the abandoned owner of `intent` (met on `key`): its record becomes ABORTED and its
    /// intents are removed, all of them from the record's spans (a record of the first format
    /// lists none: only the one on `key`). Recovery at the next open deletes the record.
    func abortAbandoned(_ intent: Intent, key: [UInt8]) throws(KVError) {
        cleanupLock.lock()
        defer { cleanupLock.unlock() }
        let recordKey = intent.recordKey
        let recordRange = router.range(for: recordKey)
        guard var record = try recordRange.record(at: recordKey), record.status == .pending,
              expired(record), state(of: intent) == nil else { return }
        record.status = .aborted
        var b = WriteBatch()
        KVRange.putRecord(&b, at: recordKey, record)
        try recordRange.write(b, sync: false)
        _ = try resolveIntents(of: intent.txn, in: record.spans ?? [KeySpan(lower: key, upper: key + [0])], commitTS: nil)
        mutex.lock()
        abandonedAborted += 1
        mutex.unlock()
    }

    /// Resolves the intents of `txn` in `spans`: as versions at `commitTS`, or removed when nil.
    /// Other transactions' intents are left alone. Unsynced writes, a range's at a time.
    ///
    /// - Returns: how many intents were resolved.
    func resolveIntents(of txn: TxnID, in spans: [KeySpan], commitTS: Timestamp?) throws(KVError) -> Int {
        var b = RangeBatcher(router: router)
        let count = try visitIntents(of: txn, in: spans) { (raw, k, intent) throws(KVError) in
            try b.add(k) {
                $0.delete(raw)
                if let commitTS { KVRange.putVersion(&$0, key: k, ts: commitTS, value: intent.value) }
            }
        }
        try b.flush()
        return count
    }

    /// Calls `body` with each intent of `txn` in `spans` (its engine key, user key and intent),
    /// in key order, on each range's current state; returns how many there were.
    /// `snapshot` (of `engine`): read there instead.
    func visitIntents(of txn: TxnID, in spans: [KeySpan], snapshot: Snapshot? = nil,
                      _ body: ([UInt8], [UInt8], Intent) throws(KVError) -> Void) throws(KVError) -> Int {
        var count = 0
        for span in spans {
            for part in router.ranges(lower: span.lower, upper: span.upper) {
                do {
                    let it = try part.range.engine.makeIterator(IteratorOptions(lowerBound: MVCCKey.encode(part.lower, .zero),
                                                                                upperBound: MVCCKey.encode(part.upper, .zero)),
                                                                snapshot: part.range.engine === engine ? snapshot : nil)
                    try it.seek(MVCCKey.encode(part.lower, .zero))
                    while it.isValid {
                        let raw = it.key
                        if let (k, intent) = MVCCLayer.intentEntry(raw, it.value), intent.txn == txn {
                            try body(raw, k, intent)
                            count += 1
                        }
                        try it.next()
                    }
                } catch let e as KVError {
                    throw e
                } catch let e as StorageError {
                    throw KVError(.ioError, "storage error: \(e)")
                } catch {
                    throw KVError(.ioError, "\(error)")
                }
            }
        }
        return count
    }

    /// The user key and intent of an engine entry (`raw`, `value`) when it is an intent: the
    /// unversioned slot `key@0` of a key that is not a transaction record, holding an intent.
    static func intentEntry(_ raw: [UInt8], _ value: [UInt8]) -> (key: [UInt8], intent: Intent)? {
        // The last byte, the timestamp's length, is zero only in `key@0` (a cheap test first).
        guard raw.last == 0, let (k, ts) = MVCCKey.decode(raw), ts.isZero, !TxnRecord.isRecordKey(k),
              let intent = KVRange.decodeIntent(value) else { return nil }
        return (k, intent)
    }

    /// Whether a STAGING record's transaction is (implicitly) committed: every in-flight write,
    /// counted in the record's spans, is there. Meaningful for an owner that is gone (a missing
    /// write can then never happen), and in a snapshot that holds the record (on the one engine
    /// every intent is written before the STAGING record; `snapshot`: count there).
    func stagingCommitted(_ txn: TxnID, _ record: TxnRecord, snapshot: Snapshot? = nil) throws(KVError) -> Bool {
        guard let spans = record.spans, let inFlight = record.inFlight else { return false }
        return try visitIntents(of: txn, in: spans, snapshot: snapshot) { _, _, _ throws(KVError) in } == inFlight
    }

    /// Decides the STAGING record at `recordKey` of `txn`, whose owner is gone: makes it COMMITTED
    /// (all in-flight writes there) or ABORTED, and resolves or removes its intents. Caller holds
    /// `cleanupLock`.
    ///
    /// - Returns: the commit timestamp, or nil when it was aborted (or is no longer STAGING:
    ///   then what the record now says).
    func decideStaging(_ txn: TxnID, recordKey: [UInt8]) throws(KVError) -> Timestamp? {
        let recordRange = router.range(for: recordKey)
        guard var record = try recordRange.record(at: recordKey) else { return nil }
        guard record.status == .staging else { return record.status == .committed ? record.timestamp : nil }
        let committed = try stagingCommitted(txn, record)
        record.status = committed ? .committed : .aborted
        var b = WriteBatch()
        KVRange.putRecord(&b, at: recordKey, record)
        try recordRange.write(b, sync: false)
        _ = try resolveIntents(of: txn, in: record.spans ?? [], commitTS: committed ? record.timestamp : nil)
        mutex.lock()
        if committed { stagingFoundCommitted += 1 } else { abandonedAborted += 1 }
        mutex.unlock()
        return committed ? record.timestamp : nil
    }

    /// STAGING records of gone owners found committed by readers and writers (not by recovery).
    public private(set) var stagingFoundCommitted = 0

    /// Clears the way for `txn` to write `key`, whose lock it holds: an intent left there by a
    /// transaction that is not running here is resolved (committed), removed (aborted, no
    /// record) or, when its heartbeat expired, its owner is aborted.
    ///
    /// - Returns: the commit timestamp of a foreign committed intent resolved here (the caller
    ///   checks it against its read timestamp), nil otherwise.
    /// - Throws: 40001 when the key holds the intent of a live transaction.
    func clearForeignIntent(_ key: [UInt8], txn: TxnID) throws(SQLError) -> Timestamp? {
        let range = router.range(for: key)
        do {
            guard let intent = try range.intent(on: key), intent.txn != txn else { return nil }
            cleanupLock.lock()
            defer { cleanupLock.unlock() }
            guard let again = try range.intent(on: key), again.txn == intent.txn else { return nil }
            if state(of: intent) != nil {
                throw SQLError(.serializationFailure, "could not serialize access: the row holds the write of a running transaction")
            }
            let recordKey = intent.recordKey
            let recordRange = router.range(for: recordKey)
            let record = try recordRange.record(at: recordKey)
            var b = WriteBatch()
            b.delete(MVCCKey.encode(key, .zero))
            var resolvedAt: Timestamp?
            switch record?.status {
            case .committed?:
                KVRange.putVersion(&b, key: key, ts: record!.timestamp, value: intent.value)
                resolvedAt = record!.timestamp
            case .staging?:
                // Its owner is not running here (checked above): decide it; the intent is resolved or removed.
                resolvedAt = try decideStaging(intent.txn, recordKey: recordKey)
            case .pending?:
                guard expired(record!) else {
                    throw SQLError(.serializationFailure, "could not serialize access: the row holds the write of a pending transaction")
                }
                // The record first (on its own range): an intent never outlives its record.
                var aborted = record!
                aborted.status = .aborted
                var r = WriteBatch()
                KVRange.putRecord(&r, at: recordKey, aborted)
                try recordRange.write(r, sync: false)
                mutex.lock()
                abandonedAborted += 1
                mutex.unlock()
            case .aborted?, nil:
                break
            }
            try range.write(b, sync: false)
            return resolvedAt
        } catch let e as KVError {
            throw SQLError(e.code, e.message)
        } catch let e as SQLError {
            throw e
        } catch {
            throw SQLError(.internalError, "\(error)")
        }
    }

    // MARK: Recovery

    /// Finishes the transactions a crash (or an abandoned owner) left: see the type's notes.
    ///
    /// The records are found in each engine's record spans; a record's intents are resolved
    /// from the spans it lists. Records of the first format list none: for them every intent
    /// in the key space is visited (and, as that format's recovery did, every intent found is
    /// resolved by its record or removed).
    private func recover() throws {
        var records: [(key: [UInt8], txn: TxnID, record: TxnRecord)] = []
        var maxTS = Timestamp.zero
        for engine in router.engines {
            for span in TxnRecord.recordSpans {
                let it = try engine.makeIterator(IteratorOptions(lowerBound: MVCCKey.encode(span.lower, .zero),
                                                                 upperBound: MVCCKey.encode(span.upper, .zero)))
                try it.seek(MVCCKey.encode(span.lower, .zero))
                while it.isValid {
                    if let (k, ts) = MVCCKey.decode(it.key), ts.isZero, let (txn, _) = TxnRecord.decodeKey(k),
                       router.range(for: k).engine === engine, let record = TxnRecord(decoding: it.value) {
                        records.append((k, txn, record))
                        maxTS = max(maxTS, record.timestamp)
                    }
                    try it.next()
                }
            }
        }
        clock.lock()
        hlc.update(maxTS)
        clock.unlock()
        guard !records.isEmpty else { return }
        var unlisted: [TxnID: TxnRecord] = [:]
        for i in records.indices {
            let (_, txn, r) = records[i]
            guard let spans = r.spans else {
                unlisted[txn] = r
                continue
            }
            // A STAGING record is committed when all its in-flight writes are there (a crash
            // before they all were durable aborts it: none of its writes survives).
            if r.status == .staging {
                records[i].record.status = try stagingCommitted(txn, r) ? .committed : .aborted
                if records[i].record.status == .aborted { recovered.aborted += 1 }
            }
            let status = records[i].record.status
            recovered.intents += try resolveIntents(of: txn, in: spans, commitTS: status == .committed ? r.timestamp : nil)
        }
        if !unlisted.isEmpty {
            // Every intent in the key space: resolved by its record, or removed.
            for engine in router.engines {
                var b = WriteBatch()
                let it = try engine.makeIterator()
                try it.seekToFirst()
                while it.isValid {
                    let raw = it.key
                    if let (k, intent) = MVCCLayer.intentEntry(raw, it.value) {
                        b.delete(raw)
                        if let r = unlisted[intent.txn], r.status == .committed {
                            KVRange.putVersion(&b, key: k, ts: r.timestamp, value: intent.value)
                        }
                        recovered.intents += 1
                        if b.data.count >= MVCCLayer.resolveChunkBytes {
                            try engine.write(b, sync: false)
                            b = WriteBatch()
                        }
                    }
                    try it.next()
                }
                try engine.write(b, sync: false)
            }
        }
        // The records go after their intents' resolution (synced: the resolutions before them too).
        var b = RangeBatcher(router: router, sync: true)
        for (key, _, r) in records {
            try b.add(key) { $0.delete(MVCCKey.encode(key, .zero)) }
            if r.status == .committed { recovered.committed += 1 } else if r.status != .aborted { recovered.aborted += 1 }
        }
        try b.flush()
    }

    // MARK: Dropped tables

    /// The system keys of dropped tables whose rows still wait for the GC window:
    /// `0x00 "dropped/" <table id, 4 bytes big-endian>` → the span of the table's keys (two
    /// length-prefixed bounds). DROP TABLE writes the key in its transaction instead of a
    /// deletion per row (`DDL.dropData`); the rows stay readable at timestamps before the drop
    /// (AS OF SYSTEM TIME, transactions with older snapshots), and no reader at a later
    /// timestamp looks for them: the catalog no longer names the table, and table ids are
    /// never reused.
    static let droppedPrefix: [UInt8] = [0] + Array("dropped/".utf8)

    static func droppedKey(table: UInt32) -> [UInt8] {
        var k = droppedPrefix
        k.appendBigEndian32(table)
        return k
    }

    static func droppedValue(lower: [UInt8], upper: [UInt8]) -> [UInt8] {
        var v: [UInt8] = []
        v.appendLengthPrefixed(lower)
        v.appendLengthPrefixed(upper)
        return v
    }

    /// Serializes `collectDrops`.
    private let dropLock = NSLock()
    /// Whether a dropped-table key may be stored (guarded by `mutex`): true at open (not known
    /// yet) and from a drop's first write on, false once a scan found none left. Spares the
    /// committing thread that moves the GC threshold a scan every second when nothing waits.
    private var dropsMayWait = true

    /// Notes that a transaction is writing a dropped-table key (`DDL.dropData`).
    func noteDrop() {
        mutex.withLock { dropsMayWait = true }
    }

    /// Deletes the rows of the tables dropped at timestamps below `threshold` (the MVCC GC
    /// threshold: nobody reads at or below it), with range deletions in each range holding a
    /// piece of the table's span, and then the dropped-table key itself. Unsynced: after a
    /// crash that lost them the key is still there and the next call deletes again (the key's
    /// deletion follows the rows' in the same engine's log). Returns the tables collected.
    /// Skips the work when another call is under way or no drop can be waiting; errors wait
    /// for the next call.
    func collectDrops(below threshold: Timestamp) {
        guard dropLock.try() else { return }
        defer { dropLock.unlock() }
        // Cleared before the scan: a drop written meanwhile sets it again.
        let mayWait = mutex.withLock { () -> Bool in
            defer { dropsMayWait = false }
            return dropsMayWait
        }
        guard mayWait else { return }
        var due: [(key: [UInt8], lower: [UInt8], upper: [UInt8])] = []
        var waiting = false
        var lastKey: [UInt8]?
        do throws(any Error) {
            let upperKey = KeyEncoding.prefixEnd(MVCCLayer.droppedPrefix)
            for piece in router.ranges(lower: MVCCLayer.droppedPrefix, upper: upperKey) {
                let it = try piece.range.engine.makeIterator(IteratorOptions(
                    lowerBound: MVCCKey.encode(piece.lower, .zero), upperBound: MVCCKey.encode(piece.upper, .zero)))
                try it.seek(MVCCKey.encode(piece.lower, .zero))
                while it.isValid {
                    // A key's first entry decides. Committed drops only: an intent (ts 0) is a
                    // drop still running or resolving.
                    if let (key, ts) = MVCCKey.decode(it.key), key != lastKey {
                        lastKey = key
                        // A version's value: tag 1 (0 is a deletion), then the bytes.
                        if !ts.isZero, ts < threshold, it.value.first == 1 {
                            var r = ByteReader(Array(it.value.dropFirst()))
                            due.append((key, Array(try r.readLengthPrefixed()), Array(try r.readLengthPrefixed())))
                        } else {
                            waiting = true  // not due yet, or still an intent
                        }
                    }
                    try it.next()
                }
            }
            for d in due {
                for piece in router.ranges(lower: d.lower, upper: d.upper) {
                    var b = WriteBatch()
                    b.deleteRange(MVCCKey.encode(piece.lower, .zero), MVCCKey.encode(piece.upper, .zero))
                    try piece.range.write(b, sync: false)
                }
                var b = WriteBatch()
                b.deleteRange(MVCCKey.encode(d.key, .zero), MVCCKey.encode(d.key + [0], .zero))
                try router.range(for: d.key).write(b, sync: false)
            }
        } catch {
            waiting = true
        }
        if waiting { noteDrop() }
    }

    // MARK: Non-transactional access

    /// The newest committed value of `key` (committed intents included).
    func latest(_ key: [UInt8]) throws(SQLError) -> [UInt8]? {
        do {
            return try router.range(for: key).get(key, readTS: .max, txn: 0) { i, k, s throws(KVError) in
                if case let .committed(ts) = try visibility(i, k, s) { return .committed(ts) }
                return .invisible
            }
        } catch {
            throw SQLError(error.code, error.message)
        }
    }

    /// Writes a committed version of `key` at `ts`, unsynced (`KVTransaction.updateOutside`).
    func writeVersion(_ key: [UInt8], _ value: [UInt8], at ts: Timestamp) throws(SQLError) {
        var b = WriteBatch()
        KVRange.putVersion(&b, key: key, ts: ts, value: value)
        do { try router.range(for: key).write(b, sync: false) } catch { throw SQLError(error.code, error.message) }
    }
}
