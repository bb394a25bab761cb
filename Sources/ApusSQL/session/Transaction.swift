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
    /// `scanEach` with each value lent to `body` rather than given as an array: the bytes are
    /// valid only during the call, so a caller that decodes them in place copies nothing.
    func scanEachBorrowing(lower: [UInt8], upper: [UInt8], _ body: ([UInt8], UnsafeRawBufferPointer) throws -> Bool) throws
    /// `scanEach` in descending key order (from the last key below `upper` down to `lower`).
    func scanEachReverse(lower: [UInt8], upper: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws
    /// Writes `value` under `key`. Under concurrency control this first takes the key's
    /// exclusive lock (waiting behind other writers) and fails when another transaction
    /// committed the key after the snapshot (see `TxnCoordinator`).
    func put(_ key: [UInt8], _ value: [UInt8]) throws(SQLError)
    /// Deletes `key` (locking as `put`).
    func delete(_ key: [UInt8]) throws(SQLError)
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
    /// Promises that no mark taken so far will be rolled back to, so the record kept for them
    /// can go (a statement finished and no savepoint is open).
    func forgetMarks()
    /// The session's interrupt, checked by the executor's row loops (nil: never interrupted).
    var interrupt: StatementInterrupt? { get }
    /// Locks the row stored under `key` (SELECT ... FOR UPDATE/SHARE); false when `wait` is
    /// `.skipLocked` and another transaction holds a conflicting lock.
    ///
    /// - Throws: 55P03 (NOWAIT, lock_timeout), 40P01 (deadlock), 40001 when the row changed
    ///   after the snapshot (REPEATABLE READ, SERIALIZABLE), a statement restart (READ COMMITTED).
    func lockRow(_ key: [UInt8], _ strength: RowLockStrength, _ wait: RowLockWait) throws(SQLError) -> Bool
    /// Replaces the value under `key` with `body(latest value)` outside the transaction: at
    /// once, visible to every later transaction and not undone by a rollback (sequences and
    /// hidden row IDs, as PostgreSQL's nextval). Concurrent calls on one engine run one at a time.
    func updateOutside(_ key: [UInt8], _ body: ([UInt8]?) throws(SQLError) -> [UInt8]) throws(SQLError)
    /// Claims a value of a unique index (`key`: the index entry's prefix without the row's
    /// primary key) before checking it is free: another transaction writing the same value
    /// waits until this one ends, and then fails (40001, or a statement restart at READ
    /// COMMITTED, which then sees the committed row and reports 23505).
    func claimUnique(_ key: [UInt8]) throws(SQLError)
    /// Like `scan`, but over the newest committed state (plus this transaction's writes)
    /// instead of the snapshot: what foreign-key checks of referencing rows must see.
    func scanLatest(lower: [UInt8], upper: [UInt8]) throws(SQLError) -> [(key: [UInt8], value: [UInt8])]
}

extension KVTransaction {
    public var interrupt: StatementInterrupt? { nil }
    public func lockRow(_ key: [UInt8], _ strength: RowLockStrength, _ wait: RowLockWait) throws(SQLError) -> Bool { true }
    public func claimUnique(_ key: [UInt8]) throws(SQLError) {}
    public func updateOutside(_ key: [UInt8], _ body: ([UInt8]?) throws(SQLError) -> [UInt8]) throws(SQLError) {
        try put(key, try body(try get(key)))
    }
    public func scanLatest(lower: [UInt8], upper: [UInt8]) throws(SQLError) -> [(key: [UInt8], value: [UInt8])] {
        try scan(lower: lower, upper: upper)
    }
}

/// Row-lock strength of `SELECT ... FOR UPDATE | NO KEY UPDATE | SHARE | KEY SHARE`.
public enum RowLockStrength: Sendable {
    /// FOR UPDATE, FOR NO KEY UPDATE: exclusive.
    case update
    /// FOR SHARE, FOR KEY SHARE: shared.
    case share
}

/// What a row lock does when another transaction holds a conflicting lock.
public enum RowLockWait: Sendable {
    /// Wait (queue) for it.
    case wait
    /// NOWAIT: fail with 55P03.
    case noWait
    /// SKIP LOCKED: leave the row out.
    case skipLocked
}

extension KVTransaction {
    public func scanEach(lower: [UInt8], upper: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        for (k, v) in try scan(lower: lower, upper: upper) where try !body(k, v) { return }
    }

    public func scanEachReverse(lower: [UInt8], upper: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        for (k, v) in try scan(lower: lower, upper: upper).reversed() where try !body(k, v) { return }
    }

    public func scanEachBorrowing(lower: [UInt8], upper: [UInt8], _ body: ([UInt8], UnsafeRawBufferPointer) throws -> Bool) throws {
        try scanEach(lower: lower, upper: upper) { k, v in try v.withUnsafeBytes { try body(k, $0) } }
    }
}

/// A point in a transaction's writes (see `KVTransaction.mark()`).
public struct TransactionMark {
    /// The length of the transaction's undo log when the mark was taken.
    let position: Int
    let epoch: Int
    let vectorChanges: VectorTxChanges?
    /// The number of unique-value claims made before the mark.
    var claims = 0
}

