import ApusCore
import ApusSQL
import ApusStorage
import Foundation
import Synchronization

/// The result of a statement: column names and types, typed rows, and the affected-row count.
public struct ResultSet: Sendable {
    /// The columns, in order.
    public let columns: [ResultColumn]
    /// The rows.
    public let rows: [Row]
    /// Rows inserted, updated, deleted or returned.
    public let rowsAffected: Int
    /// PostgreSQL's command tag.
    public let tag: String
    /// The NOTICEs and WARNINGs the statement raised (`DROP TABLE IF EXISTS` of a missing table ...).
    public let notices: [SQLNotice]

    init(_ r: StatementResult) {
        columns = r.columns
        let names = r.columns.map(\.name)
        let types = r.columns.map(\.type)
        rows = r.rows.map { Row(values: $0, names: names, types: types) }
        rowsAffected = r.rowsAffected
        tag = r.tag
        notices = r.notices
    }

    /// Decodes every row into `T` by column name.
    public func decode<T: Decodable>(_ type: T.Type) throws -> [T] {
        try rows.map { try $0.decode(type) }
    }
}

/// One result row.
public struct Row: Sendable {
    /// The values, in column order.
    public let values: [Value]
    /// The column names.
    public let names: [String]
    let types: [SQLType]

    /// The value at a position (NULL when out of range).
    public subscript(_ index: Int) -> Value { index >= 0 && index < values.count ? values[index] : .null }

    /// The value of the first column with this name (NULL when absent).
    public subscript(_ name: String) -> Value {
        names.firstIndex(of: name).map { values[$0] } ?? .null
    }

    /// The value at `index` as PostgreSQL's text output (nil for NULL).
    public func text(_ index: Int) -> String? {
        guard index >= 0 && index < values.count else { return nil }
        return values[index].text(as: types[index])
    }

    /// Decodes the row into `T`, matching coding keys to column names; a single-value
    /// type (`Int`, `String`, ...) decodes from the first column.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try T(from: RowDecoder(row: self))
    }
}

/// Errors of the embedded API outside SQL processing.
public enum DatabaseError: Error, Sendable {
    /// The storage engine failed to open.
    case storage(String)
    /// A row value could not be decoded into the requested Swift type.
    case decoding(String)
}

/// An embedded ApusDB database: SQL over the storage engine, in-process.
///
/// Thread-safe. `execute` and prepared statements share one session and run one at a time (a
/// block opened there with `BEGIN` belongs to that session). `transaction(_:)` closures run
/// concurrently, each in a session of its own, isolated as the session's default level
/// (SERIALIZABLE) promises; a closure that meets a serialization failure or a deadlock is run
/// again, so it should have no effects outside the database.
public final class Database: Sendable {
    private let state: Mutex<SQLSession>
    private let engine: StorageEngine
    private let vectorIndexes: VectorIndexes
    /// Idle sessions for `transaction(_:)`.
    private let pool = Mutex<[UncheckedSession]>([])
    /// How often `transaction(_:)` runs a closure at most before giving up with the last 40001.
    public static let transactionAttempts = 100

    private init(engine: StorageEngine) throws {
        self.engine = engine
        let vectors = VectorIndexes()
        vectorIndexes = vectors
        let session: SQLSession
        do { session = try SQLSession(engine: engine, vectorIndexes: vectors) } catch { throw error }
        state = Mutex(session)
    }

    /// Opens (or creates) a database stored in the directory `path`.
    ///
    /// `layout`: the storage layout of a new directory (`SQLStorageLayout.default` when nil); an existing
    /// directory opens with its own, and an explicit layout that differs is refused (22023).
    public static func open(path: String, layout: SQLStorageLayout? = nil) throws -> Database {
        do {
            return try Database(engine: try SQLStorageLayout.openEngine(directory: path, layout: layout, options: .sql))
        } catch let e as SQLError { throw e } catch { throw DatabaseError.storage("\(error)") }
    }

    /// A fresh database held in memory.
    public static func inMemory(layout: SQLStorageLayout = .default) throws -> Database {
        do {
            var o = StorageOptions.sql
            SQLStorageLayout.configure(&o, layout)
            return try Database(engine: try StorageEngine.open(directory: "/apus-mem", options: o, fileSystem: MemoryFileSystem()))
        } catch let e as SQLError { throw e } catch { throw DatabaseError.storage("\(error)") }
    }

    /// Closes the storage engine; later calls fail.
    public func close() throws {
        // Temporary tables go with their sessions.
        state.withLock { $0.close() }
        for s in pool.withLock({ p -> [UncheckedSession] in defer { p = [] }; return p }) { s.value.close() }
        do { try engine.close() } catch { throw DatabaseError.storage("\(error)") }
    }

    /// Runs SQL (one or more statements, `$n` parameters bound from `parameters`) and returns
    /// the last statement's result.
    @discardableResult
    public func execute(_ sql: String, parameters: [Value] = []) throws(SQLError) -> ResultSet {
        let results = try executeAll(sql, parameters: parameters)
        return results.last ?? ResultSet(StatementResult(columns: [], rows: [], rowsAffected: 0, tag: "", hasRows: false))
    }

    /// The tables, views and indexes (for tools such as the shell's `\d`).
    public func schema() -> Catalog {
        state.withLock { (s: inout SQLSession) -> Catalog in s.schema }
    }

    /// Runs SQL and returns every statement's result.
    public func executeAll(_ sql: String, parameters: [Value] = []) throws(SQLError) -> [ResultSet] {
        try state.withLock { (s: inout SQLSession) throws(SQLError) -> [ResultSet] in
            try s.execute(sql: sql, parameters: parameters).map { ResultSet($0) }
        }
    }

    /// Parses `sql` once for repeated execution with different `$n` parameters.
    public func prepare(_ sql: String) throws(SQLError) -> PreparedStatement {
        do {
            let stmts = try Parser.parse(sql: sql)
            guard stmts.count == 1, let s = stmts.first else {
                throw SQLError(.syntaxError, "a prepared statement holds exactly one statement")
            }
            return PreparedStatement(database: self, statement: s, slot: PlanSlot())
        } catch let e as SQLError { throw e } catch let e as ParseError {
            throw SQLError(e.sqlState, e.message, position: e.position)
        } catch { throw SQLError(.internalError, "\(error)") }
    }

    func run(_ statement: Statement, _ parameters: [Value], slot: PlanSlot? = nil) throws(SQLError) -> ResultSet {
        try state.withLock { (s: inout SQLSession) throws(SQLError) -> ResultSet in
            ResultSet(try s.execute(statement: statement, parameters: parameters, slot: slot))
        }
    }

    /// Runs `body` in a transaction: commits when it returns, rolls back when it throws.
    /// Transactions of different threads run concurrently; one that fails with 40001 or 40P01
    /// (at the commit or in a statement) is rolled back and `body` runs again, up to
    /// `transactionAttempts` times.
    public func transaction<T: Sendable>(_ body: (Transaction) throws -> T) throws -> T {
        let session = try takeSession()
        defer { pool.withLock { $0.append(session) } }
        let s = session.value
        var attempt = 0
        while true {
            attempt += 1
            do {
                _ = try s.execute(sql: "BEGIN")
                let r = try body(Transaction(session: s))
                _ = try s.execute(sql: "COMMIT")
                return r
            } catch let e as SQLError where ["40001", "40P01"].contains(e.sqlState.code) && attempt < Database.transactionAttempts {
                _ = try? s.execute(sql: "ROLLBACK")
            } catch {
                _ = try? s.execute(sql: "ROLLBACK")
                throw error
            }
        }
    }

    private func takeSession() throws(SQLError) -> UncheckedSession {
        if let s = pool.withLock({ $0.popLast() }) { return s }
        return UncheckedSession(value: try SQLSession(engine: engine, vectorIndexes: vectorIndexes))
    }
}

/// A session kept in `Database`'s pool: used by one thread at a time (taken out while in use).
private struct UncheckedSession: @unchecked Sendable {
    let value: SQLSession
}

/// A transaction handed to `Database.transaction(_:)`'s closure.
public struct Transaction {
    let session: SQLSession

    /// Runs SQL inside the transaction; returns the last statement's result.
    @discardableResult
    public func execute(_ sql: String, parameters: [Value] = []) throws(SQLError) -> ResultSet {
        let r = try session.execute(sql: sql, parameters: parameters)
        return r.last.map { ResultSet($0) } ?? ResultSet(StatementResult(columns: [], rows: [], rowsAffected: 0, tag: "", hasRows: false))
    }
}

/// A parsed statement with `$n` parameters.
public struct PreparedStatement: Sendable {
    let database: Database
    let statement: Statement
    /// The statement's plan, kept between executions while it stays valid.
    let slot: PlanSlot

    /// Runs the statement with these parameter values.
    @discardableResult
    public func execute(_ parameters: [Value] = []) throws(SQLError) -> ResultSet {
        try database.run(statement, parameters, slot: slot)
    }
}

/// Swift values usable as statement parameters.
extension Value: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByNilLiteral {
    /// An integer parameter.
    public init(integerLiteral value: Int64) { self = .int(value) }
    /// A text parameter.
    public init(stringLiteral value: String) { self = .text(value) }
    /// A double parameter.
    public init(floatLiteral value: Double) { self = .float(value) }
    /// A boolean parameter.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// NULL.
    public init(nilLiteral: ()) { self = .null }
}
