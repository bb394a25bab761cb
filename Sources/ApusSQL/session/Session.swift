import ApusCore
import ApusStorage

/// A result column: its name and type.
public struct ResultColumn: Sendable, Hashable {
    /// The column's output name.
    public var name: String
    /// Its type.
    public var type: SQLType
}

/// The result of one statement.
public struct StatementResult: Sendable {
    /// The columns (empty for statements without results).
    public var columns: [ResultColumn]
    /// The rows.
    public var rows: [[Value]]
    /// Rows inserted, updated, deleted or returned.
    public var rowsAffected: Int
    /// PostgreSQL's command tag (`SELECT 3`, `INSERT 0 1`, `CREATE TABLE`).
    public var tag: String
    /// Whether the statement produces a row set (a query or RETURNING).
    public var hasRows: Bool
    /// NOTICE and WARNING messages the statement raised (sent before its result, as PostgreSQL
    /// does), already filtered by `client_min_messages`.
    public var notices: [SQLNotice] = []

    /// Makes a result.
    public init(columns: [ResultColumn], rows: [[Value]], rowsAffected: Int, tag: String, hasRows: Bool) {
        self.columns = columns
        self.rows = rows
        self.rowsAffected = rowsAffected
        self.tag = tag
        self.hasRows = hasRows
    }

    static func command(_ tag: String, _ n: Int = 0) -> StatementResult {
        StatementResult(columns: [], rows: [], rowsAffected: n, tag: tag, hasRows: false)
    }
}

/// A NOTICE or WARNING raised by a statement (`DROP TABLE IF EXISTS` of a missing table, BEGIN
/// inside a block ...), as PostgreSQL sends them in a NoticeResponse.
public struct SQLNotice: Sendable, Hashable {
    /// `NOTICE` or `WARNING`.
    public var severity: String
    public var sqlState: SQLState
    public var message: String
}

/// One SQL session over a storage engine: the catalog, the open transaction, prepared statements.
///
/// Not thread-safe; `ApusDB.Database` serializes access with a mutex.
public final class SQLSession {
    let engine: StorageEngine
    var catalog: Catalog {
        didSet {
            if catalog != oldValue { planCache.removeAll() }
            catalogsMayDiffer = true
        }
    }
    var tx: StorageTransaction?
    var txCatalog: Catalog {
        didSet {
            if txCatalog != oldValue { planCache.removeAll() }
            catalogsMayDiffer = true
        }
    }
    /// False only while `txCatalog` is known to equal `catalog` (nothing assigned either since
    /// they were last made equal): statements that change neither skip comparing them.
    var catalogsMayDiffer = true
    var explicit = false
    var failed = false
    var prepared: [String: PrepareStatement] = [:]
    /// Open savepoints of the transaction block, oldest first: name, writes and catalog then.
    var savepoints: [(name: String, mark: TransactionMark, catalog: Catalog, cursorSequence: Int, deferredChecks: Int)] = []
    /// Foreign-key checks waiting for the end of the transaction (deferred constraints).
    var deferredChecks: [DeferredCheck] = []
    /// The transaction's SET CONSTRAINTS modes.
    var constraintModes = ConstraintModes()
    /// The settings RESET returns to: those in force when `keepSettingsAsDefaults` was called
    /// (the server sets a connection's startup parameters, then calls it).
    var sessionDefaults: [String: String] = [:]

    /// Makes the current settings the ones RESET and DISCARD ALL return to (PostgreSQL's
    /// defaults of a session include the parameters its connection started with).
    public func keepSettingsAsDefaults() { sessionDefaults = settings }

    /// Notices raised by the running statement (`notice(_:_:warning:)`).
    var pendingNotices: [SQLNotice] = []
    /// Nesting of `execute(statement:)` calls: notices go with the outermost one's result.
    var statementDepth = 0
    /// Open cursors (DECLARE), by name.
    var cursors: [String: SQLCursor] = [:]
    /// The sequence number of the last cursor declared.
    var cursorSequence = 0
    /// The engine's vector indexes, shared with the other sessions on it.
    let vectorIndexes: VectorIndexes
    /// Stops the running statement on a cancel request or at `statement_timeout` (57014);
    /// other threads call its `cancel()`.
    public let interrupt: StatementInterrupt
    /// Concurrency control shared by every session on the engine.
    let coordinator: TxnCoordinator
    /// The catalog generation `catalog` was loaded at.
    var catalogSeen = 0
    /// Table statistics (ANALYZE) as this session has read them, and the statistics generation
    /// they were read at.
    lazy var statistics = StatisticsSource { [unowned self] in self.readStatistics($0) }
    var statisticsSeen = 0

    /// Opens a session, loading the catalog from the engine. Sessions on one engine must share
    /// one `VectorIndexes`.
    /// Sessions on one engine must share one `VectorIndexes`; `interrupt` may be made by the
    /// caller, which can then cancel statements without touching the session.
    public init(
        engine: StorageEngine, vectorIndexes: VectorIndexes = VectorIndexes(), interrupt: StatementInterrupt = StatementInterrupt()
    ) throws(SQLError) {
        self.engine = engine
        self.vectorIndexes = vectorIndexes
        self.interrupt = interrupt
        self.coordinator = TxnCoordinator.shared(engine)
        if let e = coordinator.mvcc?.openError { throw e }
        catalogSeen = coordinator.catalogGeneration
        let t = StorageTransaction(engine: engine)
        let c = try Catalog.load(t)
        t.rollback()
        catalog = c
        txCatalog = c
        catalogsMayDiffer = false
        user = c.bootstrapRoleName
        let (number, cleanUp) = coordinator.nextSessionNumber()
        sessionNumber = number
        // Temporary schemas of sessions that ended without closing (a crash): the first session
        // on the engine drops them before any session can make its own.
        if cleanUp {
            for name in (c.schemas ?? [:]).keys where Catalog.isTemporarySchema(name) {
                _ = try execute(sql: "DROP SCHEMA \(Deparser.quoteIdentifier(name)) CASCADE")
            }
        }
    }

    /// This session's number on the engine; its temporary tables live in schema `pg_temp_N`.
    let sessionNumber: Int
    /// The schema of this session's temporary relations.
    var temporarySchema: String { "pg_temp_\(sessionNumber)" }

    /// Ends the session: rolls back an open transaction and drops its temporary relations.
    public func close() {
        if explicit { _ = try? execute(sql: "ROLLBACK") }
        if txCatalog.schemaExists(temporarySchema) || catalog.schemaExists(temporarySchema) {
            _ = try? execute(sql: "DROP SCHEMA \(temporarySchema) CASCADE")
        }
    }

    /// The role the session runs as (`current_user`, `session_user`): the bootstrap superuser
    /// for embedded use; the server sets the authenticated role before the first statement.
    public var user: String { didSet { if user != oldValue { planCache.removeAll() } } }

    /// The last search path computed (`searchPath(_:)`) and what it was computed from.
    var searchPathCache: (text: String, user: String, schemas: [String: SchemaDesc]?, path: [String])?

    /// Session settings changed by SET (names lower-cased; see `defaultSettings`).
    var settings: [String: String] = [:] {
        didSet {
            planCache.removeAll()
            vectorKnobs = nil
            transactionDefaults = nil
            queryMemoryLimitParsed = nil
        }
    }
    /// What a new transaction takes from the settings, read once per change of the settings
    /// (not per statement).
    private var transactionDefaults: (isolation: IsolationLevel, readOnly: Bool, lockTimeout: Double?, batches: Bool)?

    func currentTransactionDefaults() -> (isolation: IsolationLevel, readOnly: Bool, lockTimeout: Double?, batches: Bool) {
        if let d = transactionDefaults { return d }
        var lockTimeout: Double?
        if let text = settings["lock_timeout"], let ms = StatementInterrupt.milliseconds(text), ms > 0 { lockTimeout = Double(ms) / 1000 }
        let d = (
            SQLSession.isolation(setting("default_transaction_isolation")), setting("default_transaction_read_only") == "on", lockTimeout,
            settings["apus.batch_execution"].flatMap(SQLSession.boolean) ?? true)
        transactionDefaults = d
        return d
    }
    /// `hnsw.ef_search` and `ivfflat.probes` as numbers, read once per change of the settings.
    private var vectorKnobs: (efSearch: Int, probes: Int)?
    /// Bound plans of queries run before (see `PlanCache`).
    var planCache = PlanCache()

    /// The settings SHOW knows, with their defaults (what drivers and tools ask for).
    static let defaultSettings: [String: String] = [
        "server_version": "15.0 (ApusDB 0.1)", "server_version_num": "150000", "server_encoding": "UTF8",
        "client_encoding": "UTF8", "datestyle": "ISO, MDY", "intervalstyle": "postgres", "timezone": "UTC",
        "standard_conforming_strings": "on", "integer_datetimes": "on", "transaction_isolation": "serializable",
        "default_transaction_isolation": "serializable", "transaction_read_only": "off",
        "default_transaction_read_only": "off", "application_name": "", "search_path": "\"$user\", public",
        "max_identifier_length": "63", "statement_timeout": "0", "lock_timeout": "0",
        "idle_in_transaction_session_timeout": "0", "extra_float_digits": "1", "bytea_output": "hex",
        "client_min_messages": "notice", "lc_messages": "C.UTF-8", "lc_monetary": "C.UTF-8", "lc_numeric": "C.UTF-8",
        "lc_time": "C.UTF-8", "is_superuser": "on", "synchronous_commit": "on", "work_mem": "4MB",
        "max_connections": "100", "jit": "off", "row_security": "on", "xmloption": "content", "escape_string_warning": "on",
        "default_with_oids": "off", "session_authorization": "apus", "role": "none",
        "hnsw.ef_search": "40", "ivfflat.probes": "1", "max_query_memory": "1GB", "default_table_access_method": "heap",
        "apus.batch_execution": "on",
        "join_collapse_limit": "8", "from_collapse_limit": "8", "default_statistics_target": "100",
        // What pg_dump's scripts and tools set; accepted and shown, with no effect here.
        "check_function_bodies": "on", "default_tablespace": "", "temp_tablespaces": "", "idle_session_timeout": "0",
        "session_replication_role": "origin", "maintenance_work_mem": "64MB", "effective_cache_size": "4GB",
        "random_page_cost": "4", "enable_seqscan": "on", "enable_indexscan": "on", "enable_hashjoin": "on",
        "enable_mergejoin": "on", "enable_nestloop": "on", "log_statement": "none",
    ]

    /// Settings whose values are durations (an integer of milliseconds or a number with a unit).
    static let timeoutSettings: Set<String> = ["statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"]

    static func settingKey(_ name: String) -> String {
        // The common case, a name already in lower case, without allocating.
        if name.utf8.allSatisfy({ $0 < 128 && !(65...90).contains($0) && $0 != 32 }) { return name }
        let n = name.lowercased()
        return n == "time zone" ? "timezone" : n == "transaction isolation level" ? "transaction_isolation" : n
    }

    /// A setting's current value for this session, or nil when unknown.
    public func setting(_ name: String) -> String? {
        let k = SQLSession.settingKey(name)
        switch k {
        case "session_authorization": return user
        case "transaction_isolation":
            if let t = tx { return SQLSession.isolationText(t.isolation) }
            return setting("default_transaction_isolation")
        case "transaction_read_only":
            if let t = tx { return t.readOnly ? "on" : "off" }
            return setting("default_transaction_read_only")
        case "is_superuser": return txCatalog.allRoles[user]?.superuser == true ? "on" : "off"
        default: return settings[k] ?? SQLSession.defaultSettings[k]
        }
    }

    /// A Boolean setting's or option's value as PostgreSQL reads one (`on`/`off`, `true`/`false`,
    /// `yes`/`no`, `1`/`0`, any case), nil for anything else.
    static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "on", "true", "yes", "1": return true
        case "off", "false", "no", "0": return false
        default: return nil
        }
    }

    /// Sets a session setting (SET, set_config): 42704 for an unknown name, 22023 for a bad duration.
    func applySetting(_ name: String, _ value: String) throws(SQLError) {
        let key = SQLSession.settingKey(name)
        guard SQLSession.defaultSettings[key] != nil || key.contains(".") else {
            throw SQLError(SQLState("42704"), "unrecognized configuration parameter \"\(name)\"")
        }
        if SQLSession.timeoutSettings.contains(key) && StatementInterrupt.milliseconds(value) == nil {
            throw SQLError(.invalidParameterValue, "invalid value for parameter \"\(key)\": \"\(value)\"")
        }
        if key == "max_query_memory" && StatementInterrupt.bytes(value) == nil {
            throw SQLError(.invalidParameterValue, "invalid value for parameter \"\(key)\": \"\(value)\"")
        }
        if key == "apus.batch_execution" && SQLSession.boolean(value) == nil {
            throw SQLError(.invalidParameterValue, "parameter \"\(key)\" requires a Boolean value")
        }
        settings[key] = value
    }

    /// Whether an explicit transaction block is open.
    public var inTransaction: Bool { explicit }

    /// The catalog as this session sees it (with its open transaction's DDL).
    public var schema: Catalog { txCatalog }

    /// Whether the open transaction block failed (commands are refused until it ends).
    public var transactionFailed: Bool { explicit && failed }

    /// Bumped whenever a commit of this session changed the catalog, so that a host running
    /// several sessions on one engine can tell the others to `reloadCatalog()`.
    public private(set) var catalogGeneration = 0

    /// Reloads the catalog from storage (another session committed DDL). Outside a
    /// transaction block only; inside one it does nothing.
    public func reloadCatalog() throws(SQLError) {
        guard tx == nil else { return }
        let generation = coordinator.catalogGeneration
        let t = StorageTransaction(engine: engine)
        defer { t.rollback() }
        catalog = try Catalog.load(t)
        txCatalog = catalog
        catalogSeen = generation
    }

    /// After `t` committed: its catalog becomes the session's. A catalog change was made under
    /// the exclusive schema lock, so the commit made the generation exactly one more.
    func publishCatalog(_ t: StorageTransaction) {
        // Compared only when either changed, and not assigned when equal (an assignment copies
        // the old value for `didSet` and compares again).
        guard catalogsMayDiffer else { return }
        if catalog != txCatalog {
            catalogGeneration += 1
            catalogSeen = t.generation + 1
            catalog = txCatalog
        }
        catalogsMayDiffer = false
    }

    /// The result columns and parameter types of a statement, without running it: columns for
    /// queries (nil for statements that return no rows or whose shape is known only by running
    /// them), parameter types as far as the binder infers them (`.unknown` otherwise).
    public func describe(statement: Statement) throws(SQLError) -> (columns: [ResultColumn]?, parameterTypes: [SQLType]) {
        switch statement {
        case .insert, .update, .delete:
            let binder = self.binder()
            let t = StorageTransaction(engine: engine)
            defer { t.rollback() }
            do { try DML(session: self, tx: t, params: []).inferParameterTypes(statement, binder) } catch {
                throw SQLSession.convert(error)
            }
            return (nil, binder.paramTypes)
        default:
            break
        }
        if case let .declareCursor(d) = statement { return (nil, try describe(statement: .query(d.query)).parameterTypes) }
        if case let .fetch(f) = statement { return (f.move ? nil : cursors[f.name]?.columns, []) }
        if case let .show(sh) = statement {
            // SHOW answers one text column (two for SHOW ALL), as its result will.
            guard let name = sh.name else { return ([ResultColumn(name: "name", type: .text), ResultColumn(name: "setting", type: .text)], []) }
            return ([ResultColumn(name: name, type: .text)], [])
        }
        guard case var .query(q) = statement else { return (nil, []) }
        do {
            // AS OF SYSTEM TIME: described as the same query of the present catalog.
            if let (_, rest) = try SQLSession.splitAsOf(q) { q = rest }
            let binder = queryBinder(settable: false)
            let b = try binder.bindQuery(q, outer: nil)
            return (b.columns.map { ResultColumn(name: $0.name, type: $0.type) }, binder.paramTypes)
        } catch {
            throw SQLSession.convert(error)
        }
    }

    /// Parses and runs every statement of `sql`; returns one result per statement.
    public func execute(sql: String, parameters: [Value] = []) throws(SQLError) -> [StatementResult] {
        let statements: [Statement]
        do { statements = try Parser.parse(sql: sql) } catch {
            if explicit { failed = true }
            throw SQLSession.convert(error)
        }
        var out: [StatementResult] = []
        for s in statements { out.append(try execute(statement: s, parameters: parameters)) }
        return out
    }

    static func convert(_ error: any Error) -> SQLError {
        if let e = error as? SQLError { return e }
        if let e = error as? ParseError { return SQLError(e.sqlState, e.message, position: e.position) }
        if let e = error as? StorageError { return SQLError(.ioError, "storage error: \(e)") }
        return SQLError(.internalError, "\(error)")
    }

    /// `statement_timeout` as a duration, nil when off.
    public var statementTimeout: Duration? {
        // Read before every statement: the common case (never set) costs one lookup.
        guard let text = settings["statement_timeout"], let ms = StatementInterrupt.milliseconds(text), ms > 0 else { return nil }
        return .milliseconds(ms)
    }

    /// `max_query_memory` in bytes (0: no limit).
    var queryMemoryLimit: Int {
        // Read before every statement: parsed once per change of the settings.
        if let bytes = queryMemoryLimitParsed { return bytes }
        let text = settings["max_query_memory"] ?? SQLSession.defaultSettings["max_query_memory"] ?? ""
        let bytes = StatementInterrupt.bytes(text) ?? 0
        queryMemoryLimitParsed = bytes
        return bytes
    }

    private var queryMemoryLimitParsed: Int?

    /// `idle_in_transaction_session_timeout` as a duration, nil when off.
    public var idleInTransactionTimeout: Duration? {
        // Read after every message: the common case (never set) costs one lookup.
        guard let text = settings["idle_in_transaction_session_timeout"], let ms = StatementInterrupt.milliseconds(text), ms > 0 else {
            return nil
        }
        return .milliseconds(ms)
    }

    /// Runs one parsed statement.
    ///
    /// - Throws: 57014 when `interrupt` fires (a cancel request or `statement_timeout`) while
    ///   it runs; the statement's effects are undone as for any other error.
    public func execute(statement: Statement, parameters: [Value] = [], slot: PlanSlot? = nil) throws(SQLError) -> StatementResult {
        let outermost = interrupt.begin(timeout: statementTimeout)
        interrupt.memoryLimitBytes = queryMemoryLimit
        interrupt.batchExecution = currentTransactionDefaults().batches
        defer { if outermost { interrupt.end() } }
        statementDepth += 1
        defer { statementDepth -= 1 }
        let top = statementDepth == 1
        if top { pendingNotices = [] }
        var r: StatementResult
        if case let .transaction(t) = statement {
            r = try transactionStatement(t)
        } else {
            r = try inTransaction { t in try run(statement, parameters, t, slot: top ? slot : nil) }
        }
        if top { r.notices = takeNotices() }
        return r
    }

    /// Queues a NOTICE (or WARNING) for the running statement's result.
    func notice(_ code: String, _ message: String, warning: Bool = false) {
        pendingNotices.append(SQLNotice(severity: warning ? "WARNING" : "NOTICE", sqlState: SQLState(code), message: message))
    }

    /// The queued notices that `client_min_messages` lets through; the queue empties.
    func takeNotices() -> [SQLNotice] {
        if pendingNotices.isEmpty { return [] }
        defer { pendingNotices = [] }
        let level = (setting("client_min_messages") ?? "notice").lowercased()
        switch level {
        case "error", "fatal", "panic": return []
        case "warning": return pendingNotices.filter { $0.severity == "WARNING" }
        default: return pendingNotices
        }
    }

    /// COPY FROM's inserts: rows of text fields (nil for NULL, in `columns`' order; all columns
    /// when empty) go into `table` as one statement, each field read by its column type's text
    /// input, with defaults for the other columns. Atomic: in the open transaction block, or
    /// in a transaction of its own.
    ///
    /// - Returns: the number of rows inserted.
    /// - Throws: 22P04 for a row with the wrong number of fields, the input errors of the
    ///   column types, constraint violations, and 57014 when interrupted.
    public func copyFrom(table: QualifiedName, columns: [String], rows: [[String?]]) throws(SQLError) -> Int {
        let outermost = interrupt.begin(timeout: statementTimeout)
        defer { if outermost { interrupt.end() } }
        return try inTransaction { t in try DML(session: self, tx: t, params: []).copy(table, columns, rows) }
    }

    /// Runs `body` in the open transaction block, or in a transaction of its own that commits
    /// when `body` returns and rolls back when it throws.
    ///
    /// Under READ COMMITTED a statement that meets a row committed after its snapshot runs
    /// again on a fresh snapshot (its own writes undone first). A statement outside a block
    /// that fails with 40001 runs again in a new transaction: nothing of it reached the client.
    func inTransaction<T>(_ body: (any KVTransaction) throws -> T) throws(SQLError) -> T {
        if failed {
            throw SQLError(.inFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
        }
        var attempts = 0
        while true {
            attempts += 1
            let t: StorageTransaction
            if let open = tx { t = open } else {
                t = try newTransaction()
                tx = t
                if catalogsMayDiffer {
                    if txCatalog != catalog { txCatalog = catalog }
                    catalogsMayDiffer = false
                }
            }
            if let v = t.vectorState {
                if vectorKnobs == nil {
                    vectorKnobs = (setting("hnsw.ef_search").flatMap { Int($0) } ?? 40, setting("ivfflat.probes").flatMap { Int($0) } ?? 1)
                }
                (v.efSearch, v.probes) = vectorKnobs ?? (40, 1)
            }
            let mark = t.mark()
            let catalogBefore = txCatalog
            t.beginStatement()
            do {
                let r = try body(t)
                if !explicit {
                    t.bumpsGeneration = catalogsMayDiffer && txCatalog != catalog
                    try runDeferredChecks(t)
                    try t.commit()
                    transactionEnded(committed: true)
                    publishCatalog(t)
                    tx = nil
                } else if savepoints.isEmpty {
                    t.forgetMarks()
                }
                return r
            } catch {
                let e = SQLSession.convert(error)
                if e.sqlState == .statementRestart && attempts < 10_000 {
                    // READ COMMITTED: undo this statement's writes and run it on a fresh snapshot.
                    t.rollback(to: mark)
                    txCatalog = catalogBefore
                    continue
                }
                if explicit {
                    failed = true
                } else {
                    if t.storesStatistics { statistics.clear() }
                    t.rollback()
                    transactionEnded(committed: false)
                    tx = nil
                    txCatalog = catalog
                    if e.sqlState == .serializationFailure && attempts < 100 && interrupt.reason == nil { continue }
                }
                if e.sqlState == .statementRestart {
                    throw SQLError(.serializationFailure, "could not serialize access due to concurrent update")
                }
                throw e
            }
        }
    }

    /// The isolation level named by a setting's text.
    static func isolation(_ text: String?) -> IsolationLevel {
        switch text?.lowercased() {
        case "read committed": .readCommitted
        case "read uncommitted": .readUncommitted
        case "repeatable read": .repeatableRead
        default: .serializable
        }
    }

    static func isolationText(_ level: IsolationLevel) -> String {
        switch level {
        case .serializable: "serializable"
        case .repeatableRead: "repeatable read"
        case .readCommitted: "read committed"
        case .readUncommitted: "read uncommitted"
        }
    }

    /// A new transaction with the session's defaults; reloads the catalog first when another
    /// session changed it.
    func newTransaction() throws(SQLError) -> StorageTransaction {
        let defaults = currentTransactionDefaults()
        let t = StorageTransaction(
            engine: engine, vectors: vectorIndexes, interrupt: interrupt, coordinator: coordinator, isolation: defaults.isolation)
        t.lockTimeout = defaults.lockTimeout
        t.readOnly = defaults.readOnly
        if t.statisticsGeneration != statisticsSeen {
            // Another session's ANALYZE committed.
            statistics.clear()
            planCache.removeAll()
            statisticsSeen = t.statisticsGeneration
        }
        if t.generation != catalogSeen {
            // The snapshot holds another session's DDL: load the catalog it holds.
            catalog = try Catalog.load(t)
            txCatalog = catalog
            catalogSeen = t.generation
        }
        return t
    }

    /// Applies BEGIN's or SET TRANSACTION's modes to `t`.
    func apply(_ modes: [TransactionMode], to t: StorageTransaction) {
        for m in modes {
            switch m {
            case let .isolation(level): t.setIsolation(level)
            case let .readOnly(on): t.readOnly = on
            case .deferrable: break
            }
        }
    }

    func transactionStatement(_ s: TransactionStatement) throws(SQLError) -> StatementResult {
        switch s {
        case let .begin(modes):
            if explicit {
                notice("25001", "there is already a transaction in progress", warning: true)
                return .command("BEGIN")
            }
            let t = try newTransaction()
            apply(modes, to: t)
            explicit = true
            failed = false
            tx = t
            txCatalog = catalog
            return .command("BEGIN")
        case .commit:
            defer { explicit = false; failed = false; tx = nil; txCatalog = catalog; savepoints = [] }
            guard explicit, let t = tx else {
                notice("25P01", "there is no transaction in progress", warning: true)
                return .command("COMMIT")
            }
            if failed {
                t.rollback()
                transactionEnded(committed: false)
                return .command("ROLLBACK")
            }
            t.bumpsGeneration = txCatalog != catalog
            do {
                try runDeferredChecks(t)
                try t.commit()
            } catch {
                t.rollback()
                transactionEnded(committed: false)
                throw SQLSession.convert(error)
            }
            transactionEnded(committed: true)
            publishCatalog(t)
            return .command("COMMIT")
        case .rollback:
            if !explicit { notice("25P01", "there is no transaction in progress", warning: true) }
            if tx?.storesStatistics == true { statistics.clear() }
            tx?.rollback()
            transactionEnded(committed: false)
            explicit = false; failed = false; tx = nil; txCatalog = catalog; savepoints = []
            return .command("ROLLBACK")
        case let .setConstraints(names, deferred):
            // Outside a transaction block PostgreSQL warns and does nothing.
            guard explicit, let t = tx else {
                notice("25P01", "SET CONSTRAINTS can only be used in transaction blocks", warning: true)
                return .command("SET CONSTRAINTS")
            }
            if failed {
                throw SQLError(.inFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
            }
            do { try setConstraints(names: names, deferred: deferred, t) } catch {
                failed = true
                throw SQLSession.convert(error)
            }
            return .command("SET CONSTRAINTS")
        case let .setTransaction(modes):
            guard explicit, let t = tx else {
                // PostgreSQL warns and does nothing outside a transaction block.
                notice("25P01", "SET TRANSACTION can only be used in transaction blocks", warning: true)
                return .command("SET")
            }
            if failed {
                throw SQLError(.inFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
            }
            if t.started, modes.contains(where: { if case .isolation = $0 { true } else { false } }) {
                failed = true
                throw SQLError(.activeTransaction, "SET TRANSACTION ISOLATION LEVEL must be called before any query")
            }
            apply(modes, to: t)
            return .command("SET")
        case let .savepoint(name):
            guard explicit, let t = tx else {
                throw SQLError(.noActiveTransaction, "SAVEPOINT can only be used in transaction blocks")
            }
            if failed {
                throw SQLError(.inFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
            }
            savepoints.append((name, t.mark(), txCatalog, cursorSequence, deferredChecks.count))
            return .command("SAVEPOINT")
        case let .release(name):
            guard explicit else { throw SQLError(.noActiveTransaction, "RELEASE SAVEPOINT can only be used in transaction blocks") }
            if failed {
                throw SQLError(.inFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
            }
            guard let i = savepoints.lastIndex(where: { $0.name == name }) else {
                throw SQLError(SQLState("3B001"), "savepoint \"\(name)\" does not exist")
            }
            savepoints.removeSubrange(i...)
            return .command("RELEASE")
        case let .rollbackTo(name):
            guard explicit, let t = tx else {
                throw SQLError(.noActiveTransaction, "ROLLBACK TO SAVEPOINT can only be used in transaction blocks")
            }
            guard let i = savepoints.lastIndex(where: { $0.name == name }) else {
                failed = true
                throw SQLError(SQLState("3B001"), "savepoint \"\(name)\" does not exist")
            }
            // The savepoint stays; later ones go. The block works again.
            savepoints.removeSubrange((i + 1)...)
            t.rollback(to: savepoints[i].mark)
            txCatalog = savepoints[i].catalog
            rollbackCursors(after: savepoints[i].cursorSequence)
            if deferredChecks.count > savepoints[i].deferredChecks { deferredChecks.removeSubrange(savepoints[i].deferredChecks...) }
            failed = false
            return .command("ROLLBACK")
        }
    }

    /// A query's rows: through the plan cache, or bound now.
    func runQuery(_ q: Query, _ params: [Value], _ t: any KVTransaction, slot: PlanSlot? = nil) throws -> StatementResult {
        let plan: Plan, columns: [ResultColumn]
        if let slot, slot.epoch == planCache.epoch, let entry = slot.entry {
            (plan, columns) = entry
        } else if let cached = planCache[q] {
            (plan, columns) = cached
            if let slot { (slot.epoch, slot.entry) = (planCache.epoch, cached) }
        } else {
            if let (e, rest) = try SQLSession.splitAsOf(q) { return try runAsOf(e, rest, params, t) }
            let binder = queryBinder(settable: true)
            let b = try binder.bindQuery(q, outer: nil)
            (plan, columns) = (binder.indexOnly(b.plan), b.columns.map { ResultColumn(name: $0.name, type: $0.type) })
            if binder.reusable && (slot != nil || planCache.admit(q)) {
                if planCache.count >= 64 { planCache.removeAll() }
                planCache[q] = (plan, columns)
                if let slot { (slot.epoch, slot.entry) = (planCache.epoch, (plan, columns)) }
            }
        }
        let rows = try Executor(tx: t, params: params).run(plan)
        return StatementResult(columns: columns, rows: rows, rowsAffected: rows.count, tag: "SELECT \(rows.count)", hasRows: true)
    }

    /// `s` with a TEMP relation named in the session's temporary schema (made now if needed).
    func temporaryRewritten(_ s: Statement, _ t: any KVTransaction) throws -> Statement {
        let ddl = DDL(session: self, tx: t)
        switch s {
        case var .createTable(c) where c.temporary:
            (c.name, c.temporary) = (try ddl.temporaryName(c.name), false)
            return .createTable(c)
        case var .createTableAs(c) where c.temporary:
            (c.name, c.temporary) = (try ddl.temporaryName(c.name), false)
            return .createTableAs(c)
        case var .createView(v) where v.temporary && !v.materialized:
            (v.name, v.temporary) = (try ddl.temporaryName(v.name), false)
            return .createView(v)
        case var .createSequence(q) where q.temporary:
            (q.name, q.temporary) = (try ddl.temporaryName(q.name), false)
            return .createSequence(q)
        default:
            return s
        }
    }

    func run(_ s: Statement, _ params: [Value], _ t: any KVTransaction, slot: PlanSlot? = nil) throws -> StatementResult {
        switch s {
        case .createTable, .createTableAs, .createIndex, .createView, .drop, .truncate, .alterTable, .createSequence,
             .alterSequence, .createRole, .alterRole, .dropRole, .createSchema, .alterSchema:
            // Schema changes wait for open writers and hold new ones off until they commit.
            try (t as? StorageTransaction)?.lockSchema(exclusive: true)
        default:
            break
        }
        // TEMP: the relation goes into the session's temporary schema (made on first use), and
        // is then made as any other.
        let s = try temporaryRewritten(s, t)
        switch s {
        case let .query(q): return try runQuery(q, params, t, slot: slot)
        case let .declareCursor(d): return try declareCursor(d, params, t)
        case let .fetch(f): return try fetchCursor(f)
        case let .closeCursor(c): return try closeCursor(c)
        // LISTEN is not supported, so no session listens on any channel: nothing to stop.
        case .unlisten: return .command("UNLISTEN")
        case let .discard(what): return try discard(what, t)
        case let .insert(i): return try DML(session: self, tx: t, params: params).insert(i)
        case let .update(u): return try DML(session: self, tx: t, params: params).update(u)
        case let .delete(d): return try DML(session: self, tx: t, params: params).delete(d)
        case let .createTable(c): return try DDL(session: self, tx: t).createTable(c)
        case let .createTableAs(c): return try DDL(session: self, tx: t).createTableAs(c, params)
        case let .createIndex(c): return try DDL(session: self, tx: t).createIndex(c)
        case let .createView(v):
            if v.materialized { return try DDL(session: self, tx: t).createMaterializedView(v, params) }
            return try DDL(session: self, tx: t).createView(v)
        case let .drop(d): return try DDL(session: self, tx: t).drop(d)
        case let .truncate(tr):
            for n in tr.tables { try txCatalog.requireSchema(of: n) }
            let descs = try tr.tables.map { try binder().table($0) }
            for desc in descs {
                let ids = Set(descs.map(\.id))
                if let (child, _) = txCatalog.references(to: desc.id).first(where: { !ids.contains($0.child.id) }) {
                    throw SQLError(
                        .featureNotSupported,
                        "cannot truncate a table referenced in a foreign key constraint (table \"\(child.name)\" references \"\(desc.name)\")")
                }
            }
            for desc in descs { try DDL(session: self, tx: t).deleteData(desc) }
            return .command("TRUNCATE TABLE")
        case let .set(st):
            let key = SQLSession.settingKey(st.name)
            let value = st.values.map { v -> String in
                switch v {
                // search_path is a list of names: each one quoted when it needs it, as PostgreSQL shows it.
                case let .string(x) where key == "search_path", let .word(x) where key == "search_path": Deparser.quoteIdentifier(x)
                case let .number(x), let .string(x), let .word(x): x
                }
            }.joined(separator: ", ")
            if st.values.isEmpty || (key == "timezone" && value.lowercased() == "local") {
                settings[key] = nil
            } else {
                try applySetting(st.name, value)
            }
            return .command("SET")
        case let .reset(r):
            // Back to the session's defaults: the server's and those the connection gave at startup.
            if let n = r.name {
                let k = SQLSession.settingKey(n)
                settings[k] = sessionDefaults[k]
            } else {
                settings = sessionDefaults
            }
            return .command("RESET")
        case let .show(sh):
            guard let name = sh.name else {
                let rows = SQLSession.defaultSettings.keys.sorted().map { k -> [Value] in [.text(k), .text(setting(k) ?? "")] }
                return StatementResult(columns: [ResultColumn(name: "name", type: .text), ResultColumn(name: "setting", type: .text)],
                                       rows: rows, rowsAffected: rows.count, tag: "SHOW", hasRows: true)
            }
            guard let v = setting(SQLSession.settingKey(name)) else {
                throw SQLError(SQLState("42704"), "unrecognized configuration parameter \"\(name)\"")
            }
            return StatementResult(columns: [ResultColumn(name: name, type: .text)], rows: [[.text(v)]],
                                   rowsAffected: 1, tag: "SHOW", hasRows: true)
        case let .analyze(a): return try analyze(a.tables, t)
        case let .vacuum(v):
            // VACUUM itself has nothing to do (compaction reclaims space); VACUUM ANALYZE analyzes.
            if v.options.contains(where: { $0.name == "analyze" }) { _ = try analyze(v.tables, t) }
            return .command("VACUUM")
        case let .refreshMaterializedView(r): return try DDL(session: self, tx: t).refreshMaterializedView(r, params)
        case .comment: return .command("COMMENT")
        case let .prepare(p):
            prepared[p.name] = p
            return .command("PREPARE")
        case let .execute(e):
            guard let p = prepared[e.name] else { throw SQLError(SQLState("26000"), "prepared statement \"\(e.name)\" does not exist") }
            let binder = self.binder()
            let ex = Executor(tx: t, params: params)
            var args: [Value] = []
            for (i, a) in e.arguments.enumerated() {
                let (b, _) = try binder.bindExpr(a, Frame(columns: [], outer: nil), agg: nil)
                var v = try ex.eval(b, [])
                if i < p.parameterTypes.count { v = try castValue(v, to: try SQLType.from(p.parameterTypes[i])) }
                args.append(v)
            }
            return try run(p.statement, args, t)
        case let .deallocate(d):
            if let n = d.name { prepared[n] = nil } else { prepared = [:] }
            return .command("DEALLOCATE")
        case let .createSchema(cs): return try DDL(session: self, tx: t).createSchema(cs)
        case let .alterSchema(a): return try DDL(session: self, tx: t).alterSchema(a)
        case .transaction: throw SQLError(.internalError, "unreachable")
        case let .explain(e): return try explain(e, params, t)
        case let .alterTable(a): return try DDL(session: self, tx: t).alterTable(a)
        case let .createSequence(c): return try DDL(session: self, tx: t).createSequence(c)
        case let .alterSequence(a): return try DDL(session: self, tx: t).alterSequence(a)
        case let .createExtension(c):
            // Built-in "extensions": accepted so that pgvector and plpgsql scripts run unchanged.
            guard ["vector", "plpgsql"].contains(c.name.lowercased()) else {
                throw SQLError(.undefinedFile, "extension \"\(c.name)\" is not available")
            }
            return .command("CREATE EXTENSION")
        case .copy: throw SQLError.unsupported("COPY")
        case let .createRole(c): return try DDL(session: self, tx: t).createRole(c)
        case let .alterRole(a): return try DDL(session: self, tx: t).alterRole(a)
        case let .dropRole(d): return try DDL(session: self, tx: t).dropRole(d)
        case .grant, .revoke: throw SQLError.unsupported("GRANT and REVOKE")
        }
    }
}
