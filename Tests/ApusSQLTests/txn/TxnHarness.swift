import ApusCore
@testable import ApusSQL
import ApusStorage
import Foundation

/// Several SQL sessions on one in-memory engine, driven step by step from a test, with
/// statements that block on a lock run on a thread of their own.
final class TxnHarness: @unchecked Sendable {
    let engine: StorageEngine
    let vectors = VectorIndexes()
    private(set) var sessions: [SQLSession] = []

    /// `layout`: the storage layout (default: `APUS_TEST_LAYOUT`, else `SQLStorageLayout.default`).
    init(layout: SQLStorageLayout = TxnHarness.defaultLayout, sessions n: Int, setup: String = "") throws {
        var options = StorageOptions()
        options.comparator = layout == .mvcc ? .mvcc : .bytewise
        engine = try StorageEngine.open(directory: "/txn", options: options, fileSystem: MemoryFileSystem())
        for _ in 0..<n { sessions.append(try SQLSession(engine: engine, vectorIndexes: vectors)) }
        if !setup.isEmpty { _ = try sessions[0].execute(sql: setup) }
    }

    deinit { try? engine.close() }

    static var defaultLayout: SQLStorageLayout { TxnHarness.layout(switch: "APUS_TEST_LAYOUT") }

    /// The layout the environment variable `name` names (unset: the default); a value that names
    /// no layout stops the test run rather than running it on the default.
    static func layout(switch name: String) -> SQLStorageLayout {
        let value = ProcessInfo.processInfo.environment[name]
        guard let layout = SQLStorageLayout.named(value) else { preconditionFailure("\(name)=\(value ?? "") names no storage layout") }
        return layout
    }

    var coordinator: TxnCoordinator { TxnCoordinator.shared(engine) }

    /// A new session on the same engine.
    func newSession() throws -> SQLSession { try SQLSession(engine: engine, vectorIndexes: vectors) }

    /// Runs `sql` in session `i`; the last statement's rows as text (NULL as "NULL").
    @discardableResult
    func run(_ i: Int, _ sql: String) throws(SQLError) -> [[String]] {
        let r = try sessions[i].execute(sql: sql)
        return (r.last?.rows ?? []).map { $0.map { $0.isNull ? "NULL" : $0.description } }
    }

    /// The SQLSTATE `sql` fails with in session `i`, or nil when it succeeds.
    func code(_ i: Int, _ sql: String) -> String? {
        do { try run(i, sql) } catch { return error.sqlState.code }
        return nil
    }

    /// Starts `sql` in session `i` on a thread and returns once it either finished or waits
    /// for a lock held by another transaction (session `i` must be in a transaction block).
    func start(_ i: Int, _ sql: String) -> Pending {
        let p = Pending()
        let session = UncheckedBox(sessions[i])
        let id = sessions[i].tx?.id
        let thread = Thread {
            let outcome: Result<[[String]], SQLError>
            do {
                let r = try session.value.execute(sql: sql)
                outcome = .success((r.last?.rows ?? []).map { $0.map { $0.isNull ? "NULL" : $0.description } })
            } catch {
                outcome = .failure(error as? SQLError ?? SQLError(.internalError, "\(error)"))
            }
            p.finish(outcome)
        }
        thread.start()
        while !p.isDone && !(id.map { coordinator.locks.isWaiting($0) } ?? false) { usleep(200) }
        return p
    }
}

/// A statement running on another thread (see `TxnHarness.start`).
final class Pending: @unchecked Sendable {
    private let cond = NSCondition()
    private var outcome: Result<[[String]], SQLError>?

    var isDone: Bool { cond.lock(); defer { cond.unlock() }; return outcome != nil }

    func finish(_ r: Result<[[String]], SQLError>) {
        cond.lock()
        outcome = r
        cond.broadcast()
        cond.unlock()
    }

    /// Waits for the statement to end; its rows, or its error.
    func wait() -> Result<[[String]], SQLError> {
        cond.lock()
        defer { cond.unlock() }
        while outcome == nil { cond.wait() }
        return outcome!
    }

    /// The SQLSTATE it failed with, or nil on success (waits for the end).
    var code: String? {
        if case let .failure(e) = wait() { return e.sqlState.code }
        return nil
    }
}

/// Hands a non-Sendable value to another thread whose use of it the test orders.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
