import ApusCore
import ApusStorage

/// The transactional key-value interface the executor reads and writes through.
///
/// Contract: reads see a consistent snapshot taken when the transaction began, overlaid with
/// the transaction's own writes (read-your-writes); `scan` returns keys in ascending byte
/// order within `[lower, upper)`; nothing is visible to others until `commit`, which applies
/// every write atomically or none; after `commit` or `rollback` the transaction is finished.
/// A later implementation (MVCC intents, serializable isolation) replaces the conforming type
/// without changing the executor.
public protocol KVTransaction: AnyObject {
    /// The value under `key`, or nil.
    func get(_ key: [UInt8]) throws(SQLError) -> [UInt8]?
    /// Every key-value pair with `lower <= key < upper`, in key order.
    func scan(lower: [UInt8], upper: [UInt8]) throws(SQLError) -> [(key: [UInt8], value: [UInt8])]
    /// Calls `body` with every key-value pair with `lower <= key < upper`, in key order,
    /// without collecting them first; `body` returns false to stop early.
    func scanEach(lower: [UInt8], upper: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws
    /// Writes `value` under `key`.
    func put(_ key: [UInt8], _ value: [UInt8])
    /// Deletes `key`.
    func delete(_ key: [UInt8])
    /// Applies the writes atomically and durably.
    func commit() throws(SQLError)
    /// Discards the writes.
    func rollback()
    /// The transaction's pending vector-index changes, when vector indexes are maintained.
    var vectorState: VectorTxState? { get }
    /// The transaction's writes so far, to return to with `rollback(to:)` (a savepoint).
    func mark() -> TransactionMark
    /// Undoes every write made after `mark`.
    func rollback(to mark: TransactionMark)
    /// The session's interrupt, checked by the executor's row loops (nil: never interrupted).
    var interrupt: StatementInterrupt? { get }
}

extension KVTransaction {
    public var interrupt: StatementInterrupt? { nil }
}

extension KVTransaction {
    public func scanEach(lower: [UInt8], upper: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        for (k, v) in try scan(lower: lower, upper: upper) where try !body(k, v) { return }
    }
}

/// A point in a transaction's writes (see `KVTransaction.mark()`).
public struct TransactionMark {
    let writes: [[UInt8]: [UInt8]?]
    let vectorChanges: VectorTxChanges?
}

/// v1 transaction: a storage snapshot for reads plus a buffered write set committed with one
/// synced `WriteBatch`. Writers are serialized by the caller (one global lock), so there are no
/// write-write conflicts to detect.
public final class StorageTransaction: KVTransaction {
    private let engine: StorageEngine
    private let snapshot: Snapshot
    private var writes: [[UInt8]: [UInt8]?] = [:]
    private var finished = false
    public let vectorState: VectorTxState?
    public let interrupt: StatementInterrupt?

    /// Begins a transaction on `engine`; with `vectors`, vector-index changes are applied to
    /// them when the transaction commits; with `interrupt`, long scans stop when it fires.
    public init(engine: StorageEngine, vectors: VectorIndexes? = nil, interrupt: StatementInterrupt? = nil) {
        self.engine = engine
        self.snapshot = engine.snapshot()
        self.vectorState = vectors.map { VectorTxState(indexes: $0, engine: engine) }
        self.interrupt = interrupt
    }

    static func storageError(_ e: StorageError) -> SQLError {
        SQLError(.ioError, "storage error: \(e)")
    }

    public func get(_ key: [UInt8]) throws(SQLError) -> [UInt8]? {
        if let w = writes[key] { return w }
        do { return try engine.get(key, snapshot: snapshot) } catch { throw StorageTransaction.storageError(error) }
    }

    public func scan(lower: [UInt8], upper: [UInt8]) throws(SQLError) -> [(key: [UInt8], value: [UInt8])] {
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
        let local = writes.filter { Value.cmpBytes($0.key, lower) >= 0 && Value.cmpBytes($0.key, upper) < 0 }
        if local.isEmpty { return base }
        let localKeys = local.keys.sorted { Value.cmpBytes($0, $1) < 0 }
        var out: [(key: [UInt8], value: [UInt8])] = []
        out.reserveCapacity(base.count + localKeys.count)
        var i = 0, j = 0
        while i < base.count || j < localKeys.count {
            if j >= localKeys.count || (i < base.count && Value.cmpBytes(base[i].key, localKeys[j]) < 0) {
                out.append(base[i]); i += 1
            } else {
                let k = localKeys[j]
                if i < base.count && base[i].key == k { i += 1 }
                if let v = local[k], let v { out.append((k, v)) }
                j += 1
            }
        }
        return out
    }

    public func scanEach(lower: [UInt8], upper: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        // With writes of its own in the range, merge them in the collecting scan.
        if writes.keys.contains(where: { Value.cmpBytes($0, lower) >= 0 && Value.cmpBytes($0, upper) < 0 }) {
            for (k, v) in try scan(lower: lower, upper: upper) where try !body(k, v) { return }
            return
        }
        let it: StorageIterator
        do {
            it = try engine.makeIterator(IteratorOptions(lowerBound: lower, upperBound: upper), snapshot: snapshot)
            try it.seek(lower)
        } catch {
            throw StorageTransaction.storageError(error)
        }
        while it.isValid {
            guard try body(it.key, it.value) else { return }
            do { try it.next() } catch { throw StorageTransaction.storageError(error) }
        }
    }

    public func mark() -> TransactionMark { TransactionMark(writes: writes, vectorChanges: vectorState?.changes) }

    public func rollback(to mark: TransactionMark) {
        writes = mark.writes
        if let c = mark.vectorChanges { vectorState?.changes = c }
    }

    public func put(_ key: [UInt8], _ value: [UInt8]) { writes[key] = .some(value) }

    public func delete(_ key: [UInt8]) { writes[key] = .some(nil) }

    public func commit() throws(SQLError) {
        guard !finished else { return }
        finished = true
        if !writes.isEmpty {
            var batch = WriteBatch()
            for (k, v) in writes {
                if let v { batch.put(k, v) } else { batch.delete(k) }
            }
            writes = [:]
            guard batch.data.count <= engine.batchBytesMax else {
                vectorState?.rolledBack()
                throw SQLError(
                    .programLimitExceeded,
                    "transaction too large: its writes take \(batch.data.count) bytes, more than the \(engine.batchBytesMax) bytes "
                        + "one commit may write (split the work, or give the server a larger memtable)")
            }
            do { try engine.write(batch, sync: true) } catch {
                vectorState?.rolledBack()
                throw StorageTransaction.storageError(error)
            }
        }
        vectorState?.committed()
    }

    public func rollback() {
        finished = true
        writes = [:]
        vectorState?.rolledBack()
    }
}
