import ApusCore

/// CREATE/ALTER/DROP SEQUENCE and nextval/setval. The value is stored in the key space;
/// nextval and setval change it outside the calling transaction (as in PostgreSQL: a
/// rolled-back nextval is not handed out again, and concurrent callers never wait).
extension DDL {
    func createSequence(_ c: CreateSequenceStatement) throws -> StatementResult {
        let schema = try session.txCatalog.creationSchema(c.name, path: path)
        let name = c.name.name
        var cat = session.txCatalog
        if exists(schema, name) {
            if c.ifNotExists {
                session.notice("42P07", "relation \"\(c.name.name)\" already exists, skipping")
                return .command("CREATE SEQUENCE")
            }
            throw SQLError(.duplicateTable, "relation \"\(name)\" already exists")
        }
        var d = SequenceDesc(id: cat.nextTableID, name: name, start: 1, increment: 1, minValue: 1, maxValue: Int64.max, cycle: false)
        if schema != "public" { d.schema = schema }
        cat.nextTableID += 1
        try apply(c.options, to: &d, creating: true)
        cat.sequences = (cat.sequences ?? [:]).merging([d.key: d]) { $1 }
        session.txCatalog = cat
        try cat.save(tx)
        // Stored: the last value handed out, or nil before the first nextval.
        try tx.delete(Catalog.sequenceValueKey(d.id))
        return .command("CREATE SEQUENCE")
    }

    func alterSequence(_ a: AlterSequenceStatement) throws -> StatementResult {
        var cat = session.txCatalog
        guard try schemaOfNameExists(a.name, ifExists: a.ifExists), var d = try cat.lookupSequence(a.name, path: path) else {
            if a.ifExists { return .command("ALTER SEQUENCE") }
            throw SQLError(.undefinedTable, "relation \"\(a.name.name)\" does not exist")
        }
        try apply(a.options, to: &d, creating: false)
        cat.sequences?[d.key] = d
        session.txCatalog = cat
        try cat.save(tx)
        return .command("ALTER SEQUENCE")
    }

    func apply(_ options: [SequenceOption], to d: inout SequenceDesc, creating: Bool) throws {
        var minSet: Int64??
        var maxSet: Int64??
        var startSet: Int64?
        for o in options {
            switch o {
            case .asType(let t):
                guard ["int2", "int4", "int8", "smallint", "integer", "int", "bigint"].contains(t.name.name) else {
                    throw SQLError(.invalidParameterValue, "sequence type must be smallint, integer, or bigint")
                }
                if !creating { continue }
                let n = t.name.name
                d.maxValue = n == "int2" || n == "smallint" ? Int64(Int16.max) : n == "int8" || n == "bigint" ? Int64.max : Int64(Int32.max)
            case .increment(let n):
                guard n != 0 else { throw SQLError(.invalidParameterValue, "INCREMENT must not be zero") }
                d.increment = n
            case .minValue(let v): minSet = .some(v)
            case .maxValue(let v): maxSet = .some(v)
            case .start(let v): startSet = v
            case .restart(let v):
                let value = v ?? d.start
                try tx.put(Catalog.sequenceValueKey(d.id), RowEncoding.encode(columnIDs: [0, 1], values: [.int(value), .bool(false)]))
            case .cache: break
            case .cycle(let c): d.cycle = c
            case .ownedBy: break
            }
        }
        if let m = minSet { d.minValue = m ?? (d.increment > 0 ? 1 : Int64.min) } else if creating && d.increment < 0 {
            d.minValue = Int64.min
        }
        if let m = maxSet { d.maxValue = m ?? (d.increment > 0 ? Int64.max : -1) } else if creating && d.increment < 0 { d.maxValue = -1 }
        if let s = startSet { d.start = s } else if creating { d.start = d.increment > 0 ? d.minValue : d.maxValue }
        guard d.minValue < d.maxValue else {
            throw SQLError(.invalidParameterValue, "MINVALUE (\(d.minValue)) must be less than MAXVALUE (\(d.maxValue))")
        }
        guard d.start >= d.minValue && d.start <= d.maxValue else {
            throw SQLError(.invalidParameterValue, "START value (\(d.start)) cannot be outside the sequence bounds")
        }
    }
}

extension Executor {
    /// setval's value (checked against the bounds) and is_called (default true).
    func setvalArguments(_ a: [Value], _ lo: Int64, _ hi: Int64, _ seqName: String) throws(SQLError) -> (Int64, Bool) {
        guard a.count > 7, case let .int(v) = a[7] else { throw SQLError(.internalError, "bad setval call") }
        guard v >= lo && v <= hi else {
            throw SQLError(SQLState("22003"), "setval: value \(v) is out of bounds for sequence \"\(seqName)\" (\(lo)..\(hi))")
        }
        if a.count > 8, case let .bool(c) = a[8] { return (v, c) }
        return (v, true)
    }

    /// nextval/setval: `args[0]` is the sequence's ID (resolved by the binder) and the bounds.
    func sequenceFunction(_ name: String, _ a: [Value]) throws -> Value {
        guard case let .int(id) = a[0], case let .int(start) = a[1], case let .int(inc) = a[2], case let .int(lo) = a[3],
              case let .int(hi) = a[4], case let .bool(cycle) = a[5], case let .text(seqName) = a[6]
        else { throw SQLError(.internalError, "bad sequence call") }
        // Outside the transaction, as in PostgreSQL: concurrent callers never conflict, and
        // a rolled-back transaction's values are not handed out again.
        if name != "nextval", a.count > 7, a[7].isNull { return .null }  // setval is strict
        if id < 0 {
            // A serial column's implied sequence: the table's counter holds the last value handed out.
            var result: Int64 = 0
            try tx.updateOutside(Catalog.sequenceKey(table: UInt32(-id - 1))) { (b: [UInt8]?) throws(SQLError) -> [UInt8] in
                var last: Int64 = 0
                if let b, case .int(let v)? = try RowEncoding.decode(b)[0] { last = v }
                if name == "nextval" {
                    guard last < hi else {
                        throw SQLError(SQLState("2200H"), "nextval: reached maximum value of sequence \"\(seqName)\" (\(hi))")
                    }
                    result = last + 1
                    return RowEncoding.encode(columnIDs: [0], values: [.int(result)])
                }
                let (v, isCalled) = try setvalArguments(a, lo, hi, seqName)
                let next = isCalled ? v : v - 1
                if cycle && next < last {
                    // The counter of a table without a primary key also numbers its hidden row IDs:
                    // moving it back would hand out the IDs of existing rows.
                    throw SQLError(.featureNotSupported,
                                   "setval cannot move \"\(seqName)\" back: its table has no primary key, and the counter numbers its rows")
                }
                result = v
                return RowEncoding.encode(columnIDs: [0], values: [.int(next)])
            }
            return .int(result)
        }
        var result: Int64 = 0
        try tx.updateOutside(Catalog.sequenceValueKey(UInt32(id))) { (b: [UInt8]?) throws(SQLError) -> [UInt8] in
            var last: Int64?
            var called = true
            if let b {
                let m = try RowEncoding.decode(b)
                if case let .int(v)? = m[0] { last = v }
                if case let .bool(c)? = m[1] { called = c }
            }
            switch name {
            case "nextval":
                var next: Int64
                if let last, called {
                    let (n, overflow) = last.addingReportingOverflow(inc)
                    next = n
                    if overflow || n > hi || n < lo {
                        guard cycle else {
                            throw SQLError(
                                SQLState("2200H"),
                                "nextval: reached \(inc > 0 ? "maximum" : "minimum") value of sequence \"\(seqName)\" (\(inc > 0 ? hi : lo))")
                        }
                        next = inc > 0 ? lo : hi
                    }
                } else {
                    next = last ?? start
                }
                result = next
                return RowEncoding.encode(columnIDs: [0, 1], values: [.int(next), .bool(true)])
            default: // setval(seq, value[, is_called])
                let (v, isCalled) = try setvalArguments(a, lo, hi, seqName)
                result = v
                return RowEncoding.encode(columnIDs: [0, 1], values: [.int(v), .bool(isCalled)])
            }
        }
        return .int(result)
    }
}
