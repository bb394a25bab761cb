import ApusCore

/// Runs DDL statements: catalog changes go through the session's transaction catalog and are
/// written in the statement's transaction, so they commit or roll back with the data.
struct DDL {
    let session: SQLSession
    let tx: any KVTransaction

    /// Whether a relation (table, view, index, sequence) named `name` exists in `schema`.
    func exists(_ schema: String, _ name: String) -> Bool { session.txCatalog.relationExists(schema: schema, name) }

    /// The table or view `n` names through the session's search path.
    func lookupTable(_ n: QualifiedName) throws -> TableDesc? { try session.txCatalog.lookupTable(n, path: path) }

    /// For DROP and ALTER of `n`: false when `n` is qualified by a schema that does not exist
    /// (3F000 unless `ifExists`).
    func schemaOfNameExists(_ n: QualifiedName, ifExists: Bool) throws -> Bool {
        guard let s = try Catalog.qualifier(n), !session.txCatalog.schemaExists(s) else { return true }
        if ifExists { return false }
        try session.txCatalog.requireSchema(of: n)
        return false
    }

    /// A column definition's descriptor and its column constraints (shared by CREATE TABLE and
    /// ALTER TABLE ADD COLUMN): SERIAL types become integers with a counter, IDENTITY likewise.
    func columnDefinition(_ cd: ColumnDefinition, id: UInt32) throws -> (
        column: ColumnDesc, primaryKey: Bool, unique: Bool, checks: [(Expr, String?)], references: [(String?, ForeignKeyReference)]
    ) {
        let typeName = cd.type.name.name
        let serial = ["serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"].contains(typeName)
        _ = try SQLType.from(cd.type)
        var col = ColumnDesc(
            id: id, name: cd.name,
            typeSQL: serial ? (typeName.hasPrefix("big") || typeName == "serial8" ? "int8" : "int4") : cd.type.description,
            notNull: serial, defaultSQL: nil, serial: serial ? true : nil)
        var primary = false, unique = false
        var checks: [(Expr, String?)] = []
        var references: [(String?, ForeignKeyReference)] = []
        for con in cd.constraints {
            switch con.kind {
            case .notNull: col.notNull = true
            case .null: break
            case .defaultValue(let e): col.defaultSQL = e.description
            case .primaryKey: primary = true
            case .unique: unique = true
            case .check(let e): checks.append((e, con.name))
            case .references(let r): references.append((con.name, r))
            case .identity:
                col.serial = true
                col.notNull = true
            case .generated: throw SQLError.unsupported("generated columns")
            }
        }
        return (col, primary, unique, checks, references)
    }

    /// Adds a CHECK constraint: named `name`, or as PostgreSQL names it (`table_column_check`
    /// when it reads one column, `table_check` otherwise, with a number when taken).
    /// - Throws: 42710 when `name` is taken.
    func addCheck(_ t: inout TableDesc, _ e: Expr, name: String?) throws {
        var names = (0..<(t.checks?.count ?? 0)).map { t.checkName($0) }
        let chosen: String
        if let name {
            if names.contains(name) {
                throw SQLError(.duplicateObject, "constraint \"\(name)\" for relation \"\(t.name)\" already exists")
            }
            chosen = name
        } else {
            var columns: [String] = []
            session.binder().walk(e) { x in
                if case let .column(parts) = x.kind, let c = parts.last, !columns.contains(c) { columns.append(c) }
            }
            let base = columns.count == 1 ? "\(t.name)_\(columns[0])_check" : "\(t.name)_check"
            var candidate = base
            var k = 0
            while names.contains(candidate) {
                k += 1
                candidate = base + String(k)
            }
            chosen = candidate
        }
        t.checks = (t.checks ?? []) + [e.description]
        names.append(chosen)
        t.checkNames = names
    }

    func createTable(_ c: CreateTableStatement) throws -> StatementResult {
        let schema = try session.txCatalog.creationSchema(c.name, path: path)
        let name = c.name.name
        if exists(schema, name) {
            if c.ifNotExists {
                session.notice("42P07", "relation \"\(name)\" already exists, skipping")
                return .command("CREATE TABLE")
            }
            throw SQLError(.duplicateTable, "relation \"\(name)\" already exists", position: c.name.position.offset)
        }
        var cat = session.txCatalog
        var t = TableDesc(
            id: cat.nextTableID, name: name, columns: [], primaryKey: [], indexes: [], viewSQL: nil,
            checks: nil, nextColumnID: 1, nextIndexID: 2)
        if schema != "public" { t.schema = schema }
        cat.nextTableID += 1
        var uniques: [[String]] = []
        var pk: [String]?
        // Column constraints first, then table constraints, as PostgreSQL names them in that order.
        var checks: [(Expr, String?)] = []
        var tableChecks: [(Expr, String?)] = []
        var foreignKeys: [(name: String?, columns: [String], ref: ForeignKeyReference)] = []
        for el in c.elements {
            switch el {
            case .column(let cd):
                if t.columns.contains(where: { $0.name == cd.name }) {
                    throw SQLError(
                        .duplicateColumn, "column \"\(cd.name)\" specified more than once", position: cd.position.offset
                    )
                }
                let d = try columnDefinition(cd, id: t.nextColumnID)
                let col = d.column
                t.nextColumnID += 1
                if d.primaryKey {
                    if pk != nil {
                        throw SQLError(SQLState("42P16"), "multiple primary keys for table \"\(name)\" are not allowed")
                    }
                    pk = [cd.name]
                }
                if d.unique { uniques.append([cd.name]) }
                checks += d.checks
                foreignKeys += d.references.map { ($0.0, [cd.name], $0.1) }
                t.columns.append(col)
            case .constraint(let tc):
                switch tc.kind {
                case .primaryKey(let cols, _):
                    if pk != nil {
                        throw SQLError(SQLState("42P16"), "multiple primary keys for table \"\(name)\" are not allowed")
                    }
                    pk = cols
                case .unique(let cols, _): uniques.append(cols)
                case .check(let e): tableChecks.append((e, tc.name))
                case .foreignKey(let cols, let r): foreignKeys.append((tc.name, cols, r))
                }
            }
        }
        if let pk {
            for n in pk {
                guard let i = t.columns.firstIndex(where: { $0.name == n }) else {
                    throw SQLError(.undefinedColumn, "column \"\(n)\" named in key does not exist")
                }
                t.primaryKey.append(i)
                t.columns[i].notNull = true
            }
        }
        for u in uniques {
            var cols: [Int] = []
            for n in u {
                guard let i = t.columns.firstIndex(where: { $0.name == n }) else {
                    throw SQLError(.undefinedColumn, "column \"\(n)\" named in key does not exist")
                }
                cols.append(i)
            }
            if cols == t.primaryKey { continue }
            t.indexes.append(
                IndexDesc(
                    id: t.nextIndexID, name: "\(name)_\(u.joined(separator: "_"))_key", unique: true, columns: cols))
            t.nextIndexID += 1
        }
        for (e, n) in checks + tableChecks { try addCheck(&t, e, name: n) }
        for fk in foreignKeys {
            let desc = try foreignKey(t, columns: fk.columns, fk.ref, name: fk.name)
            t.foreignKeys = (t.foreignKeys ?? []) + [desc]
        }
        // Validate defaults and checks now, as PostgreSQL does.
        let binder = session.binder(cat)
        let frame = Frame(
            columns: try t.columns.map {
                ScopeColumn(table: name, name: $0.name, type: try SQLType.ofColumn($0.typeSQL))
            }, outer: nil)
        for col in t.columns {
            if let d = col.defaultSQL {
                _ = try binder.bindExpr(try Parser.parseExpression(sql: d), Frame(columns: [], outer: nil), agg: nil)
            }
        }
        for ch in t.checks ?? [] { _ = try binder.bindExpr(try Parser.parseExpression(sql: ch), frame, agg: nil) }
        cat.tables[t.key] = t
        session.txCatalog = cat
        try cat.save(tx)
        return .command("CREATE TABLE")
    }

    func createTableAs(_ c: CreateTableAsStatement, _ params: [Value]) throws -> StatementResult {
        let schema = try session.txCatalog.creationSchema(c.name, path: path)
        if exists(schema, c.name.name) {
            if c.ifNotExists {
                session.notice("42P07", "relation \"\(c.name.name)\" already exists, skipping")
                return .command("SELECT 0")
            }
            throw SQLError(.duplicateTable, "relation \"\(c.name.name)\" already exists")
        }
        let b = try session.binder().bindQuery(c.query, outer: nil)
        var elements: [TableElement] = []
        for (i, col) in b.columns.enumerated() {
            let n = i < c.columns.count ? c.columns[i] : col.name
            let t = col.type == .unknown || col.type == .null ? SQLType.text : col.type
            elements.append(.column(ColumnDefinition(name: n, type: try parseTypeSQL(typeSQL(t)))))
        }
        _ = try createTable(CreateTableStatement(name: QualifiedName([schema, c.name.name], position: c.name.position), elements: elements))
        guard c.withData else { return .command("SELECT 0") }
        let rows = try Executor(tx: tx, params: params).run(b.plan)
        guard let t = session.txCatalog.table(schema: schema, c.name.name) else { throw SQLError(.internalError, "table vanished") }
        let dml = DML(session: session, tx: tx, params: params)
        for r in rows { _ = try dml.insertRow(t, r, onConflictNothing: false) }
        return .command("SELECT \(rows.count)", rows.count)
    }

    func typeSQL(_ t: SQLType) -> String {
        switch t {
        case .bool: "bool"
        case .int2: "int2"
        case .int4: "int4"
        case .int8: "int8"
        case .float4: "float4"
        case .float8: "float8"
        case .numeric(let p, let s): p.map { "numeric(\($0),\(s ?? 0))" } ?? "numeric"
        case .varchar(let n): n.map { "varchar(\($0))" } ?? "varchar"
        case .bpchar(let n): "bpchar(\(n ?? 1))"
        case .bytea: "bytea"
        case .date: "date"
        case .time: "time"
        case .timestamp: "timestamp"
        case .timestamptz: "timestamptz"
        case .interval: "interval"
        case .uuid: "uuid"
        case .jsonb: "jsonb"
        case .json: "json"
        case .oid: "oid"
        case let .vector(n): n.map { "vector(\($0))" } ?? "vector"
        case let .array(e): typeSQL(e) + "[]"
        default: "text"
        }
    }

    func createIndex(_ c: CreateIndexStatement) throws -> StatementResult {
        try session.txCatalog.requireSchema(of: c.table)
        guard var t = try lookupTable(c.table), t.viewSQL == nil else {
            throw SQLError(.undefinedTable, "relation \"\(c.table.parts.joined(separator: "."))\" does not exist")
        }
        let method = c.method ?? "btree"
        if method == "hnsw" || method == "ivfflat" { return try createVectorIndex(c, &t, method) }
        guard method == "btree" || method == "hash" else {
            throw SQLError(.undefinedObject, "access method \"\(method)\" does not exist")
        }
        var cols: [Int] = []
        for el in c.elements {
            guard case .column(let n) = el.key else { throw SQLError.unsupported("expression indexes") }
            if let oc = el.opclass?.name, oc.hasPrefix("vector_") {
                throw SQLError(.undefinedObject, "operator class \"\(oc)\" does not exist for access method \"\(method)\"")
            }
            guard let i = t.columns.firstIndex(where: { $0.name == n }) else {
                throw SQLError(.undefinedColumn, "column \"\(n)\" does not exist")
            }
            cols.append(i)
        }
        let name = c.name ?? freeIndexName("\(t.name)_\(cols.map { t.columns[$0].name }.joined(separator: "_"))_idx", schema: t.schemaName)
        if exists(t.schemaName, name) {
            if c.ifNotExists {
                session.notice("42P07", "relation \"\(c.name ?? "")\" already exists, skipping")
                return .command("CREATE INDEX")
            }
            throw SQLError(.duplicateTable, "relation \"\(name)\" already exists")
        }
        var idx = IndexDesc(id: t.nextIndexID, name: name, unique: c.unique, columns: cols)
        if c.unique { idx.indexOnly = true }
        let ordering = c.elements.map { el -> Int in
            let desc = el.direction == .descending
            let nullsFirst = el.nulls.map { $0 == .first } ?? desc
            return (desc ? 1 : 0) | (nullsFirst ? 2 : 0)
        }
        if ordering.contains(where: { $0 != 0 }) { idx.ordering = ordering }
        if let w = c.whereClause {
            // A predicate over the table's own columns: no subqueries, aggregates or parameters.
            var bad = false
            let binder = session.binder()
            binder.walk(w) { x in
                switch x.kind {
                case .exists, .subquery, .inSubquery, .quantifiedSubquery, .arraySubquery, .parameter: bad = true
                default: break
                }
            }
            if bad { throw SQLError.unsupported("subqueries and parameters in an index predicate") }
            let f = Frame(columns: try t.columns.map {
                ScopeColumn(table: t.name, name: $0.name, type: try SQLType.ofColumn($0.typeSQL))
            }, outer: nil)
            _ = try binder.bindBool(w, f, nil, "WHERE")
            idx.predicate = Deparser.expr(w)
        }
        t.nextIndexID += 1
        t.indexes.append(idx)
        // Build the index from the existing rows.
        let dml = DML(session: session, tx: tx, params: [])
        for (key, value) in try tx.scan(
            lower: KeyEncoding.indexPrefix(table: t.id, index: 1),
            upper: KeyEncoding.prefixEnd(KeyEncoding.indexPrefix(table: t.id, index: 1)))
        {
            let row = try Executor(tx: tx, params: []).decodeRow(t, value)
            let pk = Array(key.dropFirst(9))
            try dml.putIndexEntry(t, idx, row, pk)
        }
        var cat = session.txCatalog
        cat.tables[t.key] = t
        session.txCatalog = cat
        try cat.save(tx)
        return .command("CREATE INDEX")
    }

    /// CREATE MATERIALIZED VIEW: a table made from the query (as CREATE TABLE AS) that keeps
    /// the query for REFRESH; writes to it are refused.
    func createMaterializedView(_ v: CreateViewStatement, _ params: [Value]) throws -> StatementResult {
        let schema = try session.txCatalog.creationSchema(v.name, path: path)
        if exists(schema, v.name.name) {
            if v.ifNotExists { return .command("CREATE MATERIALIZED VIEW") }
            throw SQLError(.duplicateTable, "relation \"\(v.name.name)\" already exists")
        }
        let qualified = QualifiedName([schema, v.name.name], position: v.name.position)
        let r = try createTableAs(CreateTableAsStatement(name: qualified, columns: v.columns, query: v.query, withData: !v.withNoData), params)
        var cat = session.txCatalog
        let key = Catalog.relationKey(schema, v.name.name)
        cat.tables[key]?.matviewSQL = v.query.description
        cat.tables[key]?.matviewPopulated = !v.withNoData
        cat.tables[key]?.viewSearchPath = path
        session.txCatalog = cat
        try cat.save(tx)
        return v.withNoData ? .command("CREATE MATERIALIZED VIEW") : r
    }

    /// REFRESH MATERIALIZED VIEW: the rows replaced by the query's rows now (or none, unpopulated).
    func refreshMaterializedView(_ r: RefreshMaterializedViewStatement, _ params: [Value]) throws -> StatementResult {
        try session.txCatalog.requireSchema(of: r.name)
        guard let t = try lookupTable(r.name) else {
            throw SQLError(.undefinedTable, "relation \"\(r.name.name)\" does not exist")
        }
        guard let sql = t.matviewSQL else { throw SQLError(.wrongObjectType, "\"\(t.name)\" is not a materialized view") }
        if r.concurrently && t.matviewPopulated != true {
            throw SQLError(SQLState("0A000"), "CONCURRENTLY cannot be used when the materialized view is not populated")
        }
        try deleteData(t)
        if r.withData {
            guard case let .query(q) = try Parser.parseStatement(sql: sql) else { throw SQLError(.dataCorrupted, "bad materialized view query") }
            let binder = session.binder()
            binder.searchPath = t.viewSearchPath ?? ["public"]
            let b = try binder.bindQuery(q, outer: nil)
            let rows = try Executor(tx: tx, params: params).run(b.plan)
            let dml = DML(session: session, tx: tx, params: params)
            for row in rows { _ = try dml.insertRow(t, row, onConflictNothing: false) }
        }
        var cat = session.txCatalog
        cat.tables[t.key]?.matviewPopulated = r.withData
        session.txCatalog = cat
        try cat.save(tx)
        return .command("REFRESH MATERIALIZED VIEW")
    }

    func createView(_ v: CreateViewStatement) throws -> StatementResult {
        let schema = try session.txCatalog.creationSchema(v.name, path: path)
        let old = session.txCatalog.table(schema: schema, v.name.name)
        if old != nil || exists(schema, v.name.name) {
            if v.ifNotExists { return .command("CREATE VIEW") }
            if !(v.orReplace && old?.viewSQL != nil) {
                throw SQLError(.duplicateTable, "relation \"\(v.name.name)\" already exists")
            }
        }
        let binder = session.binder()
        let b = try binder.bindQuery(v.query, outer: nil)
        var cat = session.txCatalog
        var cols: [ColumnDesc] = []
        for (i, c) in b.columns.enumerated() {
            cols.append(
                ColumnDesc(
                    id: UInt32(i + 1), name: i < v.columns.count ? v.columns[i] : c.name,
                    typeSQL: typeSQL(c.type), notNull: false, defaultSQL: nil, serial: nil))
        }
        let id = old?.id ?? cat.nextTableID
        if old == nil { cat.nextTableID += 1 }
        var view = TableDesc(
            id: id, name: v.name.name, columns: cols, primaryKey: [], indexes: [],
            viewSQL: v.query.description, checks: nil, nextColumnID: UInt32(cols.count + 1), nextIndexID: 2)
        if schema != "public" { view.schema = schema }
        view.viewSearchPath = binder.searchPath
        cat.tables[view.key] = view
        session.txCatalog = cat
        try cat.save(tx)
        return .command("CREATE VIEW")
    }

    /// DROP TABLE's rows. On the MVCC layout they stay where they are: the drop writes one key
    /// naming the table's span (`MVCCLayer.droppedKey`), and the rows are deleted by range once
    /// the GC window has passed the drop (`MVCCLayer.collectDrops`), instead of a deletion per
    /// row now (a 1,000,000-row table took 10 s to drop). Until then they stay readable at
    /// timestamps before the drop, as every version inside the window is.
    func dropData(_ t: TableDesc) throws {
        guard let st = tx as? StorageTransaction, let layer = st.mvcc?.layer else { return try deleteData(t) }
        tx.vectorState?.reset(table: t.id)
        layer.noteDrop()
        let span = DDL.tableSpan(t)
        try tx.put(MVCCLayer.droppedKey(table: t.id), MVCCLayer.droppedValue(lower: span.lower, upper: span.upper))
    }

    /// Every key of table `t`'s rows and indexes.
    static func tableSpan(_ t: TableDesc) -> (lower: [UInt8], upper: [UInt8]) {
        (KeyEncoding.indexPrefix(table: t.id, index: 0), KeyEncoding.indexPrefix(table: t.id &+ 1, index: 0))
    }

    func deleteData(_ t: TableDesc) throws {
        tx.vectorState?.reset(table: t.id)
        let span = DDL.tableSpan(t)
        for (k, _) in try tx.scan(lower: span.lower, upper: span.upper) { try tx.delete(k) }
    }

    func drop(_ d: DropStatement) throws -> StatementResult {
        if d.kind == .schema { return try dropSchemas(d) }
        var cat = session.txCatalog
        let tag = "DROP \(d.kind.rawValue)"
        for n in d.names {
            guard try schemaOfNameExists(n, ifExists: d.ifExists) else { continue }
            switch d.kind {
            case .table, .view, .materializedView:
                let what = d.kind == .table ? "table" : d.kind == .view ? "view" : "materialized view"
                guard let t = try cat.lookupTable(n, path: path) else {
                    if d.ifExists {
                        session.notice("00000", "\(what) \"\(n.name)\" does not exist, skipping")
                        continue
                    }
                    throw SQLError(.undefinedTable, "\(what) \"\(n.name)\" does not exist")
                }
                let kind: ObjectKind = t.viewSQL != nil ? .view : t.matviewSQL != nil ? .materializedView : .table
                if kind != d.kind { throw SQLError(.wrongObjectType, "\"\(n.name)\" is not a \(what)") }
                // Refuse when a view depends on it (RESTRICT semantics).
                for (vn, v) in cat.tables where vn != t.key && viewDepends(v, on: t, cat) {
                    if d.behavior == .cascade {
                        cat.tables[vn] = nil
                        continue
                    }
                    throw SQLError(
                        SQLState("2BP01"),
                        "cannot drop \(d.kind == .table ? "table" : "view") \(t.name) because other objects depend on it"
                    )
                }
                // Foreign keys of other tables that reference it: refused, or dropped with CASCADE.
                for (child, fk) in cat.references(to: t.id) where child.id != t.id {
                    guard d.behavior == .cascade else {
                        throw SQLError(
                            SQLState("2BP01"),
                            "cannot drop table \(t.name) because other objects depend on it (constraint \(fk.name) on table \(child.name))")
                    }
                    cat.tables[child.key]?.foreignKeys?.removeAll { $0.name == fk.name }
                }
                try dropData(t)
                try tx.delete(TableStats.key(t.id))
                cat.tables[t.key] = nil
            case .index:
                guard let (found, i) = try cat.lookupIndex(n, path: path), var t = cat.tables[found.key] else {
                    if d.ifExists {
                        session.notice("00000", "index \"\(n.name)\" does not exist, skipping")
                        continue
                    }
                    throw SQLError(.undefinedObject, "index \"\(n.name)\" does not exist")
                }
                let idx = t.indexes.remove(at: i)
                if idx.isVector { tx.vectorState?.reset(table: t.id) }
                let p = KeyEncoding.indexPrefix(table: t.id, index: idx.id)
                for (k, _) in try tx.scan(lower: p, upper: KeyEncoding.prefixEnd(p)) { try tx.delete(k) }
                cat.tables[t.key] = t
            case .sequence:
                guard let seq = try cat.lookupSequence(n, path: path) else {
                    if d.ifExists {
                        session.notice("00000", "sequence \"\(n.name)\" does not exist, skipping")
                        continue
                    }
                    throw SQLError(.undefinedTable, "sequence \"\(n.name)\" does not exist")
                }
                cat.sequences?[seq.key] = nil
                try tx.delete(Catalog.sequenceValueKey(seq.id))
            default:
                throw SQLError.unsupported("DROP \(d.kind.rawValue)")
            }
        }
        session.txCatalog = cat
        try cat.save(tx)
        return .command(tag)
    }

    /// Whether view `v` reads table or view `t`: its text names `t`, and its query binds in
    /// `cat` but not without `t`.
    func viewDepends(_ v: TableDesc, on t: TableDesc, _ cat: Catalog) -> Bool {
        guard let sql = v.viewSQL, let stmt = try? Parser.parseStatement(sql: sql), viewUses(stmt, t.name),
              case let .query(q) = stmt else { return false }
        func binds(_ c: Catalog) -> Bool {
            let b = session.binder(c)
            b.searchPath = v.viewSearchPath ?? ["public"]
            return (try? b.bindQuery(q, outer: nil)) != nil
        }
        var without = cat
        without.tables[t.key] = nil
        return binds(cat) && !binds(without)
    }

    func viewUses(_ s: Statement, _ table: String) -> Bool {
        s.description.lowercased().contains(table.lowercased())
            && s.description.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).contains {
                $0.lowercased() == table
            }
    }
}
