import ApusCore
import ApusSQL
import ApusStorage
import Foundation

/// Runs many connections' sessions on one storage engine.
///
/// Sessions run concurrently; their transactions are isolated by the engine's shared
/// `TxnCoordinator` (see `ApusSQL`), which also tells sessions when to reload the catalog.
public final class SessionHost: @unchecked Sendable {
    public let engine: StorageEngine
    /// The engine's vector indexes, shared by every session.
    public let vectorIndexes = VectorIndexes()
    /// Open sessions per role (CONNECTION LIMIT).
    let roleConnections = RoleConnections()
    private let condition = NSCondition()
    private var nextID: Int32 = 0
    private var openConnections = 0
    /// The cancel keys of the open sessions (BackendKeyData): process ID → secret key and the
    /// session's interrupt. Guarded by `condition`.
    private var cancelKeys: [Int32: (secretKey: Int32, interrupt: StatementInterrupt)] = [:]

    /// A host for sessions on `engine`; AS OF SYSTEM TIME reads back `gcWindow` at most.
    public init(engine: StorageEngine, gcWindow: Duration = TxnCoordinator.defaultGCWindow) {
        self.engine = engine
        _ = TxnCoordinator.shared(engine, gcWindow: gcWindow)
    }

    /// Registers a connection; nil when `maxConnections` are already open.
    func admit(maxConnections: Int) -> Int32? {
        condition.lock()
        defer { condition.unlock() }
        guard openConnections < maxConnections else { return nil }
        openConnections += 1
        nextID &+= 1
        return nextID
    }

    func leave() {
        condition.lock()
        openConnections -= 1
        condition.unlock()
    }

    /// Makes session `id` cancellable by a CancelRequest carrying `secretKey`.
    func registerCancelKey(_ id: Int32, secretKey: Int32, interrupt: StatementInterrupt) {
        condition.lock()
        cancelKeys[id] = (secretKey, interrupt)
        condition.unlock()
    }

    func unregisterCancelKey(_ id: Int32) {
        condition.lock()
        cancelKeys[id] = nil
        condition.unlock()
    }

    /// How many sessions are running a statement now.
    public var runningStatements: Int {
        condition.lock()
        defer { condition.unlock() }
        return cancelKeys.values.filter { $0.interrupt.isRunning }.count
    }

    /// Interrupts every running statement for `reason`; returns how many were running.
    @discardableResult
    public func cancelAll(_ reason: StatementInterrupt.Reason) -> Int {
        condition.lock()
        let all = cancelKeys.values.map(\.interrupt)
        condition.unlock()
        return all.filter { $0.cancel(reason) }.count
    }

    /// The interrupt of session `id`, while it is open.
    func interrupt(of id: Int32) -> StatementInterrupt? {
        condition.lock()
        defer { condition.unlock() }
        return cancelKeys[id]?.interrupt
    }

    /// A CancelRequest: interrupts the running statement of session `processID` when
    /// `secretKey` matches its key. Returns whether a statement was interrupted. As in
    /// PostgreSQL, a wrong key or an idle session is ignored without telling the requester.
    @discardableResult
    func cancel(processID: Int32, secretKey: Int32) -> Bool {
        condition.lock()
        let entry = cancelKeys[processID]
        condition.unlock()
        guard let entry, entry.secretKey == secretKey else { return false }
        let interrupted = entry.interrupt.cancel()
        // A statement waiting for the transaction lock polls its interrupt when woken.
        if interrupted { condition.lock(); condition.broadcast(); condition.unlock() }
        return interrupted
    }

    var connectionCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return openConnections
    }

    /// Runs `body` with `session` for connection `id`. Sessions run concurrently: their
    /// transactions are isolated by the engine's `TxnCoordinator` (row locks, conflict checks,
    /// serializable validation), and each session reloads the catalog when another committed DDL.
    func run<T>(_ id: Int32, _ session: SQLSession, seen: inout Int, _ body: () throws(SQLError) -> T) throws(SQLError) -> T {
        try body()
    }

    /// Called when connection `id` closes (nothing to release: its session's transaction rolls
    /// back and gives up its locks).
    func release(_ id: Int32) {}
}
