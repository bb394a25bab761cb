import ApusCore
import ApusSQL
import ApusStorage
import Foundation

/// Runs many connections' sessions on one storage engine.
///
/// Until MVCC transactions with conflict detection land (issue 4), the host serializes
/// *transactions*, not statements: a connection takes the transaction lock for its first
/// statement and keeps it until it is no longer inside a transaction block. Every transaction
/// therefore runs alone, which makes the server serializable by construction, at the price of
/// concurrency. A connection that waits longer than `lockTimeout` for the lock gets 55P03.
///
/// DDL: each session caches the catalog; when one commits a catalog change the host bumps a
/// generation, and the others reload the catalog before their next transaction.
public final class SessionHost: @unchecked Sendable {
    public let engine: StorageEngine
    /// The engine's vector indexes, shared by every session.
    public let vectorIndexes = VectorIndexes()
    /// Open sessions per role (CONNECTION LIMIT).
    let roleConnections = RoleConnections()
    let lockTimeout: TimeInterval
    private let condition = NSCondition()
    private var owner: Int?
    private var generation = 0
    private var nextID: Int32 = 0
    private var openConnections = 0
    /// The cancel keys of the open sessions (BackendKeyData): process ID → secret key and the
    /// session's interrupt. Guarded by `condition`.
    private var cancelKeys: [Int32: (secretKey: Int32, interrupt: StatementInterrupt)] = [:]

    public init(engine: StorageEngine, lockTimeout: TimeInterval = 30) {
        self.engine = engine
        self.lockTimeout = lockTimeout
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

    /// Runs `body` with `session`, holding the transaction lock for connection `id`.
    func run<T>(_ id: Int32, _ session: SQLSession, seen: inout Int, _ body: () throws(SQLError) -> T) throws(SQLError) -> T {
        condition.lock()
        if owner != Int(id) {
            let deadline = Date(timeIntervalSinceNow: lockTimeout)
            while owner != nil {
                // A cancel wakes the waiters; the statement timeout does not, so the wait also
                // wakes every 50 ms to look at the interrupt.
                if let reason = session.interrupt.reason {
                    condition.unlock()
                    throw StatementInterrupt.error(reason)
                }
                let wake = min(deadline, Date(timeIntervalSinceNow: 0.05))
                if !condition.wait(until: wake) && owner != nil && Date() >= deadline {
                    condition.unlock()
                    throw SQLError(
                        SQLState("55P03"),
                        "could not obtain the transaction lock: another session's transaction stayed open for \(Int(lockTimeout)) s")
                }
            }
            owner = Int(id)
        }
        let current = generation
        condition.unlock()
        if seen != current && !session.inTransaction {
            do { try session.reloadCatalog() } catch {
                release(id)
                throw error
            }
            seen = current
        }
        let before = session.catalogGeneration
        let result: Result<T, SQLError>
        do { result = .success(try body()) } catch { result = .failure(error) }
        condition.lock()
        if session.catalogGeneration != before {
            generation += 1
            seen = generation
        }
        condition.unlock()
        if !session.inTransaction { release(id) }
        return try result.get()
    }

    /// Gives up the transaction lock if `id` holds it.
    func release(_ id: Int32) {
        condition.lock()
        if owner == Int(id) {
            owner = nil
            condition.broadcast()
        }
        condition.unlock()
    }
}
