import ApusCore

/// ALTER TABLE. Changes that touch rows (new or dropped columns, type changes, new keys and
/// constraints) rewrite the table inside the statement's transaction: read every row with the
/// old descriptor, transform it, delete the table's keys, save the new descriptor and insert
/// the rows again (which rebuilds the primary key and the indexes and checks every
/// constraint). Renames and defaults change only the catalog (rows name columns by ID).
extension DDL {
    func alterTable(_ a: AlterTableStatement) throws -> StatementResult {
        if a.actions.allSatisfy({ if case .ownerTo = $0 { true } else { false } }), case let .ownerTo(role)? = a.actions.last {
            return try alterOwner(a, role)
        }
        guard try schemaOfNameExists(a.name, ifExists: a.ifExists), var t = try lookupTable(a.name), t.viewSQL == nil else {
            if a.ifExists { return .command("ALTER TABLE") }
            throw SQLError(.undefinedTable, "relation \"\(a.name.name)\" does not exist", position: a.name.position.offset)
        }
        // Column changes may rewrite rows or drop the indexed column: rebuild vector indexes after commit.
        if t.indexes.contains(where: \.isVector) { tx.vectorState?.reset(table: t.id) }
        let original = t
        let ex = Executor(tx: tx, params: [])
        let dml = DML(session: session, tx: tx, params: [])
        let prefix = KeyEncoding.indexPrefix(table: t.id, index: 1)
        // The rows, read only when an action needs them (a rename or a default reads none).
        var rows: [[Value]] = []
        var rowsLoaded = false
        func loadRows() throws {
            if rowsLoaded { return }
            rows = try ex.scanRows(original, lower: prefix, upper: KeyEncoding.prefixEnd(prefix))
            rowsLoaded = true
        }
        var rewrite = false
        var renamedTo: String?
        var movedTo: String?

        func column(_ name: String) throws -> Int {
            guard let i = t.columns.firstIndex(where: { $0.name == name }) else {
                throw SQLError(.undefinedColumn, "column \"\(name)\" of relation \"\(t.name)\" does not exist")
            }
            return i
        }
        func positions(_ names: [String]) throws -> [Int] { try names.map(column) }
        func checksMention(_ name: String) throws -> Bool {
            for ch in t.checks ?? [] {
                var found = false
                session.binder().walk(try Parser.parseExpression(sql: ch)) { x in
                    if case let .column(parts) = x.kind, parts.last == name { found = true }
                }
                if found { return true }
            }
            return false
        }

        for action in a.actions {
            switch action {
            case let .addColumn(cd, ifNotExists):
                if t.columns.contains(where: { $0.name == cd.name }) {
                    if ifNotExists { continue }
                    throw SQLError(.duplicateColumn, "column \"\(cd.name)\" of relation \"\(t.name)\" already exists")
                }
                let d = try columnDefinition(cd, id: t.nextColumnID)
                let col = d.column
                t.nextColumnID += 1
                let unique = d.unique
                let primary = d.primaryKey
                for (e, n) in d.checks { try addCheck(&t, e, name: n) }
                t.columns.append(col)
                let i = t.columns.count - 1
                // Existing rows get the default (evaluated per row, as PostgreSQL does for volatile ones).
                let b = session.binder()
                try loadRows()
                for r in rows.indices { rows[r].append(try dml.defaultValue(t, i, ex, b)) }
                if primary {
                    guard t.primaryKey.isEmpty else {
                        throw SQLError(SQLState("42P16"), "multiple primary keys for table \"\(t.name)\" are not allowed")
                    }
                    t.primaryKey = [i]
                    t.columns[i].notNull = true
                }
                if unique {
                    t.indexes.append(IndexDesc(id: t.nextIndexID, name: "\(t.name)_\(cd.name)_key", unique: true, columns: [i]))
                    t.nextIndexID += 1
                }
                rewrite = true
            case let .dropColumn(name, ifExists, _):
                guard let i = t.columns.firstIndex(where: { $0.name == name }) else {
                    if ifExists { continue }
                    throw SQLError(.undefinedColumn, "column \"\(name)\" of relation \"\(t.name)\" does not exist")
                }
                if t.primaryKey.contains(i) { throw SQLError.unsupported("dropping a primary key column") }
                let columnID = t.columns[i].id
                let referenced = session.txCatalog.references(to: t.id).contains { $0.fk.refColumns.contains(columnID) }
                if referenced || (t.foreignKeys ?? []).contains(where: { $0.columns.contains(columnID) }) {
                    throw SQLError(
                        SQLState("2BP01"),
                        "cannot drop column \(name) of table \(t.name) because a foreign key constraint depends on it")
                }
                // As PostgreSQL: indexes and CHECK constraints that use the column go with it.
                t.indexes.removeAll { $0.columns.contains(i) }
                // Partial indexes whose predicate uses the column go too.
                let remaining = t.columns.enumerated().filter { $0.offset != i }.map(\.element)
                let rf = Frame(columns: try remaining.map {
                    ScopeColumn(table: t.name, name: $0.name, type: try SQLType.ofColumn($0.typeSQL))
                }, outer: nil)
                t.indexes.removeAll { idx in
                    guard let p = idx.predicate else { return false }
                    guard let e = try? Parser.parseExpression(sql: p) else { return true }
                    return (try? session.binder().bindExpr(e, rf, agg: nil)) == nil
                }
                t.columns.remove(at: i)
                t.primaryKey = t.primaryKey.map { $0 > i ? $0 - 1 : $0 }
                for k in t.indexes.indices { t.indexes[k].columns = t.indexes[k].columns.map { $0 > i ? $0 - 1 : $0 } }
                if let checks = t.checks {
                    let f = Frame(columns: try t.columns.map {
                        ScopeColumn(table: t.name, name: $0.name, type: try SQLType.ofColumn($0.typeSQL))
                    }, outer: nil)
                    let binder = session.binder()
                    // Checks that read the dropped column go with it (by position: names stay paired).
                    let keep = checks.indices.filter { n in
                        guard let e = try? Parser.parseExpression(sql: checks[n]) else { return false }
                        return (try? binder.bindExpr(e, f, agg: nil)) != nil
                    }
                    let names = keep.map { t.checkName($0) }
                    t.checks = keep.isEmpty ? nil : keep.map { checks[$0] }
                    t.checkNames = keep.isEmpty ? nil : names
                }
                try loadRows()
                for r in rows.indices { rows[r].remove(at: i) }
                rewrite = true
            case let .renameColumn(old, new):
                let i = try column(old)
                if t.columns.contains(where: { $0.name == new }) {
                    throw SQLError(.duplicateColumn, "column \"\(new)\" of relation \"\(t.name)\" already exists")
                }
                if try checksMention(old) { throw SQLError.unsupported("renaming a column that a CHECK constraint uses") }
                for idx in t.indexes {
                    guard let p = idx.predicate else { continue }
                    var found = false
                    session.binder().walk(try Parser.parseExpression(sql: p)) { x in
                        if case let .column(parts) = x.kind, parts.last == old { found = true }
                    }
                    if found { throw SQLError.unsupported("renaming a column that a partial index's predicate uses") }
                }
                t.columns[i].name = new
            case let .renameTable(new):
                if exists(t.schemaName, new) {
                    throw SQLError(.duplicateTable, "relation \"\(new)\" already exists")
                }
                renamedTo = new
            case let .setDefault(name, e):
                let i = try column(name)
                _ = try session.binder().bindExpr(e, Frame(columns: [], outer: nil), agg: nil)
                t.columns[i].defaultSQL = e.description
            case let .dropDefault(name):
                t.columns[try column(name)].defaultSQL = nil
            case let .setNotNull(name):
                let i = try column(name)
                try loadRows()
                if rows.contains(where: { $0[i].isNull }) {
                    throw SQLError(.notNullViolation, "column \"\(name)\" of relation \"\(t.name)\" contains null values")
                }
                t.columns[i].notNull = true
            case let .dropNotNull(name):
                let i = try column(name)
                if t.primaryKey.contains(i) { throw SQLError(SQLState("42P16"), "column \"\(name)\" is in a primary key") }
                t.columns[i].notNull = false
            case let .alterType(name, type, using):
                let i = try column(name)
                let newType = try SQLType.from(type)
                let f = try DML(session: session, tx: tx, params: []).frame(t, alias: nil)
                let conv = try using.map { try session.binder().bindExpr($0, f, agg: nil).0 }
                try loadRows()
                for r in rows.indices {
                    let v = try conv.map { try ex.eval($0, rows[r]) } ?? rows[r][i]
                    rows[r][i] = try castValue(v, to: newType)
                }
                t.columns[i].typeSQL = type.description
                t.columns[i].id = t.nextColumnID
                t.nextColumnID += 1
                rewrite = true
            case let .addConstraint(tc):
                switch tc.kind {
                case let .primaryKey(names, _):
                    guard t.primaryKey.isEmpty else {
                        throw SQLError(SQLState("42P16"), "multiple primary keys for table \"\(t.name)\" are not allowed")
                    }
                    t.primaryKey = try positions(names)
                    for p in t.primaryKey { t.columns[p].notNull = true }
                case let .unique(names, _):
                    let cols = try positions(names)
                    let name = tc.name ?? "\(t.name)_\(names.joined(separator: "_"))_key"
                    t.indexes.append(IndexDesc(id: t.nextIndexID, name: name, unique: true, columns: cols))
                    t.nextIndexID += 1
                case let .check(e):
                    let f = try DML(session: session, tx: tx, params: []).frame(t, alias: nil)
                    _ = try session.binder().bindBool(e, f, nil, "CHECK")
                    try addCheck(&t, e, name: tc.name)
                case let .foreignKey(cols, r):
                    // Checked against the existing rows before it is added.
                    let fk = try foreignKey(t, columns: cols, r, name: tc.name)
                    let dml = DML(session: session, tx: tx, params: [])
                    let prefix = KeyEncoding.indexPrefix(table: t.id, index: 1)
                    for (_, v) in try tx.scan(lower: prefix, upper: KeyEncoding.prefixEnd(prefix)) {
                        var probe = t
                        probe.foreignKeys = [fk]
                        try dml.checkParents(probe, try RowEncoding.decode(v, columns: t.columns))
                    }
                    t.foreignKeys = (t.foreignKeys ?? []) + [fk]
                    continue
                }
                rewrite = true
            case let .dropConstraint(name, ifExists, _):
                if let k = t.foreignKeys?.firstIndex(where: { $0.name == name }) {
                    t.foreignKeys?.remove(at: k)
                } else if let k = t.indexes.firstIndex(where: { $0.name == name && $0.unique }) {
                    t.indexes.remove(at: k)
                    rewrite = true
                } else if let k = (0..<(t.checks?.count ?? 0)).first(where: { t.checkName($0) == name }) {
                    var names = (0..<(t.checks?.count ?? 0)).map { t.checkName($0) }
                    names.remove(at: k)
                    t.checks?.remove(at: k)
                    t.checkNames = names
                    if t.checks?.isEmpty == true { t.checks = nil; t.checkNames = nil }
                } else if name == "\(t.name)_pkey" && !t.primaryKey.isEmpty {
                    throw SQLError.unsupported("dropping a primary key")
                } else if !ifExists {
                    throw SQLError(SQLState("42704"), "constraint \"\(name)\" of relation \"\(t.name)\" does not exist")
                }
            case .renameConstraint:
                throw SQLError.unsupported("ALTER TABLE RENAME CONSTRAINT")
            case .ownerTo:
                throw SQLError.unsupported("OWNER TO together with other ALTER TABLE actions")
            case let .addIdentity(name, options):
                let i = try column(name)
                guard ["int2", "int4", "int8"].contains(t.columns[i].typeSQL) else {
                    throw SQLError(.invalidParameterValue, "identity column type must be smallint, integer, or bigint")
                }
                if t.columns[i].serial == true || t.columns[i].defaultSQL != nil {
                    throw SQLError(SQLState("55000"), "column \"\(name)\" of relation \"\(t.name)\" is already an identity column")
                }
                t.columns[i].serial = true
                t.columns[i].notNull = true
                // START WITH moves the table's counter forward only: it also numbers hidden row IDs.
                if let start = options.compactMap({ if case let .start(s) = $0 { s } else { nil } }).last, start > 1 {
                    try tx.updateOutside(Catalog.sequenceKey(table: t.id)) { (b: [UInt8]?) throws(SQLError) -> [UInt8] in
                        var n: Int64 = 0
                        if let b, case .int(let v)? = try RowEncoding.decode(b)[0] { n = v }
                        return RowEncoding.encode(columnIDs: [0], values: [.int(max(n, start - 1))])
                    }
                }
            case let .setSchema(schema):
                guard session.txCatalog.schemaExists(schema) else { throw SQLError(.undefinedSchema, "schema \"\(schema)\" does not exist") }
                if Catalog.systemSchemas.contains(schema) {
                    throw SQLError(.insufficientPrivilege, "permission denied to create \"\(schema).\(t.name)\"")
                }
                if schema != t.schemaName {
                    for n in [renamedTo ?? t.name] + t.indexes.map(\.name) where exists(schema, n) {
                        throw SQLError(.duplicateTable, "relation \"\(n)\" already exists in schema \"\(schema)\"")
                    }
                }
                movedTo = schema
            }
        }
        var cat = session.txCatalog
        cat.tables[t.key] = nil
        if let renamedTo { t.name = renamedTo }
        if let movedTo { t.schema = movedTo == "public" ? nil : movedTo }
        cat.tables[t.key] = t
        session.txCatalog = cat
        try cat.save(tx)
        if rewrite {
            try loadRows()
            try deleteData(original)
            let fresh = DML(session: session, tx: tx, params: [])
            let types = try fresh.types(t)
            for r in rows {
                try ex.checkInterrupt()
                _ = try fresh.insertRow(t, r, onConflictNothing: false, columnTypes: types)
            }
        }
        return .command("ALTER TABLE")
    }

    /// `ALTER TABLE | VIEW | SEQUENCE name OWNER TO role`: records the owner, which pg_class,
    /// pg_tables and psql show (privileges are not enforced yet, so it changes nothing else).
    func alterOwner(_ a: AlterTableStatement, _ role: String) throws -> StatementResult {
        let name = role == "current_user" || role == "session_user" ? session.user : role
        guard session.txCatalog.allRoles[name] != nil else { throw SQLError(.undefinedObject, "role \"\(role)\" does not exist") }
        let owner = name == session.txCatalog.bootstrapRoleName ? nil : name
        var cat = session.txCatalog
        let schemaKnown = try schemaOfNameExists(a.name, ifExists: a.ifExists)
        if schemaKnown, var t = try lookupTable(a.name) {
            t.owner = owner
            cat.tables[t.key] = t
        } else if schemaKnown, var s = try cat.lookupSequence(a.name, path: path) {
            s.owner = owner
            cat.sequences?[s.key] = s
        } else {
            if a.ifExists { return .command("ALTER TABLE") }
            throw SQLError(.undefinedTable, "relation \"\(a.name.name)\" does not exist", position: a.name.position.offset)
        }
        session.txCatalog = cat
        try cat.save(tx)
        return .command("ALTER TABLE")
    }
}
