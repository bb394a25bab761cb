import ApusCore

extension DDL {
    /// `base`, or `base1`, `base2`, ... : the first name no relation has (PostgreSQL's choice
    /// for an unnamed index) in `schema`.
    func freeIndexName(_ base: String, schema: String) -> String {
        func taken(_ n: String) -> Bool { exists(schema, n) }
        if !taken(base) { return base }
        var i = 1
        while taken("\(base)\(i)") { i += 1 }
        return "\(base)\(i)"
    }

    /// `CREATE INDEX ... USING hnsw|ivfflat (col vector_l2_ops|vector_cosine_ops|vector_ip_ops)
    /// [WITH (m = 16, ef_construction = 64 | lists = 100)]`, with pgvector's checks and messages.
    /// The index is built from the table's rows when the statement's transaction commits.
    func createVectorIndex(_ c: CreateIndexStatement, _ t: inout TableDesc, _ method: String) throws -> StatementResult {
        if c.unique { throw SQLError(.featureNotSupported, "access method \"\(method)\" does not support unique indexes") }
        guard c.elements.count == 1 else {
            throw SQLError(.featureNotSupported, "access method \"\(method)\" does not support multicolumn indexes")
        }
        let el = c.elements[0]
        guard case .column(let n) = el.key else { throw SQLError.unsupported("expression indexes") }
        guard let col = t.columns.firstIndex(where: { $0.name == n }) else {
            throw SQLError(.undefinedColumn, "column \"\(n)\" does not exist")
        }
        let type = try SQLType.ofColumn(t.columns[col].typeSQL)
        guard case let .vector(dims) = type else {
            throw SQLError(.undefinedObject, "data type \(type) has no default operator class for access method \"\(method)\"")
        }
        guard let opclass = el.opclass?.name.lowercased() else {
            throw SQLError(.undefinedObject, "data type vector has no default operator class for access method \"\(method)\"")
        }
        guard LiveVectorIndex.metric(opclass) != nil else {
            throw SQLError(.undefinedObject, "operator class \"\(opclass)\" does not exist for access method \"\(method)\"")
        }
        guard dims != nil else { throw SQLError(.dataException, "column does not have dimensions") }
        var options: [String: Int] = [:]
        let allowed: [String: ClosedRange<Int>] = method == "hnsw" ? ["m": 2...100, "ef_construction": 4...1000] : ["lists": 1...32768]
        for o in c.options {
            guard let range = allowed[o.name] else {
                throw SQLError(.invalidParameterValue, "unrecognized parameter \"\(o.name)\"")
            }
            var text = ""
            switch o.value {
            case let .number(x)?, let .string(x)?, let .word(x)?: text = x
            case nil: break
            }
            guard let v = Int(text), range.contains(v) else {
                throw SQLError(.invalidParameterValue,
                               "value \(text) out of bounds for option \"\(o.name)\"",
                               position: 0)
            }
            options[o.name] = v
        }
        if method == "hnsw", let m = options["m"], (options["ef_construction"] ?? 64) < 2 * m {
            throw SQLError(.invalidParameterValue, "ef_construction must be greater than or equal to 2 * m")
        }
        let name = c.name ?? freeIndexName("\(t.name)_\(n)_idx", schema: t.schemaName)
        if exists(t.schemaName, name) {
            if c.ifNotExists { return .command("CREATE INDEX") }
            throw SQLError(.duplicateTable, "relation \"\(name)\" already exists")
        }
        let idx = IndexDesc(id: t.nextIndexID, name: name, unique: false, columns: [col], method: method, opclass: opclass,
                            options: options)
        t.nextIndexID += 1
        t.indexes.append(idx)
        tx.vectorState?.changes.builds.append((t, idx))
        var cat = session.txCatalog
        cat.tables[t.key] = t
        session.txCatalog = cat
        try cat.save(tx)
        return .command("CREATE INDEX")
    }
}
