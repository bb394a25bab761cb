import ApusCore
import ApusStorage
import struct ApusKV.KVError
import enum ApusKV.LockMode
import typealias ApusKV.TxnID

extension SQLState {
    /// Internal: a READ COMMITTED statement met a row committed after its snapshot and runs
    /// again on a fresh one (the session catches it; clients never see it).
    static let statementRestart = SQLState("XXR01")
    static let readOnlyTransaction = SQLState("25006")
    static let snapshotTooOld = SQLState("72000")
}

/// A transaction over a storage snapshot with a buffered write set, committed as one synced
/// batch.
///
/// With a `TxnCoordinator` (every session transaction) it is concurrency-controlled: writes and
/// row locks go through the lock table, conflicts are detected as the coordinator describes,
/// and SERIALIZABLE transactions record what they read for validation at commit. Without one
/// (catalog loads, tools that own the engine) it is a private snapshot whose commit writes
/// directly.
public final class StorageTransaction: KVTransaction {
    private let engine: StorageEngine
    private var lease: SnapshotLease
    private var writes: [ByteKey: [UInt8]?] = [:]
    /// The undo log of `writes`: each write's key and what `writes` held for it before (nil:
    /// nothing). A mark is a position in it, so taking one is free and rolling back to it costs
    /// the writes made since (marks used to be copies of `writes`, and the first write after
    /// each statement's mark copied the whole write set).
    private var undo: [(key: ByteKey, before: [UInt8]??)] = []
    /// Bumped whenever `undo` is forgotten, so that a mark from before cannot be misapplied.
    private var undoEpoch = 0
    /// The keys of `writes` in byte order, for scans. It may still hold keys that a rollback to
    /// a savepoint removed from `writes`; `localWrites` skips them. (Scans used to filter the
    /// whole write set, which made a transaction that checks a unique index per written row
    /// quadratic.)
    private var sortedKeys = SortedKeys()
    /// Unique-index values claimed (`claimUnique`): committed with the written keys, so that a
    /// transaction that waited for the claim sees the conflict.
    private var claims: Set<ByteKey> = []
    /// `claims` in the order they were made, so that ROLLBACK TO SAVEPOINT drops the later ones.
    private var claimOrder: [ByteKey] = []
    private var finished = false
    public let vectorState: VectorTxState?
    public let interrupt: StatementInterrupt?

    // Concurrency control (nil coordinator: none).
    let coordinator: TxnCoordinator?
    /// The identity in the lock table.
    public let id: TxnID
    /// The isolation level; READ UNCOMMITTED runs as READ COMMITTED (as in PostgreSQL).
    public private(set) var isolation: IsolationLevel
    /// Read-only: writes fail with 25006; set by BEGIN READ ONLY and AS OF SYSTEM TIME.
    var readOnly = false
    /// A time-travel transaction (AS OF SYSTEM TIME): its snapshot is fixed in the past.
    private(set) var historical = false
    /// Seconds a lock wait may last (lock_timeout); nil: no limit.
    var lockTimeout: Double?
    /// Whether the commit changes the catalog (other sessions reload theirs).
    var bumpsGeneration = false
    /// The catalog generation the snapshot holds.
    let generation: Int
    /// The statistics generation when the transaction began (see `TxnCoordinator.bumpStatistics`).
    let statisticsGeneration: Int
    /// Whether the transaction stored statistics (ANALYZE): its commit bumps the generation.
    var storesStatistics = false
    private var start: UInt64
    private var reads: Set<ByteKey> = []
    private var ranges: [(lower: [UInt8], upper: [UInt8])] = []
    private var schemaLock: LockMode?
    /// Whether the transaction ever asked the lock table for a lock (a read-only one never
    /// does, and then ends without visiting the lock table).
    private var mayHoldLocks = false
    /// Whether any statement ran (SET TRANSACTION must come first).
    var started = false
    /// The storage side on the MVCC layout (see `MVCCLayer`); nil on the sequence layout.
    let mvcc: MVCCTransaction?
    /// The coordinator that orders this transaction's commit: `coordinator`, or on the MVCC
    /// layout the engine's, also for transactions outside concurrency control.
    private let control: TxnCoordinator?

    /// The lock key that DDL takes exclusively and writing transactions share: a schema change
    /// waits for open writers and blocks new ones until it commits.
    static let schemaLockKey: [UInt8] = [0x00] + Array("schema-lock".utf8)

    /// Begins a transaction on `engine`; with `vectors`, vector-index changes are applied to
    /// them when the transaction commits; with `interrupt`, long scans and lock waits stop when
    /// it fires; with `coordinator`, under concurrency control at `isolation`.
    public init(
        engine: StorageEngine, vectors: VectorIndexes? = nil, interrupt: StatementInterrupt? = nil,
        coordinator: TxnCoordinator? = nil, isolation: IsolationLevel = .serializable
    ) {
        self.engine = engine
        self.vectorState = vectors.map { VectorTxState(indexes: $0, engine: engine) }
        self.interrupt = interrupt
        self.coordinator = coordinator
        self.isolation = isolation == .readUncommitted ? .readCommitted : isolation
        control = coordinator ?? (engine.comparator == .mvcc ? TxnCoordinator.shared(engine) : nil)
        if let control {
            let b = control.begin()
            id = b.id
            lease = b.snapshot
            start = b.start
            generation = b.generation
            statisticsGeneration = b.statistics
            mvcc = control.mvcc.map {
                MVCCTransaction(layer: $0, coordinator: control, id: b.id, readTS: b.readTS, locksOwnWrites: coordinator == nil)
            }
        } else {
            mvcc = nil
            id = 0
            lease = SnapshotLease(engine.snapshot())
            start = 0
            generation = 0
            statisticsGeneration = 0
        }
    }

    deinit {
        if !finished { rollback() }
    }

    static func storageError(_ e: StorageError) -> SQLError {
        SQLError(.ioError, "storage error: \(e)")
    }

    private var tracksReads: Bool { coordinator != nil && isolation == .serializable && !historical }

    // MARK: Transaction settings

    /// Changes the isolation level (SET TRANSACTION, before the first statement).
    func setIsolation(_ level: IsolationLevel) {
        isolation = level == .readUncommitted ? .readCommitted : level
    }

    /// Reads at `snapshot` from now on (AS OF SYSTEM TIME); the transaction becomes read-only.
    func travel(to snapshot: Snapshot) {
        lease = SnapshotLease(snapshot)
        historical = true
        readOnly = true
    }

    /// MVCC layout: reads at `ts` from now on (AS OF SYSTEM TIME); the transaction becomes read-only.
    func travel(at ts: Timestamp) {
        mvcc?.readTS = ts
        historical = true
        readOnly = true
    }

    /// Whether the transaction runs on the MVCC layout.
    var isMVCC: Bool { mvcc != nil }

    /// Whether the snapshot sees every commit up to number `n` of the coordinator's commit
    /// order (`TxnCoordinator.appliedCommits`); never for a snapshot in the past (AS OF SYSTEM TIME).
    func sees(commit n: UInt64) -> Bool { !historical && n <= start }

    /// The start of a statement: READ COMMITTED takes a fresh snapshot.
    func beginStatement() {
        started = true
        guard let coordinator, isolation == .readCommitted, !historical else { return }
        let r = coordinator.refresh(id, start)
        lease = r.snapshot
        start = r.start
        mvcc?.readTS = r.readTS
    }

    // MARK: Reads

    public func get(_ key: [UInt8]) throws(SQLError) -> [UInt8]? {
        let k = ByteKey(key)
        if let w = writes[k] { return w }
        if tracksReads { reads.insert(k) }
        if let mvcc {
            try lease.check()
            return try mvcc.get(key)
        }
        let snapshot = try lease.get()
        do { return try engine.get(key, snapshot: snapshot) } catch { throw StorageTransaction.storageError(error) }
    }

    public func scan(lower: [UInt8], upper: [UInt8]) throws(SQLError) -> [(key: [UInt8], value: [UInt8])] {
        if tracksReads { ranges.append((lower, upper)) }
        if let mvcc { return try mvccCollect(mvcc, lower, upper, at: nil) }
        return try scan(lower: lower, upper: upper, at: try lease.get())
    }

    private func mvccCollect(_ mvcc: MVCCTransaction, _ lower: [UInt8], _ upper: [UInt8], at: Timestamp?)
        throws(SQLError) -> [(key: [UInt8], value: [UInt8])] {
        try lease.check()
        var out: [(key: [UInt8], value: [UInt8])] = []
        let interrupt = self.interrupt
        do {
            try mvcc.scan(lower: lower, upper: upper, reverse: false, at: at) { k, v in
                out.append((k, Array(v)))
                if out.count & 1023 == 0, let interrupt { try interrupt.check() }
                return true
            }
        } catch let e as SQLError {
            throw e
        } catch let e as KVError {
            throw SQLError(e.code, e.message)
        } catch {
            throw SQLError(.internalError, "\(error)")
        }
        return out
    }

    public func scanLatest(lower: [UInt8], upper: [UInt8]) throws(SQLError) -> [(key: [UInt8], value: [UInt8])] {
        if tracksReads { ranges.append((lower, upper)) }
        if let mvcc, let control { return try mvccCollect(mvcc, lower, upper, at: control.readTimestamp()) }
        return try scan(lower: lower, upper: upper, at: engine.snapshot())
    }

    private func scan(lower: [UInt8], upper: [UInt8], at snapshot: Snapshot) throws(SQLError) -> [(key: [UInt8], value: [UInt8])] {
        var base: [(key: [UInt8], value: [UInt8])] = []
        do {
            let it = try engine.makeIterator(IteratorOptions(lowerBound: lower, upperBound: upper), snapshot: snapshot)
            try it.seek(lower)
            while it.isValid {
                base.append((it.key, it.value))
                if base.count & 1023 == 0, let interrupt { try interrupt.check() }
                try it.next()
            }
        } catch let e as StorageError {
            throw StorageTransaction.storageError(e)
        } catch let e as SQLError {
            throw e
        } catch {
            throw SQLError(.internalError, "\(error)")
        }
        let local = localWrites(lower, upper)
        if local.isEmpty { return base }
        var out: [(key: [UInt8], value: [UInt8])] = []
        out.reserveCapacity(base.count + local.count)
        var i = 0, j = 0
        while i < base.count || j < local.count {
            if j >= local.count || (i < base.count && Value.cmpBytes(base[i].key, local[j].key) < 0) {
                out.append(base[i]); i += 1
            } else {
                let k = local[j].key
                if i < base.count && base[i].key == k { i += 1 }
                if let v = local[j].value { out.append((k, v)) }
                j += 1
            }
        }
        return out
    }

    /// This transaction's writes (nil: deleted) to keys in [lower, upper), in key order.
    private func localWrites(_ lower: [UInt8], _ upper: [UInt8]) -> [(key: [UInt8], value: [UInt8]?)] {
        if writes.isEmpty { return [] }
        var out: [(key: [UInt8], value: [UInt8]?)] = []
        for k in sortedKeys.range(lower, upper) {
            if let v = writes[ByteKey(k)] { out.append((k, v)) }
        }
        return out
    }

    public func scanEach(lower: [UInt8], upper: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        if let mvcc {
            try mvccScanEach(mvcc, lower, upper, reverse: false) { k, v in try body(k, Array(v)) }
            return
        }
        // With writes of its own in the range, merge them in the collecting scan.
        if !localWrites(lower, upper).isEmpty {
            for (k, v) in try scan(lower: lower, upper: upper) where try !body(k, v) { return }
            return
        }
        let it: StorageIterator
        let snapshot = try lease.get()
        do {
            it = try engine.makeIterator(IteratorOptions(lowerBound: lower, upperBound: upper), snapshot: snapshot)
            try it.seek(lower)
        } catch {
            throw StorageTransaction.storageError(error)
        }
        while it.isValid {
            guard try body(it.key, it.value) else {
                // Stopped early: what was read is [lower, this key].
                if tracksReads { ranges.append((lower, it.key + [0])) }
                return
            }
            do { try it.next() } catch { throw StorageTransaction.storageError(error) }
        }
        if tracksReads { ranges.append((lower, upper)) }
    }

    public func scanEachBorrowing(lower: [UInt8], upper: [UInt8], _ body: ([UInt8], UnsafeRawBufferPointer) throws -> Bool) throws {
        if let mvcc {
            try mvccScanEach(mvcc, lower, upper, reverse: false, body)
            return
        }
        try scanEach(lower: lower, upper: upper) { k, v in try v.withUnsafeBytes { try body(k, $0) } }
    }

    /// `scanEach` (or in `reverse`) on the MVCC layout, values lent; records the span read.
    private func mvccScanEach(_ mvcc: MVCCTransaction, _ lower: [UInt8], _ upper: [UInt8], reverse: Bool,
                              _ body: ([UInt8], UnsafeRawBufferPointer) throws -> Bool) throws {
        try lease.check()
        if let stop = try mvcc.scan(lower: lower, upper: upper, reverse: reverse, body) {
            // Stopped early: what was read is [lower, this key] (reverse: [this key, upper)).
            if tracksReads { ranges.append(reverse ? (stop, upper) : (lower, stop + [0])) }
        } else if tracksReads {
            ranges.append((lower, upper))
        }
    }

    public func scanEachReverse(lower: [UInt8], upper: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        if let mvcc {
            try mvccScanEach(mvcc, lower, upper, reverse: true) { k, v in try body(k, Array(v)) }
            return
        }
        if !localWrites(lower, upper).isEmpty {
            for (k, v) in try scan(lower: lower, upper: upper).reversed() where try !body(k, v) { return }
            return
        }
        let it: StorageIterator
        let snapshot = try lease.get()
        do {
            it = try engine.makeIterator(IteratorOptions(lowerBound: lower, upperBound: upper), snapshot: snapshot)
            try it.seekToLast()
        } catch {
            throw StorageTransaction.storageError(error)
        }
        while it.isValid {
            guard try body(it.key, it.value) else {
                // Stopped early: what was read is [this key, upper).
                if tracksReads { ranges.append((it.key, upper)) }
                return
            }
            do { try it.prev() } catch { throw StorageTransaction.storageError(error) }
        }
        if tracksReads { ranges.append((lower, upper)) }
    }

    // MARK: Writes and locks

    public func mark() -> TransactionMark {
        TransactionMark(position: mvcc?.undoCount ?? undo.count, epoch: undoEpoch, vectorChanges: vectorState?.changes, claims: claimOrder.count)
    }

    public func rollback(to mark: TransactionMark) {
        precondition(mark.epoch == undoEpoch && mark.position <= (mvcc?.undoCount ?? undo.count),
                     "rollback to a mark whose undo log was forgotten")
        // An intent that cannot be restored fails the transaction at commit (see `mvccFailure`).
        do { try mvcc?.rollback(to: mark.position) } catch { mvccFailure = error }
        while undo.count > mark.position {
            let (key, before) = undo.removeLast()
            if let before { writes[key] = .some(before) } else { writes.removeValue(forKey: key) }
        }
        if let c = mark.vectorChanges { vectorState?.changes = c }
        // A claim made after the mark belonged to a write that is undone: committing it would
        // fail other writers of the value (40001) for nothing. Its lock stays until the end.
        while claimOrder.count > mark.claims { claims.remove(claimOrder.removeLast()) }
    }

    /// Drops the undo log: no mark taken so far will be rolled back to.
    public func forgetMarks() {
        if let mvcc {
            if mvcc.undoCount == 0 { return }
            mvcc.forgetUndo()
            undoEpoch += 1
            return
        }
        if undo.isEmpty { return }
        undo.removeAll(keepingCapacity: undo.count <= 4096)
        undoEpoch += 1
    }

    public func put(_ key: [UInt8], _ value: [UInt8]) throws(SQLError) {
        let k = ByteKey(key)
        try lockForWrite(k)
        if let mvcc { return try mvccWrite(mvcc, key, value) }
        let before = writes.updateValue(.some(value), forKey: k)
        if before == nil { sortedKeys.insert(key) }
        undo.append((k, before))
    }

    public func delete(_ key: [UInt8]) throws(SQLError) {
        let k = ByteKey(key)
        try lockForWrite(k)
        if let mvcc { return try mvccWrite(mvcc, key, nil) }
        let before = writes.updateValue(Optional<[UInt8]>.none, forKey: k)
        if before == nil { sortedKeys.insert(key) }
        undo.append((k, before))
    }

    /// An MVCC write: the intent goes to the engine at once; a committed intent of a transaction
    /// no longer running, found on the key, is resolved first and checked as a write conflict.
    private func mvccWrite(_ mvcc: MVCCTransaction, _ key: [UInt8], _ value: [UInt8]?) throws(SQLError) {
        if readOnly && coordinator == nil { throw readOnlyError() }
        // Under the exclusive schema lock DDL writes without row locks (see `lockForWrite`), but
        // no other running transaction can have written either: every writer holds the schema
        // lock shared until it ends. Either lock rules out a running transaction's intent on the
        // key (abandoned ones are `MVCCLayer.foreignIntentsPossible`'s business), which spares
        // a table rewrite a lookup per row.
        let rowLocked = coordinator != nil
        if let ts = try mvcc.put(key, value, rowLocked: rowLocked), ts > mvcc.readTS, coordinator != nil { try conflict() }
    }

    /// A failure of the MVCC layout while undoing to a savepoint: the commit fails with it.
    private var mvccFailure: SQLError?

    /// Takes the schema lock for DDL (exclusive) or for writing (shared).
    func lockSchema(exclusive: Bool) throws(SQLError) {
        guard let coordinator else { return }
        if readOnly { throw readOnlyError() }
        if schemaLock == .exclusive || (schemaLock == .shared && !exclusive) { return }
        try acquire(StorageTransaction.schemaLockKey, exclusive ? .exclusive : .shared, .wait)
        schemaLock = exclusive ? .exclusive : .shared
        if coordinator.catalogGeneration != generation {
            coordinator.noteSerializationFailure()
            throw SQLError(.serializationFailure, "could not serialize access: the schema changed while the transaction ran")
        }
    }

    private func readOnlyError() -> SQLError {
        SQLError(.readOnlyTransaction, historical
                 ? "cannot write in a transaction that reads AS OF SYSTEM TIME"
                 : "cannot execute a write in a read-only transaction")
    }

    private func lockForWrite(_ key: ByteKey) throws(SQLError) {
        guard let coordinator else { return }
        if readOnly { throw readOnlyError() }
        if writes[key] != nil || mvcc?.wrote(key) == true { return }  // locked and checked by an earlier write
        if schemaLock == nil { try lockSchema(exclusive: false) }
        // Under the exclusive schema lock (DDL, and whatever follows it in the transaction) no
        // other transaction can write, since every writer holds the schema lock shared: row
        // locks would only cost a lock-table entry per written key (ALTER TABLE rewrites,
        // COPY into a table created in the same transaction).
        if schemaLock != .exclusive { try acquire(key.bytes, .exclusive, .wait) }
        if coordinator.writtenSince(key, start, readTS: mvcc?.readTS) { try conflict() }
    }

    public func claimUnique(_ key: [UInt8]) throws(SQLError) {
        guard let coordinator else { return }
        if readOnly { throw readOnlyError() }
        let k = ByteKey(key)
        if claims.contains(k) { return }
        if schemaLock == nil { try lockSchema(exclusive: false) }
        if schemaLock != .exclusive { try acquire(key, .exclusive, .wait) }
        claims.insert(k)
        claimOrder.append(k)
        if coordinator.writtenSince(k, start, readTS: mvcc?.readTS) { try conflict() }
    }

    public func lockRow(_ key: [UInt8], _ strength: RowLockStrength, _ wait: RowLockWait) throws(SQLError) -> Bool {
        guard let coordinator else { return true }
        if historical { throw readOnlyError() }
        if writes[ByteKey(key)] != nil || mvcc?.wrote(ByteKey(key)) == true { return true }
        // Row lockers hold the schema lock shared, as writers do, so that DDL (which then
        // writes without row locks) waits for them.
        if schemaLock == nil { try lockSchema(exclusive: false) }
        if schemaLock == .exclusive { return true }
        do {
            try acquire(key, strength == .update ? .exclusive : .shared, wait)
        } catch where error.sqlState == .lockNotAvailable && wait == .skipLocked {
            return false
        }
        if coordinator.writtenSince(ByteKey(key), start, readTS: mvcc?.readTS) { try conflict() }
        return true
    }

    private func conflict() throws(SQLError) {
        if isolation == .readCommitted {
            throw SQLError(.statementRestart, "a row changed after the statement's snapshot; the statement runs again")
        }
        coordinator?.noteSerializationFailure()
        throw SQLError(.serializationFailure, "could not serialize access due to concurrent update")
    }

    private func acquire(_ key: [UInt8], _ mode: LockMode, _ wait: RowLockWait) throws(SQLError) {
        guard let coordinator else { return }
        mayHoldLocks = true
        let interrupt = self.interrupt
        do {
            try coordinator.locks.acquire(
                id, key: key, mode: mode, timeout: lockTimeout, nowait: wait != .wait,
                stop: interrupt.map { i in
                    { () -> KVError? in
                        guard let reason = i.reason else { return nil }
                        let e = StatementInterrupt.error(reason)
                        return KVError(e.sqlState, e.message)
                    }
                },
                snapshot: isolation == .readCommitted || key == StorageTransaction.schemaLockKey ? nil : start)
        } catch {
            if error.code == .serializationFailure { coordinator.noteSerializationFailure() }
            throw SQLError(error.code, error.message)
        }
    }

    public func updateOutside(_ key: [UInt8], _ body: ([UInt8]?) throws(SQLError) -> [UInt8]) throws(SQLError) {
        if coordinator == nil, let mvcc, !mvcc.wrote(ByteKey(key)) {
            try control?.updateOutside(key, body)
            return
        }
        guard let coordinator, writes[ByteKey(key)] == nil, mvcc?.wrote(ByteKey(key)) != true else {
            try put(key, try body(try get(key)))
            return
        }
        if readOnly { throw readOnlyError() }
        try coordinator.updateOutside(key, body)
    }

    // MARK: End

    public func commit() throws(SQLError) {
        guard !finished else { return }
        finished = true
        var committed: UInt64?
        var keys: [[UInt8]] = []
        defer {
            if let committed {
                control?.locks.releaseAll(id, committed: keys, at: committed)
            } else if mayHoldLocks || mvcc?.locksOwnWrites == true {
                control?.locks.releaseAll(id)
            }
        }
        if let mvcc { return try commitMVCC(mvcc, &committed, &keys) }
        if writes.isEmpty {
            coordinator?.end(id, start)
            vectorState?.committed()
            return
        }
        var batch = WriteBatch()
        // In key order: the memtable's skiplist inserts a key that follows the previous one
        // without searching from the top (a bulk load's batch was in hash order).
        sortedKeys.forEach { k in
            guard let v = writes[ByteKey(k)] else { return }
            if let v { batch.put(k, v) } else { batch.delete(k) }
        }
        keys = writes.keys.map(\.bytes) + claims.map(\.bytes)
        writes = [:]
        undo = []
        sortedKeys = SortedKeys()
        // A commit larger than the memtable is fine (the engine gives it memtables of its own);
        // the bound is what one WAL record holds, less room for the time map's keys.
        let bytesMax = engine.batchBytesMax - TxnCoordinator.historyBytesMax
        guard batch.data.count <= bytesMax else {
            coordinator?.end(id, start)
            vectorState?.rolledBack()
            throw SQLError(
                .programLimitExceeded,
                "transaction too large: its writes take \(batch.data.count) bytes, more than the \(bytesMax) bytes "
                    + "one commit may write (one WAL record); split the work")
        }
        if let coordinator {
            let readSet = tracksReads ? TxnCoordinator.ReadSet(keys: reads, ranges: ranges) : nil
            do {
                committed = try coordinator.commit(id: id, batch: batch, keys: keys, reads: readSet, start: start,
                                                   bumpsGeneration: bumpsGeneration, exclusiveDDL: schemaLock == .exclusive)
                if storesStatistics { coordinator.bumpStatistics() }
            } catch {
                vectorState?.rolledBack()
                throw error
            }
        } else {
            do { try engine.write(batch, sync: true) } catch {
                vectorState?.rolledBack()
                throw StorageTransaction.storageError(error)
            }
        }
        vectorState?.committed()
    }

    /// The MVCC commit: validation and the COMMITTED record through the coordinator (the commit
    /// point), then intent resolution; the caller releases the locks after it.
    private func commitMVCC(_ mvcc: MVCCTransaction, _ committed: inout UInt64?, _ keys: inout [[UInt8]]) throws(SQLError) {
        guard let control else { return }
        if let mvccFailure {
            mvcc.abort()
            control.end(id, start)
            vectorState?.rolledBack()
            throw mvccFailure
        }
        if !mvcc.hasWrites {
            control.end(id, start)
            vectorState?.committed()
            return
        }
        keys = mvcc.writtenKeys + claims.map(\.bytes)
        var commitTS: Timestamp?
        do {
            try mvcc.prepareCommit()
        } catch {
            mvcc.abort()
            control.end(id, start)
            vectorState?.rolledBack()
            throw error
        }
        do {
            let readSet = tracksReads ? TxnCoordinator.ReadSet(keys: reads, ranges: ranges) : nil
            committed = try control.commit(id: id, batch: WriteBatch(), keys: keys, reads: readSet, start: start,
                                           readTS: mvcc.readTS, bumpsGeneration: bumpsGeneration,
                                           exclusiveDDL: schemaLock == .exclusive,
                                           anchor: mvcc.anchor) { ts in
                commitTS = ts
                return mvcc.stamp(ts)
            }
            if storesStatistics { control.bumpStatistics() }
        } catch {
            // Validation failed (nothing written), or the record could not be written; the
            // coordinator ended the transaction's start point either way.
            mvcc.layer.commitFailureHookForTesting?()
            mvcc.abort()
            vectorState?.rolledBack()
            throw error
        }
        if let commitTS { mvcc.resolve(at: commitTS) }
        vectorState?.committed()
    }

    /// Test hook (MVCC layout): ends the transaction as a crashed process would, leaving its
    /// intents and PENDING record (whose heartbeat then expires) for others to clean up.
    func abandonForTesting() {
        guard !finished, let mvcc else { return }
        finished = true
        mvcc.abandon()
        control?.end(id, start)
        control?.locks.releaseAll(id)
    }

    public func rollback() {
        guard !finished else { return }
        finished = true
        if let mvcc {
            mvcc.abort()
            vectorState?.rolledBack()
            control?.end(id, start)
            if mayHoldLocks || mvcc.locksOwnWrites { control?.locks.releaseAll(id) }
            return
        }
        writes = [:]
        undo = []
        sortedKeys = SortedKeys()
        vectorState?.rolledBack()
        coordinator?.end(id, start)
        if mayHoldLocks { coordinator?.locks.releaseAll(id) }
    }
}
