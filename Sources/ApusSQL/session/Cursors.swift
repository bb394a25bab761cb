import ApusCore
import Foundation

/// A cursor opened by DECLARE. Its query runs once, when it is declared, on the transaction's
/// snapshot (as PostgreSQL's cursor reads the snapshot of its DECLARE); FETCH and MOVE then walk
/// the kept rows. The rows are charged to the query memory budget when they are produced.
struct SQLCursor {
    let name: String
    /// The DECLARE statement's text, for pg_cursors.
    let statement: String
    let columns: [ResultColumn]
    let rows: [[Value]]
    let hold: Bool
    /// nil: neither SCROLL nor NO SCROLL was written (backward moves are allowed).
    let scroll: Bool?
    let binary: Bool
    let created: Date
    /// Declaration order in the session, so ROLLBACK TO SAVEPOINT closes what was declared after it.
    let sequence: Int
    /// Declared in the transaction still open: a rollback closes it even WITH HOLD.
    var inOpenTransaction = true
    /// A FETCH or MOVE of it failed.
    var failed = false
    /// 0: before the first row; 1...n: on row n; n + 1: after the last row.
    var position = 0

    /// Moves as `direction` says and returns the indexes (0-based) of the rows passed over, in
    /// order, following PostgreSQL's portal rules: a count of 0 returns the current row without
    /// moving, RELATIVE and ABSOLUTE return at most the row they land on, and moving off either
    /// end leaves the cursor before the first or after the last row.
    ///
    /// - Throws: 55000 for a backward move of a NO SCROLL cursor.
    mutating func move(_ direction: FetchDirection, fetching: Bool = true) throws(SQLError) -> [Int] {
        let n = rows.count
        let p = position
        let onRow = p >= 1 && p <= n
        var indexes: [Int] = []
        var target = p
        // Whether PostgreSQL's executor has to run backward for this move (a NO SCROLL cursor refuses).
        var backward = false
        switch direction {
        case let .forward(count), let .backward(count):
            var forward = if case .forward = direction { true } else { false }
            var k = count ?? Int64(n + 1)
            if k < 0 { forward.toggle(); k = -k }
            if k == 0 {
                // Re-fetch the current row: back up one row and fetch it (MOVE 0 only counts it).
                backward = fetching && (onRow || !forward)
                if onRow { indexes = [p - 1] }
                break
            }
            backward = !forward
            let steps = Int(min(k, Int64(n + 1)))
            if forward {
                target = min(p + steps, n + 1)
                if p < n { indexes = Array(p..<min(p + steps, n)) }
            } else {
                target = max(p - steps, 0)
                if p > 1 { indexes = Array((max(p - steps, 1)...min(p - 1, n)).reversed()).map { $0 - 1 } }
            }
        case let .absolute(k):
            if k > 0 {
                target = k <= Int64(n) ? Int(k) : n + 1
                backward = k <= Int64(p)
            } else if k < 0 {
                let i = Int64(n) + k + 1
                target = i >= 1 ? Int(i) : 0
                backward = true
            } else {
                target = 0
                backward = p != 0
            }
            if target >= 1 && target <= n { indexes = [target - 1] }
        case let .relative(k):
            if k == 0 {
                backward = fetching && onRow
                if onRow { indexes = [p - 1] }
                break
            }
            let i = Int64(p) + k
            target = i < 1 ? 0 : i > Int64(n) ? n + 1 : Int(i)
            backward = k < 0
            if target >= 1 && target <= n { indexes = [target - 1] }
        }
        if backward && scroll == false {
            throw SQLError(SQLState("55000"), "cursor can only scan forward",
                           hint: "Declare it with SCROLL option to enable backward scan.")
        }
        position = target
        return indexes
    }
}

extension SQLSession {
    /// DECLARE: runs the query and keeps its rows under the cursor's name.
    func declareCursor(_ d: DeclareCursorStatement, _ params: [Value], _ t: any KVTransaction) throws -> StatementResult {
        guard explicit || d.hold else {
            throw SQLError(.noActiveTransaction, "DECLARE CURSOR can only be used in transaction blocks")
        }
        if cursors[d.name] != nil { throw SQLError(SQLState("42P03"), "cursor \"\(d.name)\" already exists") }
        let r = try runQuery(d.query, params, t)
        cursorSequence += 1
        cursors[d.name] = SQLCursor(name: d.name, statement: Deparser.statement(.declareCursor(d)), columns: r.columns, rows: r.rows,
                                    hold: d.hold, scroll: d.scroll, binary: d.binary, created: Date(), sequence: cursorSequence)
        return .command("DECLARE CURSOR")
    }

    /// FETCH and MOVE.
    func fetchCursor(_ f: FetchStatement) throws(SQLError) -> StatementResult {
        guard var c = cursors[f.name] else { throw SQLError(SQLState("34000"), "cursor \"\(f.name)\" does not exist") }
        if c.failed { throw SQLError(SQLState("55000"), "portal \"\(f.name)\" cannot be run") }
        let indexes: [Int]
        do { indexes = try c.move(f.direction, fetching: !f.move) } catch {
            // As PostgreSQL's portal: a cursor whose fetch failed cannot run again.
            cursors[f.name]?.failed = true
            throw error
        }
        cursors[f.name] = c
        if f.move { return .command("MOVE \(indexes.count)", indexes.count) }
        let rows = indexes.map { c.rows[$0] }
        return StatementResult(columns: c.columns, rows: rows, rowsAffected: rows.count, tag: "FETCH \(rows.count)", hasRows: true)
    }

    /// CLOSE name | ALL.
    func closeCursor(_ c: CloseCursorStatement) throws(SQLError) -> StatementResult {
        if let name = c.name {
            guard cursors.removeValue(forKey: name) != nil else { throw SQLError(SQLState("34000"), "cursor \"\(name)\" does not exist") }
        } else {
            cursors.removeAll()
        }
        return .command("CLOSE CURSOR")
    }

    /// The transaction ended: its cursors close (below) and its deferred checks and constraint modes go.
    func transactionEnded(committed: Bool) {
        endTransactionCursors(committed: committed)
        deferredChecks = []
        constraintModes = ConstraintModes()
    }

    /// The transaction ended: cursors without HOLD close, and a rollback also closes the
    /// WITH HOLD cursors it declared.
    func endTransactionCursors(committed: Bool) {
        guard !cursors.isEmpty else { return }
        cursors = cursors.filter { $0.value.hold && (committed || !$0.value.inOpenTransaction) }
        for k in cursors.keys { cursors[k]?.inOpenTransaction = false }
    }

    /// ROLLBACK TO SAVEPOINT closes the cursors declared after the savepoint (their moves stay).
    func rollbackCursors(after sequence: Int) {
        cursors = cursors.filter { $0.value.sequence <= sequence }
    }

    /// The open cursor `name`'s columns and whether it is BINARY, or nil (Describe of a
    /// cursor's portal on the wire).
    public func cursorShape(_ name: String) -> (columns: [ResultColumn], binary: Bool)? {
        cursors[name].map { ($0.columns, $0.binary) }
    }

    /// Up to `count` rows (all when 0) from the open cursor `name`'s position, and whether
    /// rows remain (Execute of a cursor's portal on the wire).
    public func fetchPortal(_ name: String, count: Int) throws(SQLError) -> (result: StatementResult, more: Bool) {
        let r = try execute(statement: .fetch(FetchStatement(direction: .forward(count > 0 ? Int64(count) : nil), name: name)))
        let c = cursors[name]
        return (r, c.map { $0.position < $0.rows.count } ?? false)
    }

    /// Whether `name` is an open cursor.
    public func hasCursor(_ name: String) -> Bool { cursors[name] != nil }

    /// Closes the cursor `name` if it is open (Close of a cursor's portal on the wire).
    public func closeCursorPortal(_ name: String) { cursors[name] = nil }

    /// pg_cursors' rows.
    func cursorRows() -> [[Value]] {
        cursors.values.sorted { $0.sequence < $1.sequence }.map { c in
            [.text(c.name), .text(c.statement), .bool(c.hold), .bool(c.binary), .bool(c.scroll != false),
             .timestamptz(Int64((c.created.timeIntervalSinceReferenceDate + 31_622_400) * 1_000_000))]
        }
    }
}

extension SQLSession {
    /// DISCARD: ALL drops the session's state (cursors, prepared statements, settings back to
    /// the session's defaults, temporary relations, cached plans); PLANS the cached plans; TEMP
    /// the temporary relations; SEQUENCES nothing (no sequence state is cached per session).
    func discard(_ what: String, _ t: any KVTransaction) throws -> StatementResult {
        if what == "all" && explicit {
            throw SQLError(.activeTransaction, "DISCARD ALL cannot run inside a transaction block")
        }
        if what == "all" {
            cursors.removeAll()
            prepared = [:]
            settings = sessionDefaults
        }
        if what == "all" || what == "plans" { planCache.removeAll() }
        if what == "all" || what == "temp", txCatalog.schemaExists(temporarySchema) {
            try (t as? StorageTransaction)?.lockSchema(exclusive: true)
            _ = try DDL(session: self, tx: t).dropSchemas(DropStatement(kind: .schema, ifExists: true,
                                                                       names: [QualifiedName([temporarySchema])], behavior: .cascade))
        }
        return .command("DISCARD \(what.uppercased())")
    }
}
