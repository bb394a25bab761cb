import ApusCore

/// INSERT, UPDATE and DELETE: row and index maintenance and constraint checks.
struct DML {
    let session: SQLSession
    let tx: any KVTransaction
    let params: [Value]

    func types(_ t: TableDesc) throws -> [SQLType] {
        try t.columns.map { try SQLType.ofColumn($0.typeSQL) }
    }

    func frame(_ t: TableDesc, alias: String?) throws -> Frame {
        let ty = try types(t)
        return Frame(
            columns: t.columns.enumerated().map {
                ScopeColumn(table: alias ?? t.name, name: $0.element.name, type: ty[$0.offset])
            }, outer: nil)
    }

    func target(_ name: QualifiedName) throws -> TableDesc {
        let t = try session.binder().table(name)
        if t.viewSQL != nil { throw SQLError(SQLState("55000"), "cannot change view \"\(t.name)\"") }
        if t.matviewSQL != nil { throw SQLError(.wrongObjectType, "cannot change materialized view \"\(t.name)\"") }
        return t
    }

    func rowKey(_ t: TableDesc, _ pk: [UInt8]) -> [UInt8] { KeyEncoding.indexPrefix(table: t.id, index: 1) + pk }

    func indexKey(_ t: TableDesc, _ idx: IndexDesc, _ row: [Value]) -> [UInt8] {
        KeyEncoding.indexPrefix(table: t.id, index: idx.id)
            + KeyEncoding.encode(idx.columns.map { row[$0].groupKeyForIndex })
    }

    /// Whether `row` belongs in `idx`: always, unless a partial index's predicate is not true for it.
    func indexCovers(_ t: TableDesc, _ idx: IndexDesc, _ row: [Value]) throws -> Bool {
        guard let pred = idx.predicate else { return true }
        let key = PartialIndexCache.Key(table: t.id, index: idx.id, columns: t.columns.count, predicate: pred)
        let b: BExpr
        if let known = partialIndexes.bound[key] {
            b = known
        } else {
            let binder = session.binder()
            b = try binder.bindBool(try Parser.parseExpression(sql: pred), try frame(t, alias: nil), nil, "WHERE")
            partialIndexes.bound[key] = b
        }
        let ex = partialIndexes.executor ?? Executor(tx: tx, params: [])
        partialIndexes.executor = ex
        return try ex.eval(b, row) == .bool(true)
    }

    func putIndexEntry(_ t: TableDesc, _ idx: IndexDesc, _ row: [Value], _ pk: [UInt8]) throws {
        if idx.predicate != nil, !(try indexCovers(t, idx, row)) { return }
        if idx.isVector {
            var vec: [Float]?
            if case let .vector(x) = row[idx.columns[0]] { vec = x }
            tx.vectorState?.record(t, idx, pk, VectorRowChange(present: true, vector: vec, row: row))
            return
        }
        let prefix = indexKey(t, idx, row)
        if idx.unique && !idx.columns.contains(where: { row[$0].isNull }) {
            try tx.claimUnique(prefix)
            for (_, other) in try tx.scan(lower: prefix, upper: KeyEncoding.prefixEnd(prefix)) where other != pk {
                let cols = idx.columns.map { t.columns[$0].name }.joined(separator: ", ")
                let vals = idx.columns.map { row[$0].description }.joined(separator: ", ")
                throw SQLError(
                    .uniqueViolation,
                    "duplicate key value violates unique constraint \"\(idx.name)\"", detail: "Key (\(cols))=(\(vals)) already exists."
                )
            }
        }
        try tx.put(prefix + pk, pk)
    }

    func deleteIndexEntries(_ t: TableDesc, _ row: [Value], _ pk: [UInt8]) throws(SQLError) {
        for idx in t.indexes {
            if idx.isVector {
                tx.vectorState?.record(t, idx, pk, VectorRowChange(present: false, vector: nil))
            } else {
                try tx.delete(indexKey(t, idx, row) + pk)
            }
        }
    }

    func nextSerial(_ t: TableDesc) throws -> Int64 {
        try nextSerials(t, count: 1)
    }

    /// Takes `count` consecutive values of the table's hidden serial; returns the first.
    func nextSerials(_ t: TableDesc, count: Int64) throws -> Int64 {
        precondition(count >= 1, "at least one serial value")
        // Outside the transaction, so that concurrent inserts never conflict on the counter.
        var n: Int64 = 0
        try tx.updateOutside(Catalog.sequenceKey(table: t.id)) { (b: [UInt8]?) throws(SQLError) -> [UInt8] in
            if let b, case .int(let v)? = try RowEncoding.decode(b)[0] { n = v }
            return RowEncoding.encode(columnIDs: [0], values: [.int(n + count)])
        }
        return n + 1
    }

    func checkRow(_ t: TableDesc, _ row: [Value]) throws {
        func failingRow() -> String { "Failing row contains (" + row.map { $0.isNull ? "null" : $0.description }.joined(separator: ", ") + ")." }
        for (i, c) in t.columns.enumerated() where c.notNull && row[i].isNull {
            throw SQLError(
                .notNullViolation,
                "null value in column \"\(c.name)\" of relation \"\(t.name)\" violates not-null constraint", detail: failingRow())
        }
        if let checks = t.checks {
            let ex = partialIndexes.executor ?? Executor(tx: tx, params: params)
            partialIndexes.executor = ex
            for (n, ch) in checks.enumerated() {
                // Bound once per statement (they were parsed and bound for every row).
                let key = PartialIndexCache.Key(table: t.id, index: UInt32.max - UInt32(n), columns: t.columns.count, predicate: ch)
                let e: BExpr
                if let known = partialIndexes.bound[key] {
                    e = known
                } else {
                    e = try session.binder().bindExpr(try Parser.parseExpression(sql: ch), try frame(t, alias: nil), agg: nil).0
                    partialIndexes.bound[key] = e
                }
                if try ex.eval(e, row) == .bool(false) {
                    throw SQLError(SQLState("23514"), "new row for relation \"\(t.name)\" violates check constraint \"\(t.checkName(n))\"",
                                   detail: failingRow())
                }
            }
        }
    }

    /// Writes a full, typed row; returns false when skipped by ON CONFLICT DO NOTHING.
    /// `columnTypes` are `types(t)` when the caller has them already.
    /// `rowID`, for a table without a primary key, is the row's hidden serial when the caller
    /// allocated it (COPY takes them in one step); otherwise `nextSerial` draws it.
    func insertRow(
        _ t: TableDesc, _ values: [Value], onConflictNothing: Bool, columnTypes: [SQLType]? = nil, rowID: Int64? = nil
    ) throws -> Bool {
        let ty = try columnTypes ?? types(t)
        var row: [Value] = []
        for (i, v) in values.enumerated() { row.append(try castValue(v, to: ty[i])) }
        try checkRow(t, row)
        let pk: [UInt8]
        if t.primaryKey.isEmpty {
            pk = KeyEncoding.encode([.int(try rowID ?? (nextSerial(t) + (1 << 40)))])
        } else {
            pk = KeyEncoding.encode(t.primaryKey.map { row[$0].groupKeyForIndex })
        }
        let key = rowKey(t, pk)
        if !t.primaryKey.isEmpty, try tx.get(key) != nil {
            if onConflictNothing { return false }
            let cols = t.primaryKey.map { t.columns[$0].name }.joined(separator: ", ")
            let vals = t.primaryKey.map { row[$0].description }.joined(separator: ", ")
            throw SQLError(
                .uniqueViolation,
                "duplicate key value violates unique constraint \"\(t.name)_pkey\"", detail: "Key (\(cols))=(\(vals)) already exists."
            )
        }
        if onConflictNothing {
            for idx in t.indexes where idx.unique && !idx.columns.contains(where: { row[$0].isNull }) {
                if idx.predicate != nil, !(try indexCovers(t, idx, row)) { continue }
                let prefix = indexKey(t, idx, row)
                if !(try tx.scan(lower: prefix, upper: KeyEncoding.prefixEnd(prefix))).isEmpty { return false }
            }
        }
        for idx in t.indexes { try putIndexEntry(t, idx, row, pk) }
        try tx.put(key, RowEncoding.encode(columnIDs: t.columns.map(\.id), values: row))
        try checkParents(t, row, key: key)  // after the write: a row may reference itself
        lastRow.value = row
        return true
    }

    let lastRow = Box()
    /// Partial index predicates bound once per statement (and an executor to evaluate them),
    /// not once per written row.
    let partialIndexes = PartialIndexCache()

    final class PartialIndexCache {
        struct Key: Hashable {
            var table: UInt32
            var index: UInt32
            var columns: Int
            var predicate: String
        }

        var bound: [Key: BExpr] = [:]
        var executor: Executor?
    }

    final class Box { var value: [Value] = [] }

    func defaultValue(_ t: TableDesc, _ i: Int, _ ex: Executor, _ b: Binder) throws -> Value {
        let c = t.columns[i]
        if c.serial == true { return .int(try nextSerial(t)) }
        guard let d = c.defaultSQL else { return .null }
        let (e, _) = try b.bindExpr(try Parser.parseExpression(sql: d), Frame(columns: [], outer: nil), agg: nil)
        return try ex.eval(e, [])
    }

    func returning(_ items: [SelectItem], _ t: TableDesc, alias: String?, _ rows: [[Value]]) throws -> StatementResult {
        let f = try frame(t, alias: alias)
        let b = session.binder()
        var exprs: [BExpr] = []
        var cols: [ResultColumn] = []
        for item in items {
            if case .star = item.expr.kind {
                for (i, c) in f.columns.enumerated() {
                    exprs.append(.column(i))
                    cols.append(ResultColumn(name: c.name, type: c.type))
                }
                continue
            }
            let (e, ty) = try b.bindExpr(item.expr, f, agg: nil)
            exprs.append(e)
            cols.append(ResultColumn(name: item.alias ?? b.outputName(item.expr), type: ty))
        }
        let ex = Executor(tx: tx, params: params)
        let out = try rows.map { r in try exprs.map { try ex.eval($0, r) } }
        return StatementResult(columns: cols, rows: out, rowsAffected: out.count, tag: "", hasRows: true)
    }

    func insert(_ s: InsertStatement) throws -> StatementResult {
        if s.with != nil { throw SQLError.unsupported("WITH in INSERT") }
        let t = try target(s.table)
        var doNothing = false
        var upsert: Upsert?
        if let oc = s.onConflict {
            switch oc.action {
            case .nothing: doNothing = true
            case let .update(sets, whereClause): upsert = try Upsert(self, t, alias: s.alias, oc.target, sets, whereClause)
            }
        }
        var targetCols: [Int] = []
        if s.columns.isEmpty {
            targetCols = Array(t.columns.indices)
        } else {
            for n in s.columns {
                guard let i = t.columns.firstIndex(where: { $0.name == n }) else {
                    throw SQLError(.undefinedColumn, "column \"\(n)\" of relation \"\(t.name)\" does not exist")
                }
                if targetCols.contains(i) {
                    throw SQLError(.duplicateColumn, "column \"\(n)\" specified more than once")
                }
                targetCols.append(i)
            }
        }
        let ty = try types(t)
        let binder = session.binder()
        let ex = Executor(tx: tx, params: params)
        var sourceRows: [[Value?]] = []  // nil = DEFAULT
        switch s.source {
        case .defaultValues:
            sourceRows = [[Value?](repeating: nil, count: targetCols.count)]
        case .query(let q):
            if case .values(let rows) = q.body, q.isBare {
                for r in rows {
                    guard r.count <= targetCols.count else {
                        throw SQLError(.syntaxError, "INSERT has more expressions than target columns")
                    }
                    var out: [Value?] = []
                    for (k, e) in r.enumerated() {
                        if case .defaultValue = e.kind {
                            out.append(nil)
                            continue
                        }
                        let (b, et) = try binder.bindExpr(e, Frame(columns: [], outer: nil), agg: nil)
                        try assignable(et, ty[targetCols[k]], t.columns[targetCols[k]].name)
                        out.append(try ex.eval(b, []))
                    }
                    while out.count < targetCols.count { out.append(nil) }
                    sourceRows.append(out)
                }
            } else {
                let b = try binder.bindQuery(q, outer: nil)
                guard b.columns.count <= targetCols.count else {
                    throw SQLError(.syntaxError, "INSERT has more expressions than target columns")
                }
                for (k, c) in b.columns.enumerated() {
                    try assignable(c.type, ty[targetCols[k]], t.columns[targetCols[k]].name)
                }
                for r in try ex.run(b.plan) {
                    var out: [Value?] = r.map { $0 }
                    while out.count < targetCols.count { out.append(nil) }
                    sourceRows.append(out)
                }
            }
        }
        var inserted: [[Value]] = []
        for src in sourceRows {
            var row = [Value](repeating: .null, count: t.columns.count)
            var given = [Bool](repeating: false, count: t.columns.count)
            for (k, i) in targetCols.enumerated() {
                if let v = src[k] {
                    row[i] = v
                    given[i] = true
                }
            }
            for i in t.columns.indices where !given[i] { row[i] = try defaultValue(t, i, ex, binder) }
            if let upsert {
                if let written = try upsert.apply(row, ex) { inserted.append(written) }
                continue
            }
            if try insertRow(t, row, onConflictNothing: doNothing, columnTypes: ty) { inserted.append(lastRow.value) }
        }
        if !s.returning.isEmpty {
            var r = try returning(s.returning, t, alias: s.alias, inserted)
            r.tag = "INSERT 0 \(inserted.count)"
            return r
        }
        return .command("INSERT 0 \(inserted.count)", inserted.count)
    }

    /// Infers the parameter types of an INSERT, UPDATE or DELETE into `binder` as PostgreSQL
    /// does for Describe: a parameter takes the type of the column it is assigned to, and
    /// the types that casts and comparisons in WHERE give it.
    func inferParameterTypes(_ statement: Statement, _ binder: Binder) throws {
        switch statement {
        case let .insert(s):
            let t = try target(s.table)
            let ty = try types(t)
            var targetCols = Array(t.columns.indices)
            if !s.columns.isEmpty {
                targetCols = try s.columns.map { n in
                    guard let i = t.columns.firstIndex(where: { $0.name == n }) else {
                        throw SQLError(.undefinedColumn, "column \"\(n)\" of relation \"\(t.name)\" does not exist")
                    }
                    return i
                }
            }
            guard case let .query(q) = s.source else { return }
            if case let .values(rows) = q.body, q.isBare {
                for r in rows {
                    for (k, e) in r.enumerated() where k < targetCols.count {
                        if case .defaultValue = e.kind { continue }
                        let (b, _) = try binder.bindExpr(e, Frame(columns: [], outer: nil), agg: nil)
                        binder.inferParameter(b, ty[targetCols[k]])
                    }
                }
            } else {
                _ = try binder.bindQuery(q, outer: nil)
            }
        case let .update(s):
            let t = try target(s.table.name)
            let f = try frame(t, alias: s.table.alias?.name)
            let ty = try types(t)
            for a in s.assignments {
                guard case let .single(col, value, _) = a, let i = t.columns.firstIndex(where: { $0.name == col }) else { continue }
                if case .defaultValue = value.kind { continue }
                let (b, _) = try binder.bindExpr(value, f, agg: nil)
                binder.inferParameter(b, ty[i])
            }
            if let w = s.whereClause { _ = try binder.bindBool(w, f, nil, "WHERE") }
        case let .delete(s):
            let t = try target(s.table.name)
            if let w = s.whereClause { _ = try binder.bindBool(w, try frame(t, alias: s.table.alias?.name), nil, "WHERE") }
        default:
            return
        }
    }

    /// COPY FROM (see `SQLSession.copyFrom`): the table, its column types and the default
    /// expressions are resolved once for all rows, which then go straight to `insertRow`.
    func copy(_ name: QualifiedName, _ columnNames: [String], _ rows: [[String?]]) throws -> Int {
        let t = try target(name)
        var targetCols: [Int] = []
        if columnNames.isEmpty {
            targetCols = Array(t.columns.indices)
        } else {
            for n in columnNames {
                guard let i = t.columns.firstIndex(where: { $0.name == n }) else {
                    throw SQLError(.undefinedColumn, "column \"\(n)\" of relation \"\(t.name)\" does not exist")
                }
                if targetCols.contains(i) { throw SQLError(.duplicateColumn, "column \"\(n)\" specified more than once") }
                targetCols.append(i)
            }
        }
        let ty = try types(t)
        let binder = session.binder()
        let ex = Executor(tx: tx, params: params)
        var given = [Bool](repeating: false, count: t.columns.count)
        for i in targetCols { given[i] = true }
        let defaulted = t.columns.indices.filter { !given[$0] }
        // Hidden row IDs of a table without a primary key, taken in one step for all rows.
        let firstRowID = t.primaryKey.isEmpty && !rows.isEmpty ? try nextSerials(t, count: Int64(rows.count)) : 0
        for (line, fields) in rows.enumerated() {
            try ex.checkInterrupt()
            guard fields.count == targetCols.count else {
                throw SQLError(
                    SQLState("22P04"), "COPY \(t.name), line \(line + 1): expected \(targetCols.count) columns, got \(fields.count)")
            }
            var row = [Value](repeating: .null, count: t.columns.count)
            for (k, i) in targetCols.enumerated() {
                if let f = fields[k] { row[i] = try castValue(.text(f), to: ty[i]) }
            }
            for i in defaulted { row[i] = try defaultValue(t, i, ex, binder) }
            _ = try insertRow(
                t, row, onConflictNothing: false, columnTypes: ty,
                rowID: t.primaryKey.isEmpty ? firstRowID + Int64(line) + (1 << 40) : nil)
        }
        return rows.count
    }

    /// PostgreSQL's assignment-cast rule, coarsely: numbers to numbers, strings to anything
    /// with a text input, booleans to booleans.
    func assignable(_ from: SQLType, _ to: SQLType, _ col: String) throws {
        if from == .unknown || from == .null || from == to { return }
        if from.isNumber && to.isNumber { return }
        if to.isString { return }
        if from.isString && !from.isString { return }
        if from.category == to.category { return }
        if from.isInteger && to == .bool { return }
        throw SQLError(.datatypeMismatch, "column \"\(col)\" is of type \(to) but expression is of type \(from)")
    }

    /// Rows of `t` (with their primary-key encodings) matching WHERE.
    func matching(_ t: TableDesc, alias: String?, _ whereClause: Expr?) throws -> [([UInt8], [Value])] {
        let f = try frame(t, alias: alias)
        let binder = session.binder()
        let pred = try whereClause.map { try binder.bindBool($0, f, nil, "WHERE") }
        let ex = Executor(tx: tx, params: params)
        var out: [([UInt8], [Value])] = []
        // The access path SELECT would take (primary-key or index prefix from WHERE equalities);
        // every candidate row is still checked against the whole predicate.
        var access = Plan.scan(t, keyPrefix: [])
        if let w = whereClause {
            (access, _) = try binder.pushDown(.scan(t, keyPrefix: []), f.columns, binder.conjunctsOf(w), outer: nil)
            while case let .filter(inner, _) = access { access = inner }
        }
        let rowPrefix = KeyEncoding.indexPrefix(table: t.id, index: 1)
        var candidates: [([UInt8], [UInt8])] = []
        switch access {
        case let .scan(_, keyPrefix) where !keyPrefix.isEmpty:
            let values = try keyPrefix.map { try ex.eval($0, []) }
            if values.contains(where: \.isNull) { return [] }
            let p = rowPrefix + KeyEncoding.encode(values)
            if keyPrefix.count == t.primaryKey.count {
                // The whole primary key: a point read (see Executor's `.scan`).
                if let v = try tx.get(p) { candidates = [(p, v)] }
            } else {
                candidates = try tx.scan(lower: p, upper: KeyEncoding.prefixEnd(p)).map { ($0.key, $0.value) }
            }
        case let .indexScan(_, idx, keyPrefix):
            let values = try keyPrefix.map { try ex.eval($0, []) }
            if values.contains(where: \.isNull) { return [] }
            let p = KeyEncoding.indexPrefix(table: t.id, index: idx.id) + KeyEncoding.encode(values)
            for (_, pk) in try tx.scan(lower: p, upper: KeyEncoding.prefixEnd(p)) {
                if let v = try tx.get(rowPrefix + pk) { candidates.append((rowPrefix + pk, v)) }
            }
        default:
            candidates = try tx.scan(lower: rowPrefix, upper: KeyEncoding.prefixEnd(rowPrefix)).map { ($0.key, $0.value) }
        }
        for (k, v) in candidates {
            try ex.checkInterrupt()
            let row = try ex.decodeRow(t, v)
            if let pred, try ex.eval(pred, row) != .bool(true) { continue }
            out.append((Array(k.dropFirst(9)), row))
        }
        return out
    }

    /// SET clauses as (column position, value) pairs, `(a, b) = (x, y)` spread out; unknown
    /// columns fail with 42703. Shared by UPDATE and ON CONFLICT DO UPDATE.
    func assignments(_ clauses: [SetClause], _ t: TableDesc) throws -> [(column: Int, value: Expr)] {
        var out: [(column: Int, value: Expr)] = []
        func add(_ col: String, _ value: Expr) throws {
            guard let i = t.columns.firstIndex(where: { $0.name == col }) else {
                throw SQLError(.undefinedColumn, "column \"\(col)\" of relation \"\(t.name)\" does not exist")
            }
            out.append((i, value))
        }
        for c in clauses {
            switch c {
            case let .single(col, value, _): try add(col, value)
            case let .multiple(cols, value, _):
                guard case let .row(items, _) = value.kind, items.count == cols.count else {
                    throw SQLError.unsupported("multi-column SET from a subquery")
                }
                for (c, v) in zip(cols, items) { try add(c, v) }
            }
        }
        return out
    }

    /// Binds SET values over `frame` (nil: DEFAULT), checking each can be assigned.
    func bindAssignments(_ pairs: [(column: Int, value: Expr)], _ t: TableDesc, _ ty: [SQLType], _ frame: Frame,
                         _ binder: Binder) throws -> [(Int, BExpr?)] {
        try pairs.map { i, value in
            if case .defaultValue = value.kind { return (i, nil) }
            let (b, et) = try binder.bindExpr(value, frame, agg: nil)
            try assignable(et, ty[i], t.columns[i].name)
            return (i, b)
        }
    }

    func update(_ s: UpdateStatement) throws -> StatementResult {
        if s.with != nil { throw SQLError.unsupported("WITH in UPDATE") }
        let t = try target(s.table.name)
        let alias = s.table.alias?.name
        let f = try frame(t, alias: alias)
        let ty = try types(t)
        let binder = session.binder()
        let singles = try assignments(s.assignments, t)
        if !s.from.isEmpty { return try updateFrom(s, t, singles) }
        let sets = try bindAssignments(singles, t, ty, f, binder)
        let ex = Executor(tx: tx, params: params)
        let rows = try matching(t, alias: alias, s.whereClause)
        var updated: [[Value]] = []
        for (pk, old) in rows {
            var new = old
            for (i, b) in sets {
                new[i] = try castValue(b.map { try ex.eval($0, old) } ?? defaultValue(t, i, ex, binder), to: ty[i])
            }
            try replaceRow(t, pk, old, new)
            updated.append(new)
        }
        if !s.returning.isEmpty {
            var r = try returning(s.returning, t, alias: alias, updated)
            r.tag = "UPDATE \(updated.count)"
            return r
        }
        return .command("UPDATE \(updated.count)", updated.count)
    }

    /// The rows of target `t` that join with `from` under `whereClause` (UPDATE ... FROM,
    /// DELETE ... USING), each once with its primary key (the first joined row wins, as in
    /// PostgreSQL, where which one is unspecified), and the values of `extra` expressions
    /// evaluated over the joined row.
    func joinedTargets(_ t: TableDesc, _ ref: RelationRef, _ from: [TableRef], _ whereClause: Expr?, extra: [Expr])
        throws -> [(pk: [UInt8], row: [Value], extra: [Value], extraTypes: [SQLType])] {
        let n = t.columns.count
        let qualifier = [ref.alias?.name ?? t.name]
        let select = Select(targets: [SelectItem(Expr(.star(qualifier: qualifier)))] + extra.map { SelectItem($0) },
                            from: [.relation(ref)] + from, whereClause: whereClause)
        let binder = session.binder()
        let bound = try binder.bindQuery(Query(body: .select(select)), outer: nil)
        let extraTypes = bound.columns.dropFirst(n).map(\.type)
        let ex = Executor(tx: tx, params: params)
        // Without a primary key, rows are found again by their values (identical rows are
        // interchangeable).
        var byValue: [[Value]: [[UInt8]]] = [:]
        if t.primaryKey.isEmpty {
            for (pk, row) in try matching(t, alias: ref.alias?.name, nil) { byValue[row.map(\.groupKey), default: []].append(pk) }
        }
        var seen = Set<[UInt8]>()
        var out: [(pk: [UInt8], row: [Value], extra: [Value], extraTypes: [SQLType])] = []
        for joined in try ex.run(bound.plan) {
            let row = Array(joined[0..<n])
            let pks = t.primaryKey.isEmpty
                ? byValue[row.map(\.groupKey)] ?? []
                : [KeyEncoding.encode(t.primaryKey.map { row[$0].groupKeyForIndex })]
            for pk in pks where seen.insert(pk).inserted {
                out.append((pk, row, Array(joined[n...]), Array(extraTypes)))
            }
        }
        return out
    }

    /// UPDATE ... FROM: the SET values are computed over the joined row.
    func updateFrom(_ s: UpdateStatement, _ t: TableDesc, _ singles: [(column: Int, value: Expr)]) throws -> StatementResult {
        let ty = try types(t)
        let columns = singles.map(\.column)
        let values = singles.map(\.value)
        // DEFAULT is not an expression a SELECT list takes: stand in NULL and fill it below.
        let isDefault = values.map { if case .defaultValue = $0.kind { true } else { false } }
        let exprs = zip(values, isDefault).map { $1 ? Expr(.literal(.null)) : $0 }
        let targets = try joinedTargets(t, s.table, s.from, s.whereClause, extra: exprs)
        if let first = targets.first {
            for (j, i) in columns.enumerated() where !isDefault[j] {
                try assignable(first.extraTypes[j], ty[i], t.columns[i].name)
            }
        }
        let ex = Executor(tx: tx, params: params)
        let binder = session.binder()
        var updated: [[Value]] = []
        for target in targets {
            var new = target.row
            for (j, i) in columns.enumerated() {
                new[i] = try castValue(isDefault[j] ? try defaultValue(t, i, ex, binder) : target.extra[j], to: ty[i])
            }
            try replaceRow(t, target.pk, target.row, new)
            updated.append(new)
        }
        if !s.returning.isEmpty {
            var r = try returning(s.returning, t, alias: s.table.alias?.name, updated)
            r.tag = "UPDATE \(updated.count)"
            return r
        }
        return .command("UPDATE \(updated.count)", updated.count)
    }

    /// Replaces the row stored under `pk` (`old`) with `new`: constraints checked, index
    /// entries moved, the row moved when its primary key changed. Returns the new key.
    @discardableResult
    func replaceRow(_ t: TableDesc, _ pk: [UInt8], _ old: [Value], _ new: [Value]) throws -> [UInt8] {
        try checkRow(t, new)
        var newPK = pk
        if !t.primaryKey.isEmpty {
            newPK = KeyEncoding.encode(t.primaryKey.map { new[$0].groupKeyForIndex })
        }
        try deleteIndexEntries(t, old, pk)
        if newPK != pk {
            if try tx.get(rowKey(t, newPK)) != nil {
                let cols = t.primaryKey.map { t.columns[$0].name }.joined(separator: ", ")
                let vals = t.primaryKey.map { new[$0].description }.joined(separator: ", ")
                throw SQLError(
                    .uniqueViolation,
                    "duplicate key value violates unique constraint \"\(t.name)_pkey\"", detail: "Key (\(cols))=(\(vals)) already exists."
                )
            }
            try tx.delete(rowKey(t, pk))
        }
        for idx in t.indexes { try putIndexEntry(t, idx, new, newPK) }
        try tx.put(rowKey(t, newPK), RowEncoding.encode(columnIDs: t.columns.map(\.id), values: new))
        try checkParents(t, new, old: old, key: rowKey(t, newPK))
        try parentRowsChanged(t, [(old, new)])
        return newPK
    }

    /// `INSERT ... ON CONFLICT (arbiter) DO UPDATE SET ... [WHERE ...]`, as PostgreSQL runs it:
    /// a proposed row whose arbiter key (the primary key or a unique index, named by its
    /// columns or `ON CONSTRAINT`) exists updates that row instead, with the proposed row as
    /// `excluded`; a row is affected at most once per statement (21000).
    final class Upsert {
        let dml: DML
        let t: TableDesc
        /// nil: the primary key is the arbiter.
        let arbiter: IndexDesc?
        let sets: [(Int, BExpr?)]
        let predicate: BExpr?
        let types: [SQLType]
        let binder: Binder
        var touched = Set<[UInt8]>()

        init(_ dml: DML, _ t: TableDesc, alias: String?, _ target: ConflictTarget?, _ clauses: [SetClause],
             _ whereClause: Expr?) throws {
            self.dml = dml
            self.t = t
            guard let target else {
                throw SQLError(.syntaxError, "ON CONFLICT DO UPDATE requires inference specification or constraint name")
            }
            let noMatch = SQLError(
                SQLState("42P10"), "there is no unique or exclusion constraint matching the ON CONFLICT specification")
            switch target {
            case let .columns(elements, predicate):
                if predicate != nil { throw SQLError.unsupported("ON CONFLICT with a partial-index predicate") }
                var cols = Set<Int>()
                for e in elements {
                    guard case let .column(name) = e.key,
                          let i = t.columns.firstIndex(where: { $0.name == name }) else {
                        throw SQLError.unsupported("ON CONFLICT on an expression")
                    }
                    cols.insert(i)
                }
                if !t.primaryKey.isEmpty && Set(t.primaryKey) == cols {
                    arbiter = nil
                } else if let idx = t.indexes.first(where: { $0.unique && !$0.isVector && $0.predicate == nil && Set($0.columns) == cols }) {
                    arbiter = idx
                } else {
                    throw noMatch
                }
            case let .constraint(name):
                if !t.primaryKey.isEmpty && name == "\(t.name)_pkey" {
                    arbiter = nil
                } else if let idx = t.indexes.first(where: { $0.unique && $0.name == name }) {
                    arbiter = idx
                } else {
                    throw SQLError(SQLState("42704"), "constraint \"\(name)\" for table \"\(t.name)\" does not exist")
                }
            }
            types = try dml.types(t)
            binder = dml.session.binder()
            // The target row's columns, then the proposed row's as `excluded`.
            let own = try dml.frame(t, alias: alias)
            let frame = Frame(columns: own.columns + own.columns.map {
                ScopeColumn(table: "excluded", name: $0.name, type: $0.type)
            }, outer: nil)
            sets = try dml.bindAssignments(try dml.assignments(clauses, t), t, types, frame, binder)
            let b = binder
            predicate = try whereClause.map { try b.bindBool($0, frame, nil, "WHERE") }
        }

        /// Inserts `proposed` or updates the row it conflicts with; returns the row written,
        /// or nil when the WHERE clause skipped the update.
        func apply(_ proposed: [Value], _ ex: Executor) throws -> [Value]? {
            var row: [Value] = []
            for (i, v) in proposed.enumerated() { row.append(try castValue(v, to: types[i])) }
            if let (pk, existing) = try conflicting(row) {
                guard touched.insert(pk).inserted else {
                    throw SQLError(SQLState("21000"), "ON CONFLICT DO UPDATE command cannot affect row a second time")
                }
                let both = existing + row
                if let predicate, try ex.eval(predicate, both) != .bool(true) { return nil }
                var new = existing
                for (i, b) in sets {
                    new[i] = try castValue(b.map { try ex.eval($0, both) } ?? dml.defaultValue(t, i, ex, binder), to: types[i])
                }
                touched.insert(try dml.replaceRow(t, pk, existing, new))
                return new
            }
            guard try dml.insertRow(t, row, onConflictNothing: false) else { return nil }
            let written = dml.lastRow.value
            if !t.primaryKey.isEmpty {
                touched.insert(KeyEncoding.encode(t.primaryKey.map { written[$0].groupKeyForIndex }))
            }
            return written
        }

        /// The stored row whose arbiter key equals the proposed row's, with its primary key.
        func conflicting(_ row: [Value]) throws -> ([UInt8], [Value])? {
            let ex = Executor(tx: dml.tx, params: dml.params)
            guard let idx = arbiter else {
                if t.primaryKey.contains(where: { row[$0].isNull }) { return nil }
                let pk = KeyEncoding.encode(t.primaryKey.map { row[$0].groupKeyForIndex })
                guard let bytes = try dml.tx.get(dml.rowKey(t, pk)) else { return nil }
                return (pk, try ex.decodeRow(t, bytes))
            }
            if idx.columns.contains(where: { row[$0].isNull }) { return nil }
            let prefix = dml.indexKey(t, idx, row)
            for (_, pk) in try dml.tx.scan(lower: prefix, upper: KeyEncoding.prefixEnd(prefix)) {
                if let bytes = try dml.tx.get(dml.rowKey(t, pk)) { return (pk, try ex.decodeRow(t, bytes)) }
            }
            return nil
        }
    }

    func delete(_ s: DeleteStatement) throws -> StatementResult {
        if s.with != nil { throw SQLError.unsupported("WITH in DELETE") }
        let t = try target(s.table.name)
        let alias = s.table.alias?.name
        let rows = s.using.isEmpty
            ? try matching(t, alias: alias, s.whereClause)
            : try joinedTargets(t, s.table, s.using, s.whereClause, extra: []).map { ($0.pk, $0.row) }
        for (pk, old) in rows {
            try deleteIndexEntries(t, old, pk)
            try tx.delete(rowKey(t, pk))
        }
        // Referencing rows are checked once the statement's rows are gone (a statement may
        // delete parents and their children together).
        try parentRowsChanged(t, rows.map { ($0.1, nil) })
        if !s.returning.isEmpty {
            var r = try returning(s.returning, t, alias: alias, rows.map(\.1))
            r.tag = "DELETE \(rows.count)"
            return r
        }
        return .command("DELETE \(rows.count)", rows.count)
    }
}

extension Value {
    /// The value as stored in keys: numerics normalised so equal values encode equally.
    var groupKeyForIndex: Value {
        if case .numeric(let n) = self {
            var u = n.unscaled
            var s = n.scale
            while s > 0 && u % 10 == 0 {
                u /= 10
                s -= 1
            }
            return .numeric(SQLDecimal(unscaled: u, scale: s))
        }
        return self
    }
}
