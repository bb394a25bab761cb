import ApusCore
import ApusKV
import ApusStorage

/// Writes addressed by key, sent to each key's range in batches of about `bytes` (keys in order
/// keep a range's batch together).
struct RangeBatcher {
    let router: RangeRouter
    let sync: Bool
    var bytes = MVCCLayer.resolveChunkBytes
    /// The range of the batch being filled (nil: empty).
    private(set) var range: KVRange?
    private(set) var batch = WriteBatch()

    init(router: RangeRouter, sync: Bool = false) {
        self.router = router
        self.sync = sync
    }

    var isEmpty: Bool { batch.isEmpty }

    /// The batch to add `key`'s write to (the previous range's batch is written when the range changes).
    mutating func add(_ key: [UInt8], _ write: (inout WriteBatch) -> Void) throws(KVError) {
        let r = router.range(for: key)
        if let range, range !== r { try flush() }
        range = r
        write(&batch)
        if batch.data.count >= bytes { try flush() }
    }

    mutating func flush() throws(KVError) {
        if let range, !batch.isEmpty { try range.write(batch, sync: sync) }
        batch = WriteBatch()
        range = nil
    }
}

/// The storage side of a `StorageTransaction` on the MVCC layout (see `MVCCLayer`): reads at a
/// timestamp, writes intents at once, resolves them after the commit point. Locks, conflict
/// checks and validation stay with `StorageTransaction` and the `TxnCoordinator`.
///
/// Memory: the keys written (for resolution and the lock table), not their values, except a
/// bounded cache of small transactions' values (so that resolving them reads nothing back) and,
/// for savepoints, the previous own value of a key written again after a mark.
final class MVCCTransaction {
    let layer: MVCCLayer
    let coordinator: TxnCoordinator
    let id: TxnID
    /// The timestamp reads see.
    var readTS: Timestamp
    /// Keys with an intent of this transaction (may hold keys a savepoint rollback cleared).
    private var written: Set<ByteKey> = []
    private var sortedWritten = SortedKeys()
    /// Intents not yet written to the engine (flushed before a read that could see them, when
    /// they reach `pendingBytesMax`, and before a write to another range).
    private var pending: RangeBatcher
    private var pendingKeys: Set<ByteKey> = []
    /// The first written key: the transaction record lives on its range (`TxnRecord`); nil
    /// until the first write.
    private(set) var anchor: [UInt8]?
    /// The spans holding the intents, listed in the record.
    private(set) var spans = IntentSpans()
    /// The ranges the intents are on: more than one makes the commit a parallel commit (STAGING).
    private var rangeIDs: Set<Int> = []
    /// Whether the group write carried a STAGING record (made COMMITTED before resolution).
    private var staged = false
    /// Whether the record must be written again (new spans or heartbeat) before more intents go out.
    private var recordStale = false
    /// Whether an intent or the record reached the engine (then the commit takes the intent path).
    private var intentsWritten = false
    /// Whether the commit under way is a one-phase commit (see `onePhase`).
    private var committingInOnePhase = false
    private var heartbeat: Int64 = 0
    /// Values of the intents, while they stay small (nil once over `cacheBytesMax`).
    private var cache: [ByteKey: [UInt8]?]? = [:]
    private var cacheBytes = 0
    static let cacheBytesMax = 256 << 10
    static let pendingBytesMax = 256 << 10
    /// The undo log: a key and its previous own intent (nil: none; .some(nil): a deletion).
    private var undo: [(key: ByteKey, before: [UInt8]??)] = []
    /// Whether the transaction takes its own row locks (transactions outside concurrency control
    /// still lock what they write, so that two intents never meet on one key).
    let locksOwnWrites: Bool

    init(layer: MVCCLayer, coordinator: TxnCoordinator, id: TxnID, readTS: Timestamp, locksOwnWrites: Bool) {
        self.layer = layer
        self.coordinator = coordinator
        self.id = id
        self.readTS = readTS
        self.locksOwnWrites = locksOwnWrites
        pending = RangeBatcher(router: layer.router)
        pending.bytes = .max  // `put` flushes, so that the record goes first
    }

    var hasWrites: Bool { !written.isEmpty }
    func wrote(_ key: ByteKey) -> Bool { written.contains(key) }
    var writtenKeys: [[UInt8]] { written.map(\.bytes) }
    var undoCount: Int { undo.count }
    /// Bytes of written values the transaction holds in memory: the bounded cache, the intents
    /// not yet sent to the engine and the previous values kept for savepoints.
    var heldValueBytes: Int {
        (cache == nil ? 0 : cacheBytes) + pending.batch.data.count + undo.reduce(0) { $0 + (($1.before ?? nil)?.count ?? 0) }
    }

    static func sqlError(_ e: KVError) -> SQLError { SQLError(e.code, e.message) }

    // MARK: Reads

    /// The user key of the transaction's record (nil before the first write).
    var recordKey: [UInt8]? { anchor.map { TxnRecord.key(id, anchor: $0) } }

    /// Writes the pending intents, after the PENDING record when it is stale: in the same engine
    /// write when it is on the intents' range, else before them. So every intent in the engine
    /// lies in the spans of the record written before it.
    private func flush() throws(SQLError) {
        pendingKeys.removeAll(keepingCapacity: true)
        if !pending.isEmpty || recordStale { intentsWritten = true }
        do {
            if recordStale, let key = recordKey {
                let record = TxnRecord(status: .pending, timestamp: readTS, heartbeat: heartbeat, spans: spans.spans)
                let range = layer.router.range(for: key)
                if pending.range == nil || pending.range === range {
                    try pending.add(key) { KVRange.putRecord(&$0, at: key, record) }
                } else {
                    var b = WriteBatch()
                    KVRange.putRecord(&b, at: key, record)
                    try range.write(b, sync: false)
                }
                recordStale = false
            }
            try pending.flush()
        } catch {
            throw MVCCTransaction.sqlError(error)
        }
    }

    private func flush(lower: [UInt8], upper: [UInt8]) throws(SQLError) {
        if pendingKeys.isEmpty { return }
        if pendingKeys.contains(where: { Value.cmpBytes($0.bytes, lower) >= 0 && Value.cmpBytes($0.bytes, upper) < 0 }) { try flush() }
    }

    func get(_ key: [UInt8]) throws(SQLError) -> [UInt8]? {
        let k = ByteKey(key)
        if written.contains(k) {
            if let cache, let v = cache[k] { return v }
            if pendingKeys.contains(k) { try flush() }
        }
        do {
            return try layer.router.range(for: key).get(key, readTS: readTS, txn: id, visibility: layer.visibility)
        } catch {
            throw MVCCTransaction.sqlError(error)
        }
    }

    /// Calls `body` with the visible pairs of `[lower, upper)` at `at` (default: the read
    /// timestamp), in key order or `reverse`, each value lent for the call
    /// (`KVRange.scanBorrowing`); returns the key where `body` stopped, if it did.
    @discardableResult
    func scan(lower: [UInt8], upper: [UInt8], reverse: Bool, at: Timestamp? = nil,
              _ body: ([UInt8], UnsafeRawBufferPointer) throws -> Bool) throws -> [UInt8]? {
        try flush(lower: lower, upper: upper)
        let ts = at ?? readTS
        let spans = layer.router.ranges(lower: lower, upper: upper)
        for s in reverse ? spans.reversed() : spans {
            if let stop = try s.range.scanBorrowing(lower: s.lower, upper: s.upper, readTS: ts, txn: id, reverse: reverse,
                                                    visibility: layer.visibility, body) {
                return stop
            }
        }
        return nil
    }

    // MARK: Writes

    /// Writes an intent (nil: a deletion) for `key`, whose lock the caller holds.
    ///
    /// - Returns: the commit timestamp of another transaction's committed intent found and
    ///   resolved on the key (the caller checks it for a write conflict).
    ///
    /// `rowLocked`: the caller holds the key's row lock (so no running transaction of this
    /// process has an intent there; without abandoned transactions the key holds none).
    func put(_ key: [UInt8], _ value: [UInt8]?, rowLocked: Bool = false) throws(SQLError) -> Timestamp? {
        let k = ByteKey(key)
        var foreign: Timestamp?
        if locksOwnWrites {
            do { try coordinator.locks.acquire(id, key: key, mode: .exclusive) } catch { throw SQLError(error.code, error.message) }
        }
        if written.contains(k) {
            // Written before: keep the previous value for a rollback to a savepoint.
            let before: [UInt8]?
            if let cache, let v = cache[k] {
                before = v
            } else {
                if pendingKeys.contains(k) { try flush() }
                do { before = try layer.router.range(for: key).intent(on: key)?.value } catch { throw MVCCTransaction.sqlError(error) }
            }
            undo.append((k, .some(before)))
        } else {
            if !rowLocked || layer.foreignIntentsPossible {
                foreign = try layer.clearForeignIntent(key, txn: id)
            }
            undo.append((k, nil))
            written.insert(k)
            sortedWritten.insert(key)
        }
        // The PENDING record is written with the intents (see `flush`): at the first write, when
        // the spans grow and when the heartbeat is half-way to expiring.
        let first = anchor == nil
        if first {
            anchor = key
            layer.began(id, anchor: key)
        }
        if spans.insert(key) { recordStale = true }
        if first || SystemClock.wallNanos() - heartbeat > layer.heartbeatTimeoutNanos / 2 {
            heartbeat = SystemClock.wallNanos()
            recordStale = true
        }
        let range = layer.router.range(for: key)
        rangeIDs.insert(range.id)
        if let current = pending.range, current !== range { try flush() }
        let id = self.id, readTS = self.readTS, anchor = self.anchor
        pendingKeys.insert(k)
        do {
            try pending.add(key) { MVCCStore.putIntent(&$0, key: key, txn: id, ts: readTS, value: value, anchor: anchor) }
        } catch {
            throw MVCCTransaction.sqlError(error)
        }
        if pending.batch.data.count >= MVCCTransaction.pendingBytesMax { try flush() }
        remember(k, value)
        return foreign
    }

    private func remember(_ k: ByteKey, _ value: [UInt8]?) {
        guard cache != nil else { return }
        cacheBytes += k.bytes.count + (value?.count ?? 0)
        if cacheBytes > MVCCTransaction.cacheBytesMax {
            cache = nil
        } else {
            cache![k] = .some(value)
        }
    }

    /// Undoes the writes after undo position `position`.
    func rollback(to position: Int) throws(SQLError) {
        try flush()
        var b = RangeBatcher(router: layer.router)
        let id = self.id, readTS = self.readTS, anchor = self.anchor
        do {
            while undo.count > position {
                let (k, before) = undo.removeLast()
                if let before {
                    try b.add(k.bytes) { MVCCStore.putIntent(&$0, key: k.bytes, txn: id, ts: readTS, value: before, anchor: anchor) }
                    if cache != nil { cache![k] = .some(before) }
                } else {
                    try b.add(k.bytes) { $0.delete(MVCCKey.encode(k.bytes, .zero)) }
                    written.remove(k)
                    cache?[k] = nil
                }
            }
            try b.flush()
        } catch {
            throw MVCCTransaction.sqlError(error)
        }
    }

    func forgetUndo() { undo.removeAll(keepingCapacity: undo.count <= 4096) }

    // MARK: End

    /// The coordinator's commit step (called once the commit is validated, under the decision
    /// locks of its ranges): the commit timestamp is `ts`; returns the record that the group write makes durable:
    /// COMMITTED, or, for a transaction whose intents are on several ranges, STAGING with the
    /// number of its intents (its in-flight writes: implicitly committed once all are durable,
    /// which the group write's sync ensures on the one engine; `resolve` then makes it explicit).
    func stamp(_ ts: Timestamp) -> WriteBatch {
        if let anchor { layer.committing(id, anchor: anchor, at: ts) }
        var b = WriteBatch()
        if committingInOnePhase, let cache {
            sortedWritten.forEach { key in
                guard let value = cache[ByteKey(key)] else { return }
                KVRange.putVersion(&b, key: key, ts: ts, value: value)
            }
            return b
        }
        if let key = recordKey {
            staged = rangeIDs.count > 1
            let record = TxnRecord(status: staged ? .staging : .committed, timestamp: ts, heartbeat: SystemClock.wallNanos(),
                                   spans: spans.spans, inFlight: staged ? written.count : nil)
            KVRange.putRecord(&b, at: key, record)
        }
        return b
    }

    /// Whether the transaction can commit in one phase: none of its intents reached the engine
    /// (they are all pending, their values cached) and they are all on one range. Its group
    /// write then carries the committed versions themselves at the commit timestamp instead of
    /// a record: no intent, record or resolution is ever written, and the group write is still
    /// the commit point (one atomic engine write on the one range). Readers cannot have met the
    /// writes before the commit, and other writers were kept off the keys by the row locks.
    var onePhase: Bool { layer.onePhaseCommits && !intentsWritten && cache != nil && rangeIDs.count == 1 }

    /// Before the commit: writes the intents not yet written, unless the commit takes one phase.
    func prepareCommit() throws(SQLError) {
        committingInOnePhase = onePhase
        if !committingInOnePhase { try flush() }
    }

    /// After the commit point: turns the intents into versions at `ts` and deletes the record.
    /// A failure leaves the committed record, whose intents readers still see and the next open resolves.
    func resolve(at ts: Timestamp) {
        // A test stop models a crash: the process does not remember the commit.
        let remember = layer.stopResolutionForTesting == nil
        defer { layer.finished(id, anchor: anchor, stagedCommit: staged && remember ? ts : nil) }
        if committingInOnePhase {
            // The versions went with the commit point: nothing to resolve.
            pending = RangeBatcher(router: layer.router)
            pendingKeys = []
            written = []
            cache = nil
            return
        }
        if layer.stopResolutionForTesting == .afterCommitPoint { return }
        if staged, let key = recordKey {
            // STAGING → COMMITTED before any intent is resolved: a STAGING record is decided by
            // counting its intents, which resolution removes.
            var b = WriteBatch()
            KVRange.putRecord(&b, at: key, TxnRecord(status: .committed, timestamp: ts, heartbeat: heartbeat, spans: spans.spans))
            do { try layer.router.range(for: key).write(b, sync: false) } catch { return }
        }
        if layer.stopResolutionForTesting == .afterExplicitCommit { return }
        var b = RangeBatcher(router: layer.router)
        var failed = false
        let id = self.id
        var cursor: IntentCursor?
        sortedWritten.forEach { key in
            let k = ByteKey(key)
            guard !failed, written.contains(k) else { return }
            let value: [UInt8]?
            if let cache, let v = cache[k] {
                value = v
            } else {
                // Values not kept: read back, in key order, with one cursor per range.
                let range = layer.router.range(for: key)
                if cursor?.range !== range { cursor = IntentCursor(range: range) }
                guard let intent = try? cursor?.intent(on: key), intent.txn == id else { return }
                value = intent.value
            }
            do {
                try b.add(key) {
                    $0.delete(MVCCKey.encode(key, .zero))
                    KVRange.putVersion(&$0, key: key, ts: ts, value: value)
                }
            } catch {
                failed = true
            }
        }
        do {
            if failed { return }
            // The record goes with the last intents (or after them, in its own range's batch).
            if let key = recordKey { try b.add(key) { $0.delete(MVCCKey.encode(key, .zero)) } }
            try b.flush()
        } catch {
            return
        }
        written = []
        cache = nil
    }

    /// Removes the intents and the record (a rollback, or a commit that failed).
    func abort() {
        defer { layer.finished(id, anchor: anchor) }
        pending = RangeBatcher(router: layer.router)
        pendingKeys = []
        // Nothing reached the engine: nothing to remove.
        guard intentsWritten, let key = recordKey else { return }
        var b = RangeBatcher(router: layer.router)
        sortedWritten.forEach { key in
            guard written.contains(ByteKey(key)) else { return }
            try? b.add(key) { $0.delete(MVCCKey.encode(key, .zero)) }
        }
        try? b.add(key) { $0.delete(MVCCKey.encode(key, .zero)) }
        try? b.flush()
        written = []
    }

    /// Test hook: leaves the transaction's intents and PENDING record behind as a crashed
    /// process would (its heartbeat then expires).
    func abandon() {
        try? flush()
        layer.noteAbandoned()
        layer.finished(id, anchor: anchor)
        written = []
    }
}
