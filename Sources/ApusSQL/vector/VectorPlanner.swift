import ApusCore

extension Binder {
    /// Uses a vector index for `SELECT ... FROM t [WHERE ...] ORDER BY col <op> query LIMIT k`
    /// when `t` has an HNSW or IVFFlat index on `col` whose operator class orders by `<op>`,
    /// and `query` does not depend on the row. Rewrites the scan (and its filter) under the
    /// sort into a `vectorSearch`; the sort and limit stay, now over at most `k` rows.
    func useVectorIndex(_ plan: Plan) -> Plan {
        guard case let .limit(inner, limit, offset) = plan, let limit else { return plan }
        switch inner {
        case let .trim(.sort(.project(input, exprs), keys), n):
            guard let v = vectorInput(input, exprs, keys, limit, offset) else { return plan }
            return .limit(.trim(.sort(.project(v, exprs), keys), n), limit: limit, offset: offset)
        case let .sort(.project(input, exprs), keys):
            guard let v = vectorInput(input, exprs, keys, limit, offset) else { return plan }
            return .limit(.sort(.project(v, exprs), keys), limit: limit, offset: offset)
        default:
            return plan
        }
    }

    private func vectorInput(_ input: Plan, _ exprs: [BExpr], _ keys: [SortKey], _ limit: BExpr, _ offset: BExpr?) -> Plan? {
        // One sort key only: with a second key, rows tied on distance at the k-th place would
        // have to be ordered by it, which the index cannot do.
        guard keys.count == 1, let first = keys.first, !first.descending, first.index < exprs.count else { return nil }
        guard case let .function(fn, args, _) = exprs[first.index], args.count == 2 else { return nil }
        let table: TableDesc
        var filter: BExpr?
        switch input {
        case let .scan(t, prefix) where prefix.isEmpty: table = t
        case let .filter(.scan(t, prefix), f) where prefix.isEmpty: table = t; filter = f
        default: return nil
        }
        // The distance operators are symmetric: the column may be on either side.
        var column: Int
        var query: BExpr
        if case let .column(c) = args[0], rowIndependent(args[1]) {
            column = c
            query = args[1]
        } else if case let .column(c) = args[1], rowIndependent(args[0]) {
            column = c
            query = args[0]
        } else {
            return nil
        }
        guard let idx = table.indexes.first(where: {
            $0.isVector && $0.columns == [column] && LiveVectorIndex.distanceFunction($0.opclass) == fn
        }) else { return nil }
        return .vectorSearch(VectorSearchSpec(table: table, index: idx, query: query, limit: limit, offset: offset,
                                              filter: filter, distance: fn, fallback: input))
    }

    private func rowIndependent(_ e: BExpr) -> Bool {
        switch e {
        case .const, .param: true
        case let .cast(x, _): rowIndependent(x)
        default: false
        }
    }
}
