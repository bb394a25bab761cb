import ApusCore

// Index-only scans: a query that reads nothing of the table but the columns of a secondary
// index's key and of the primary key (`SELECT id FROM t WHERE k = $1` with an index on `k`)
// reads them from the index entries and never fetches the rows, as PostgreSQL's Index Only
// Scan (which ApusDB can always use: an index entry is written and deleted in the same
// transaction as its row, so entries need no visibility check against the table).
//
// An index entry's key is the index prefix, the key encoding of the index columns' values and
// then the primary key's; its value is the primary key's encoding. Integer and text values
// decode back exactly from the key encoding, so only indexes and primary keys of such
// columns qualify.

extension Binder {
    /// `plan` with its index scan read from the index alone when that is enough: the plan is a
    /// projection over filters over an index scan, and they read only covered columns.
    func indexOnly(_ plan: Plan) -> Plan {
        guard case let .project(input, exprs) = plan else { return plan }
        var needed = Set<Int>()
        for e in exprs {
            guard let cols = e.columnsRead else { return plan }
            needed.formUnion(cols)
        }
        guard let inner = indexOnlyInput(input, &needed) else { return plan }
        return .project(inner, exprs)
    }

    private func indexOnlyInput(_ p: Plan, _ needed: inout Set<Int>) -> Plan? {
        switch p {
        case let .filter(input, pred):
            guard let cols = pred.columnsRead else { return nil }
            needed.formUnion(cols)
            return indexOnlyInput(input, &needed).map { .filter($0, pred) }
        case let .indexScan(t, idx, prefix):
            guard !idx.isVector, !t.primaryKey.isEmpty, t.viewSQL == nil else { return nil }
            let covered = idx.columns + t.primaryKey
            guard needed.allSatisfy({ $0 >= 0 && covered.contains($0) }),
                  covered.allSatisfy({ (try? colType(t, $0)).map(Binder.decodableFromKey) == true })
            else { return nil }
            return .indexOnlyScan(t, idx, prefix: prefix)
        default:
            return nil
        }
    }

    /// Whether values of a column of type `type` decode from the key encoding to the value
    /// stored (integers, and text without padding).
    static func decodableFromKey(_ type: SQLType) -> Bool {
        switch type {
        case .int2, .int4, .int8, .text, .varchar: true
        default: false
        }
    }
}

extension KeyEncoding {
    /// Decodes one integer, text or NULL value of the key encoding at `offset`, advancing it;
    /// nil for any other value or malformed bytes.
    static func decodeSimple(_ b: [UInt8], _ offset: inout Int) -> Value? {
        guard offset < b.count else { return nil }
        let tag = b[offset]
        offset += 1
        switch tag {
        case 0x05:
            return .null
        case 0x20:
            guard offset + 8 <= b.count else { return nil }
            var u: UInt64 = 0
            for i in 0..<8 { u = u << 8 | UInt64(b[offset + i]) }
            offset += 8
            return .int(Int64(bitPattern: u ^ (1 << 63)))
        case 0x40:
            var bytes: [UInt8] = []
            while offset + 1 < b.count {
                let x = b[offset]
                if x != 0 {
                    bytes.append(x)
                    offset += 1
                    continue
                }
                let next = b[offset + 1]
                offset += 2
                if next == 0x01 { return String(validating: bytes, as: UTF8.self).map(Value.text) }
                guard next == 0xFF else { return nil }
                bytes.append(0)
            }
            return nil
        default:
            return nil
        }
    }
}

extension Executor {
    /// The key prefix of the index entries whose leading columns equal `prefixExprs`' values,
    /// or nil when one is NULL (`=` finds nothing then).
    func indexLookupPrefix(_ t: TableDesc, _ idx: IndexDesc, _ prefixExprs: [BExpr]) throws -> [UInt8]? {
        let prefix = try prefixExprs.map { try eval($0, []) }
        if prefix.contains(where: \.isNull) { return nil }
        return KeyEncoding.indexPrefix(table: t.id, index: idx.id) + KeyEncoding.encode(prefix)
    }

    /// The rows of an index-only scan: full-width rows with the index's and the primary key's
    /// columns filled from the entries (the others NULL, and never read). An entry that does
    /// not decode is read through its row instead.
    func indexOnlyRows(_ t: TableDesc, _ idx: IndexDesc, _ prefixExprs: [BExpr]) throws -> [[Value]] {
        guard let p = try indexLookupPrefix(t, idx, prefixExprs) else { return [] }
        let valuesStart = KeyEncoding.indexPrefix(table: t.id, index: idx.id).count
        var out: [[Value]] = []
        for (key, pk) in try tx.scan(lower: p, upper: KeyEncoding.prefixEnd(p)) {
            try checkInterrupt()
            var row = [Value](repeating: .null, count: t.columns.count)
            var ok = true
            var at = valuesStart
            for c in idx.columns {
                guard let v = KeyEncoding.decodeSimple(key, &at) else { ok = false; break }
                row[c] = v
            }
            var pkAt = 0
            if ok {
                for c in t.primaryKey {
                    guard let v = KeyEncoding.decodeSimple(pk, &pkAt) else { ok = false; break }
                    row[c] = v
                }
            }
            if ok && at + pk.count == key.count && pkAt == pk.count {
                out.append(row)
            } else if let bytes = try tx.get(KeyEncoding.indexPrefix(table: t.id, index: 1) + pk) {
                out.append(try decodeRow(t, bytes))
            }
        }
        return out
    }
}
