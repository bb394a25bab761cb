import ApusCore

/// Rows in primary-key order without a sort: a table's rows are stored in its primary
/// index in key order, and the key encoding orders the values of the types below as
/// ORDER BY does. So `ORDER BY pk [DESC] [LIMIT n]` over a scan of the table (through
/// filters and projections that keep the key columns) reads the rows in order, forward or
/// backward, and stops after the rows the LIMIT and OFFSET take: `ORDER BY id DESC LIMIT
/// 10` reads 10 rows, not the table. With a LIMIT, a secondary index whose leading columns
/// are the sort keys does the same (`ORDER BY created_at DESC LIMIT 10` over an index on
/// `created_at`, or `WHERE user_id = $1 ORDER BY created_at` over one on `(user_id,
/// created_at)`): its entries are read in order and each row is fetched by its key.
extension Executor {
    /// How a plan's rows can be read in sort order.
    enum OrderSource {
        /// The primary index, backward when `reverse`.
        case primaryKey(reverse: Bool)
        /// A secondary index's entries under `prefix` (the values of its leading columns), then
        /// the rows they point to. `reverse`: the sort is descending. `nullsFirst`: the first
        /// sort key's NULLs (which the key encoding stores before every value) come first.
        case index(IndexDesc, prefix: [BExpr], reverse: Bool, nullsFirst: Bool)
    }

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
        guard let first = keys.first, let (leaf, keys) = scanKeys(p, keys) else { return nil }
        switch leaf {
        case let .scan(t, prefix) where prefix.isEmpty: return primaryKeyOrder(t, keys, descending: first.descending)
        case let .scanRange(t, _, _): return primaryKeyOrder(t, keys, descending: first.descending)
        default: return nil
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

    /// Calls `body` with the rows of `p` in the order `source` reads them (see
    /// `primaryKeyOrder`, `indexOrder`), until it returns false. Returns false when it stopped.
    @discardableResult
    func orderedRows(_ p: Plan, _ source: OrderSource, _ body: ([Value]) throws -> Bool) throws -> Bool {
        if case let .primaryKey(reverse) = source, let t = Executor.scannedTable(p) {
            guard let (lo, hi) = try primaryRange(p) else { return true }
            return try orderedScan(t, lower: lo, upper: hi, reverse: reverse, body)
        }
        switch (p, source) {
        case let (.scan(t, _), .index(idx, prefix, reverse, nullsFirst)), let (.indexScan(t, _, _), .index(idx, prefix, reverse, nullsFirst)):
            let values = try prefix.map { try eval($0, []) }
            if values.contains(where: \.isNull) { return true }
            let p = KeyEncoding.indexPrefix(table: t.id, index: idx.id) + KeyEncoding.encode(values)
            // The next column's NULLs are stored first (tag 0x05), its values after (tags >= 0x10).
            let nulls = (p + [0x05], p + [0x06]), others = (p + [0x06], KeyEncoding.prefixEnd(p))
            for (lo, hi) in nullsFirst ? [nulls, others] : [others, nulls] {
                guard try orderedScan(t, lower: lo, upper: hi, reverse: reverse, fetch: true, body) else { return false }
            }
            return true
        case let (.filter(x, pred), _):
            return try orderedRows(x, source) { r in try eval(pred, r) != .bool(true) || body(r) }
        case let (.project(x, exprs), _):
            return try orderedRows(x, source) { r in try body(try exprs.map { try eval($0, r) }) }
        default:
            throw SQLError(.internalError, "ordered rows of an unordered plan")
        }
    }

    /// The rows stored in `[lower, upper)` in key order or reversed: of the primary index, or
    /// with `fetch`, of a secondary index, whose entries hold the row's key (each row is then
    /// read by it).
    private func orderedScan(
        _ t: TableDesc, lower: [UInt8], upper: [UInt8], reverse: Bool, fetch: Bool = false, _ body: ([Value]) throws -> Bool
    ) throws -> Bool {
        var going = true
        var n = 0
        let rowPrefix = KeyEncoding.indexPrefix(table: t.id, index: 1)
        let visit: ([UInt8], [UInt8]) throws -> Bool = { _, value in
            n += 1
            if n & 255 == 0 { try self.checkInterrupt() }
            guard let bytes = fetch ? try self.tx.get(rowPrefix + value) : value else { return true }
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

    /// `ORDER BY ... LIMIT` read in order: rows `offset ..< offset + limit` of the ordered
    /// input (nil when neither the primary key nor an index gives the order).
    func readInOrder(_ input: Plan, _ keys: [SortKey], offset: Int, limit: Int) throws -> [[Value]]? {
        let source: OrderSource
        if let reverse = Executor.primaryKeyOrder(input, keys) {
            source = .primaryKey(reverse: reverse)
        } else if offset + limit <= 10_000, let s = Executor.indexOrder(input, keys) {
            // Each row is fetched by its key: worth it for a few rows.
            source = s.source
        } else {
            return nil
        }
        var out: [[Value]] = []
        if limit == 0 { return out }
        var seen = 0
        try orderedRows(input, source) { r in
            seen += 1
            if seen > offset { out.append(r) }
            return out.count < limit
        }
        return out
    }

    /// The sort keys mapped through filters and projections onto the columns of the scan
    /// below them, with that scan (nil when a key is not a plain column there).
    static func scanKeys(_ p: Plan, _ keys: [SortKey]) -> (Plan, [SortKey])? {
        switch p {
        case .scan, .scanRange, .indexScan: return (p, keys)
        case let .filter(x, _): return scanKeys(x, keys)
        case let .project(x, exprs):
            var mapped: [SortKey] = []
            for k in keys {
                guard k.index < exprs.count, case let .column(c) = exprs[k.index] else { return nil }
                mapped.append(SortKey(index: c, descending: k.descending, nullsFirst: k.nullsFirst))
            }
            return scanKeys(x, mapped)
        default: return nil
        }
    }

    /// A B-tree index whose entries give the rows of `p` in the order of `keys`: under a full
    /// scan, one whose leading columns are the keys; under an index lookup, the looked-up
    /// index when the keys are its columns after the looked-up prefix. Keys are all
    /// ascending or all descending; after the first, a key's column is NOT NULL or its NULLs
    /// are placed where the encoding stores them (first ascending, last descending).
    static func indexOrder(_ p: Plan, _ keys: [SortKey]) -> (source: OrderSource, index: IndexDesc, table: TableDesc)? {
        guard let first = keys.first, let (leaf, keys) = scanKeys(p, keys) else { return nil }
        func fits(_ t: TableDesc, _ idx: IndexDesc, from start: Int) -> Bool {
            guard idx.method == nil, idx.predicate == nil, start + keys.count <= idx.columns.count else { return false }
            for (i, k) in keys.enumerated() {
                let c = idx.columns[start + i]
                guard k.index == c, k.descending == first.descending,
                      let type = try? SQLType.ofColumn(t.columns[c].typeSQL), keyOrderIsSortOrder(type)
                else { return false }
                if i > 0 && !t.columns[c].notNull && k.nullsFirst == k.descending { return false }
            }
            return true
        }
        switch leaf {
        case let .scan(t, prefix) where prefix.isEmpty:
            guard let idx = t.indexes.first(where: { fits(t, $0, from: 0) }) else { return nil }
            return (.index(idx, prefix: [], reverse: first.descending, nullsFirst: first.nullsFirst), idx, t)
        case let .indexScan(t, idx, prefix) where fits(t, idx, from: prefix.count):
            return (.index(idx, prefix: prefix, reverse: first.descending, nullsFirst: first.nullsFirst), idx, t)
        default:
            return nil
        }
    }
}
