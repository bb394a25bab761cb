import ApusCore
import ApusVector

extension Executor {
    /// Runs a nearest-neighbour search through a vector index (see `VectorSearchSpec`).
    ///
    /// The index holds committed rows; this transaction's own changes to the table are left out
    /// of the index walk and scored here instead, so a search sees the transaction's writes and
    /// nobody else's uncommitted ones. Each hit's row is read through the transaction, so a row
    /// deleted meanwhile is never returned. A WHERE clause is checked during the walk (the index
    /// widens its search or scans exactly until it has `k` matching rows). Whenever the index
    /// cannot prove its answer complete (rows it could not index, hits that vanished, IVFFlat
    /// lists that ran dry), the exact plan runs instead.
    func vectorSearch(_ s: VectorSearchSpec) throws -> [[Value]] {
        guard let vs = tx.vectorState else { return try run(s.fallback) }
        var k = 0
        if let l = s.limit, case let .int(n) = try eval(l, []) { k = Int(clamping: n) } else { return try run(s.fallback) }
        if let o = s.offset {
            guard case let .int(n) = try eval(o, []) else { return try run(s.fallback) }
            k = k.addingReportingOverflow(Int(clamping: n)).partialValue
        }
        guard k >= 1, k <= VectorLimits().kMax else { return try run(s.fallback) }
        guard case let .vector(q) = try castValue(try eval(s.query, []), to: .vector(nil)) else { return try run(s.fallback) }
        let live = try vs.indexes.index(s.table, s.index, engine: vs.engine)
        guard q.count == live.dimension else { return try run(s.fallback) }
        let key = VectorIndexKey(table: s.table.id, index: s.index.id)
        let local = vs.changes.rows[key] ?? [:]
        let excluded = Set(local.keys.compactMap { live.rowID($0) })
        let rowPrefix = KeyEncoding.indexPrefix(table: s.table.id, index: 1)

        var cache: [Int64: [Value]?] = [:]
        var failure: (any Error)?
        func fetch(_ pk: [UInt8]) throws -> [Value]? {
            guard let bytes = try tx.get(rowPrefix + pk) else { return nil }
            return try decodeRow(s.table, bytes)
        }
        func admits(_ row: [Value]) throws -> Bool {
            guard let f = s.filter else { return true }
            return try eval(f, row) == .bool(true)
        }
        let needsCheck = s.filter != nil || !excluded.isEmpty
        let predicate = RowPredicate { id in
            if excluded.contains(id) || failure != nil { return false }
            guard s.filter != nil else { return true }
            do {
                guard let pk = live.key(id), let row = try fetch(pk) else { cache[id] = .some(nil); return false }
                cache[id] = row
                return try admits(row)
            } catch {
                failure = error
                return false
            }
        }
        var hits: [VectorHit] = []
        var complete = true
        let indexed = live.count
        if indexed > 0 {
            do {
                if let h = live.hnsw {
                    let ef = max(vs.efSearch, k)
                    hits = needsCheck
                        ? try h.search(q, k: min(k, indexed), efSearch: min(ef, 10_000), filter: predicate).hits
                        : try h.search(q, k: min(k, indexed), efSearch: min(ef, 10_000))
                } else if let ivf = live.ivf {
                    hits = needsCheck
                        ? try ivf.search(q, k: min(k, indexed), probes: max(1, vs.probes), filter: predicate)
                        : try ivf.search(q, k: min(k, indexed), probes: max(1, vs.probes))
                    // IVFFlat only sees the probed lists: short of k it may have missed rows.
                    if hits.count < k && hits.count < indexed { complete = false }
                }
            } catch is VectorError {
                // Not trained, or a query the index cannot take (a zero vector under cosine).
                return try run(s.fallback)
            }
        }
        if let failure { throw failure }
        var rows: [[Value]] = []
        for hit in hits {
            let row: [Value]?
            if let cached = cache[hit.rowID] { row = cached } else { row = try live.key(hit.rowID).flatMap { try fetch($0) } }
            guard let row else { complete = false; continue }
            rows.append(row)
        }
        for (pk, change) in local where change.present && change.vector != nil {
            if let row = try fetch(pk), try admits(row) { rows.append(row) }
        }
        if rows.count < k && (!complete || live.unindexedCount > 0) { return try run(s.fallback) }
        let col = s.index.columns[0]
        let dist = try rows.map { r -> Double in
            if case let .float(d) = try callFunction(s.distance, [r[col], .vector(q)], .float8), !d.isNaN { return d }
            return .infinity
        }
        let order = rows.indices.sorted { dist[$0] < dist[$1] }
        return order.prefix(k).map { rows[$0] }
    }
}
