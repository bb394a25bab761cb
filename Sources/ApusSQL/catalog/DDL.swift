import ApusCore

/// Runs DDL statements: catalog changes go through the session's transaction catalog and are
/// written in the statement's transaction, so they commit or roll back with the data.
struct DDL {
    let session: SQLSession
    let tx: any KVTransaction

    func exists(_ name: String) -> Bool { session.txCatalog.tables[name] != nil }

    func checkSchema(_ n: QualifiedName) throws {
        if n.parts.count > 1, let q = n.qualifier.last, q != "public" {
            throw SQLError(SQLState("3F000"), "schema \"\(q)\" does not exist")
        }
    }

    /// A column definition's descriptor and its column constraints (shared by CREATE TABLE and
    /// ALTER TABLE ADD COLUMN): SERIAL types become integers with a counter, IDENTITY likewise.
    func columnDefinition(_ cd: ColumnDefinition, id: UInt32) throws -> (
        column: ColumnDesc, primaryKey: Bool, unique: Bool, checks: [String], references: [(String?, ForeignKeyReference)]
    ) {
        let typeName = cd.type.name.name
        let serial = ["serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"].contains(typeName)
        _ = try SQLType.from(cd.type)
        var col = ColumnDesc(
            id: id, name: cd.name,
            typeSQL: serial ? (typeName.hasPrefix("big") || typeName == "serial8" ? "int8" : "int4") : cd.type.description,
            notNull: serial, defaultSQL: nil, serial: serial ? true : nil)
        var primary = false, unique = false
        var checks: [String] = []
        var references: [(String?, ForeignKeyReference)] = []
        for con in cd.constraints {
            switch con.kind {
            case .notNull: col.notNull = true
            case .null: break
            case .defaultValue(let e): col.defaultSQL = e.description
            case .primaryKey: primary = true
            case .unique: unique = true
            case .check(let e): checks.append(e.description)
            case .references(let r): references.append((con.name, r))
            case .identity:
                col.serial = true
                col.notNull = true
            case .generated: throw SQLError.unsupported("generated columns")
            }
        }
        return (col, primary, unique, checks, references)
    }

    func createTable(_ c: CreateTableStatement) throws -> StatementResult {
        try checkSchema(c.name)
        let name = c.name.name
        if exists(name) || session.txCatalog.tables.values.contains(where: { $0.indexes.contains { $0.name == name } })
        {
            if c.ifNotExists { return .command("CREATE TABLE") }
            throw SQLError(.duplicateTable, "relation \"\(name)\" already exists", position: c.name.position.offset)
        }
        var cat = session.txCatalog
        var t = TableDesc(
            id: cat.nextTableID, name: name, columns: [], primaryKey: [], indexes: [], viewSQL: nil,
            checks: nil, nextColumnID: 1, nextIndexID: 2)
        cat.nextTableID += 1
        var uniques: [[String]] = []
        var pk: [String]?
        var checks: [String] = []
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
                case .check(let e): checks.append(e.description)
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
        if !checks.isEmpty { t.checks = checks }
        for fk in foreignKeys {
            let desc = try foreignKey(t, columns: fk.columns, fk.ref, name: fk.name)
            t.foreignKeys = (t.foreignKeys ?? []) + [desc]
        }
        // Validate defaults and checks now, as PostgreSQL does.
        let binder = Binder(catalog: cat, paramTypes: [], user: session.user)
        let frame = Frame(
            columns: try t.columns.map {
                ScopeColumn(table: name, name: $0.name, type: try SQLType.ofColumn($0.typeSQL))
            }, outer: nil)
        for col in t.columns {
            if let d = col.defaultSQL {
                _ = try binder.bindExpr(try Parser.parseExpression(sql: d), Frame(columns: [], outer: nil), agg: nil)
            }
        }
        for ch in checks { _ = try binder.bindExpr(try Parser.parseExpression(sql: ch), frame, agg: nil) }
        cat.tables[name] = t
        session.txCatalog = cat
        try cat.save(tx)
        return .command("CREATE TABLE")
    }

    func createTableAs(_ c: CreateTableAsStatement, _ params: [Value]) throws -> StatementResult {
        try checkSchema(c.name)
        if exists(c.name.name) {
            if c.ifNotExists { return .command("SELECT 0") }
            throw SQLError(.duplicateTable, "relation \"\(c.name.name)\" already exists")
        }
        let b = try Binder(catalog: session.txCatalog, paramTypes: [], user: session.user).bindQuery(c.query, outer: nil)
        var elements: [TableElement] = []
        for (i, col) in b.columns.enumerated() {
            let n = i < c.columns.count ? c.columns[i] : col.name
            let t = col.type == .unknown || col.type == .null ? SQLType.text : col.type
            elements.append(.column(ColumnDefinition(name: n, type: try parseTypeSQL(typeSQL(t)))))
        }
        _ = try createTable(CreateTableStatement(name: c.name, elements: elements))
        guard c.withData else { return .command("SELECT 0") }
        let rows = try Executor(tx: tx, params: params).run(b.plan)
        guard let t = session.txCatalog.tables[c.name.name] else { throw SQLError(.internalError, "table vanished") }
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
        try checkSchema(c.table)
        guard var t = session.txCatalog.tables[c.table.name], t.viewSQL == nil else {
            throw SQLError(.undefinedTable, "relation \"\(c.table.name)\" does not exist")
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
        let name = c.name ?? freeIndexName("\(t.name)_\(cols.map { t.columns[$0].name }.joined(separator: "_"))_idx")
        let taken = exists(name) || session.txCatalog.tables.values.contains { $0.indexes.contains { $0.name == name } }
        if taken {
            if c.ifNotExists { return .command("CREATE INDEX") }
            throw SQLError(.duplicateTable, "relation \"\(name)\" already exists")
        }
        var idx = IndexDesc(id: t.nextIndexID, name: name, unique: c.unique, columns: cols)
        if c.unique { idx.indexOnly = true }
        if let w = c.whereClause {
            // A predicate over the table's own columns: no subqueries, aggregates or parameters.
            var bad = false
            let binder = Binder(catalog: session.txCatalog, paramTypes: [], user: session.user)
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
        cat.tables[t.name] = t
        session.txCatalog = cat
        try cat.save(tx)
        return .command("CREATE INDEX")
    }

    /// CREATE MATERIALIZED VIEW: a table made from the query (as CREATE TABLE AS) that keeps
    /// the query for REFRESH; writes to it are refused.
    func createMaterializedView(_ v: CreateViewStatement, _ params: [Value]) throws -> StatementResult {
        if exists(v.name.name) {
            if v.ifNotExists { return .command("CREATE MATERIALIZED VIEW") }
            throw SQLError(.duplicateTable, "relation \"\(v.name.name)\" already exists")
        }
        let r = try createTableAs(CreateTableAsStatement(name: v.name, columns: v.columns, query: v.query, withData: !v.withNoData), params)
        var cat = session.txCatalog
        cat.tables[v.name.name]?.matviewSQL = v.query.description
        cat.tables[v.name.name]?.matviewPopulated = !v.withNoData
        session.txCatalog = cat
        try cat.save(tx)
        return v.withNoData ? .command("CREATE MATERIALIZED VIEW") : r
    }

    /// REFRESH MATERIALIZED VIEW: the rows replaced by the query's rows now (or none, unpopulated).
    func refreshMaterializedView(_ r: RefreshMaterializedViewStatement, _ params: [Value]) throws -> StatementResult {
        try checkSchema(r.name)
        guard let t = session.txCatalog.tables[r.name.name] else {
            throw SQLError(.undefinedTable, "relation \"\(r.name.name)\" does not exist")
        }
        guard let sql = t.matviewSQL else { throw SQLError(.wrongObjectType, "\"\(t.name)\" is not a materialized view") }
        if r.concurrently && t.matviewPopulated != true {
            throw SQLError(SQLState("0A000"), "CONCURRENTLY cannot be used when the materialized view is not populated")
        }
        try deleteData(t)
        if r.withData {
            guard case let .query(q) = try Parser.parseStatement(sql: sql) else { throw SQLError(.dataCorrupted, "bad materialized view query") }
            let b = try Binder(catalog: session.txCatalog, paramTypes: [], user: session.user).bindQuery(q, outer: nil)
            let rows = try Executor(tx: tx, params: params).run(b.plan)
            let dml = DML(session: session, tx: tx, params: params)
            for row in rows { _ = try dml.insertRow(t, row, onConflictNothing: false) }
        }
        var cat = session.txCatalog
        cat.tables[t.name]?.matviewPopulated = r.withData
        session.txCatalog = cat
        try cat.save(tx)
        return .command("REFRESH MATERIALIZED VIEW")
    }

    func createView(_ v: CreateViewStatement) throws -> StatementResult {
        try checkSchema(v.name)
        if let old = session.txCatalog.tables[v.name.name] {
            if v.ifNotExists { return .command("CREATE VIEW") }
            if !(v.orReplace && old.viewSQL != nil) {
                throw SQLError(.duplicateTable, "relation \"\(v.name.name)\" already exists")
            }
        }
        let b = try Binder(catalog: session.txCatalog, paramTypes: [], user: session.user).bindQuery(v.query, outer: nil)
        var cat = session.txCatalog
        var cols: [ColumnDesc] = []
        for (i, c) in b.columns.enumerated() {
            cols.append(
                ColumnDesc(
                    id: UInt32(i + 1), name: i < v.columns.count ? v.columns[i] : c.name,
                    typeSQL: typeSQL(c.type), notNull: false, defaultSQL: nil, serial: nil))
        }
        let id = session.txCatalog.tables[v.name.name]?.id ?? cat.nextTableID
        if session.txCatalog.tables[v.name.name] == nil { cat.nextTableID += 1 }
        cat.tables[v.name.name] = TableDesc(
            id: id, name: v.name.name, columns: cols, primaryKey: [], indexes: [],
            viewSQL: v.query.description, checks: nil, nextColumnID: UInt32(cols.count + 1), nextIndexID: 2)
        session.txCatalog = cat
        try cat.save(tx)
        return .command("CREATE VIEW")
    }

    func deleteData(_ t: TableDesc) throws {
        tx.vectorState?.reset(table: t.id)
        let p = KeyEncoding.indexPrefix(table: t.id, index: 0)
        let lo = p
        let hi = KeyEncoding.indexPrefix(table: t.id &+ 1, index: 0)
        for (k, _) in try tx.scan(lower: lo, upper: hi) { try tx.delete(k) }
    }

    func drop(_ d: DropStatement) throws -> StatementResult {
        var cat = session.txCatalog
        let tag = "DROP \(d.kind.rawValue)"
        for n in d.names {
            switch d.kind {
            case .table, .view, .materializedView:
                let what = d.kind == .table ? "table" : d.kind == .view ? "view" : "materialized view"
                guard let t = cat.tables[n.name], n.parts.count == 1 || n.qualifier.last == "public" else {
                    if d.ifExists { continue }
                    throw SQLError(.undefinedTable, "\(what) \"\(n.name)\" does not exist")
                }
                let kind: ObjectKind = t.viewSQL != nil ? .view : t.matviewSQL != nil ? .materializedView : .table
                if kind != d.kind { throw SQLError(.wrongObjectType, "\"\(n.name)\" is not a \(what)") }
                // Refuse when a view depends on it (RESTRICT semantics), by name.
                for (vn, v) in cat.tables where vn != t.name {
                    if let sql = v.viewSQL, (try? Parser.parseStatement(sql: sql)).map({ viewUses($0, t.name) }) == true
                    {
                        if d.behavior == .cascade {
                            cat.tables[vn] = nil
                            continue
                        }
                        throw SQLError(
                            SQLState("2BP01"),
                            "cannot drop \(d.kind == .table ? "table" : "view") \(t.name) because other objects depend on it"
                        )
                    }
                }
                // Foreign keys of other tables that reference it: refused, or dropped with CASCADE.
                for (child, fk) in cat.references(to: t.id) where child.id != t.id {
                    guard d.behavior == .cascade else {
                        throw SQLError(
                            SQLState("2BP01"),
                            "cannot drop table \(t.name) because other objects depend on it (constraint \(fk.name) on table \(child.name))")
                    }
                    cat.tables[child.name]?.foreignKeys?.removeAll { $0.name == fk.name }
                }
                try deleteData(t)
                cat.tables[n.name] = nil
            case .index:
                guard
                    let (tn, i) = cat.tables.lazy.compactMap({ kv in
                        kv.value.indexes.firstIndex { $0.name == n.name }.map { (kv.key, $0) }
                    }).first,
                    var t = cat.tables[tn]
                else {
                    if d.ifExists { continue }
                    throw SQLError(.undefinedObject, "index \"\(n.name)\" does not exist")
                }
                let idx = t.indexes.remove(at: i)
                if idx.isVector { tx.vectorState?.reset(table: t.id) }
                let p = KeyEncoding.indexPrefix(table: t.id, index: idx.id)
                for (k, _) in try tx.scan(lower: p, upper: KeyEncoding.prefixEnd(p)) { try tx.delete(k) }
                cat.tables[tn] = t
            case .sequence:
                guard let seq = cat.sequences?[n.name] else {
                    if d.ifExists { continue }
                    throw SQLError(.undefinedTable, "sequence \"\(n.name)\" does not exist")
                }
                cat.sequences?[n.name] = nil
                try tx.delete(Catalog.sequenceValueKey(seq.id))
            case .schema:
                if d.ifExists { continue }
                throw SQLError(SQLState("3F000"), "schema \"\(n.name)\" does not exist")
            default:
                throw SQLError.unsupported("DROP \(d.kind.rawValue)")
            }
        }
        session.txCatalog = cat
        try cat.save(tx)
        return .command(tag)
    }

    func viewUses(_ s: Statement, _ table: String) -> Bool {
        s.description.lowercased().contains(table.lowercased())
            && s.description.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).contains {
                $0.lowercased() == table
            }
    }
}
