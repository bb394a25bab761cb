import ApusCore

/// Rows in primary-key order without a sort: a table's rows are stored in its primary
/// index in key order, and the key encoding orders the values of the types below as
/// ORDER BY does. So `ORDER BY pk [DESC] [LIMIT n]` over a scan of the table (through
/// filters and projections that keep the key columns) reads the rows in order, forward or
/// backward, and stops after the rows the LIMIT and OFFSET take: `ORDER BY id DESC LIMIT
/// 10` reads 10 rows, not the table.
extension Executor {
    /// Column types whose key encoding's byte order is `Value.compare`'s order.
    static func keyOrderIsSortOrder(_ t: SQLType) -> Bool {
        switch t {
        case .bool, .int2, .int4, .int8, .oid, .text, .varchar, .date, .timestamp, .timestamptz, .time, .uuid: return true
        default: return false
        }
    }

    /// Whether the rows of `p` come in the order of the sort `keys` (false), or of the
    /// reverse of it (true), when read in primary-key order (nil: neither). `p` is a chain
    /// of filters and projections over a full or range scan, and the keys name a leading
    /// part of the primary key, in its column order, all ascending or all descending.
    static func primaryKeyOrder(_ p: Plan, _ keys: [SortKey]) -> Bool? {
        guard let first = keys.first else { return nil }
        switch p {
        case let .scan(t, prefix) where prefix.isEmpty:
            return primaryKeyOrder(t, keys, descending: first.descending)
        case let .scanRange(t, _, _):
            return primaryKeyOrder(t, keys, descending: first.descending)
        case let .filter(x, _):
            return primaryKeyOrder(x, keys)
        case let .project(x, exprs):
            var mapped: [SortKey] = []
            for k in keys {
                guard k.index < exprs.count, case let .column(c) = exprs[k.index] else { return nil }
                mapped.append(SortKey(index: c, descending: k.descending, nullsFirst: k.nullsFirst))
            }
            return primaryKeyOrder(x, mapped)
        default:
            return nil
        }
    }

    private static func primaryKeyOrder(_ t: TableDesc, _ keys: [SortKey], descending: Bool) -> Bool? {
        guard keys.count <= t.primaryKey.count else { return nil }
        for (i, k) in keys.enumerated() {
            guard k.index == t.primaryKey[i], k.descending == descending,
                  let type = try? SQLType.ofColumn(t.columns[k.index].typeSQL), keyOrderIsSortOrder(type)
            else { return nil }
        }
        return descending
    }

    /// Calls `body` with the rows of `p` (see `primaryKeyOrder`) in primary-key order, or in
    /// reverse, until it returns false. Returns false when it stopped.
    @discardableResult
    func orderedRows(_ p: Plan, reverse: Bool, _ body: ([Value]) throws -> Bool) throws -> Bool {
        switch p {
        case let .scan(t, _):
            let pfx = KeyEncoding.indexPrefix(table: t.id, index: 1)
            return try orderedScan(t, lower: pfx, upper: KeyEncoding.prefixEnd(pfx), reverse: reverse, body)
        case let .scanRange(t, lower, upper):
            guard let (lo, hi) = try rangeBounds(t, lower, upper) else { return true }
            return try orderedScan(t, lower: lo, upper: hi, reverse: reverse, body)
        case let .filter(x, pred):
            return try orderedRows(x, reverse: reverse) { r in try eval(pred, r) != .bool(true) || body(r) }
        case let .project(x, exprs):
            return try orderedRows(x, reverse: reverse) { r in try body(try exprs.map { try eval($0, r) }) }
        default:
            throw SQLError(.internalError, "ordered rows of an unordered plan")
        }
    }

    private func orderedScan(
        _ t: TableDesc, lower: [UInt8], upper: [UInt8], reverse: Bool, _ body: ([Value]) throws -> Bool
    ) throws -> Bool {
        var going = true
        var n = 0
        let visit: ([UInt8], [UInt8]) throws -> Bool = { _, bytes in
            n += 1
            if n & 255 == 0 { try self.checkInterrupt() }
            going = try body(try self.decodeRow(t, bytes))
            return going
        }
        if reverse {
            try tx.scanEachReverse(lower: lower, upper: upper, visit)
        } else {
            try tx.scanEach(lower: lower, upper: upper, visit)
        }
        return going
    }

    /// `ORDER BY ... [LIMIT]` read in primary-key order: rows `offset ..< offset + limit`
    /// of the ordered input (nil when `input` is not ordered by its primary key).
    func primaryKeyOrdered(_ input: Plan, _ keys: [SortKey], offset: Int, limit: Int) throws -> [[Value]]? {
        guard let reverse = Executor.primaryKeyOrder(input, keys) else { return nil }
        var out: [[Value]] = []
        if limit == 0 { return out }
        var seen = 0
        try orderedRows(input, reverse: reverse) { r in
            seen += 1
            if seen > offset { out.append(r) }
            return out.count < limit
        }
        return out
    }
}
