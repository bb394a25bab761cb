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
        // An index this transaction created is built when it commits; until then the exact plan
        // answers (built now, from the committed rows, it would lack the transaction's writes
        // made before CREATE INDEX, and keep lacking them after the commit).
        if vs.changes.builds.contains(where: { $0.0.id == s.table.id && $0.1.id == s.index.id }) { return try run(s.fallback) }
        let live = try vs.indexes.index(s.table, s.index, engine: vs.engine)
        guard q.count == live.dimension else { return try run(s.fallback) }
        // The index holds the latest committed rows: a snapshot from before a commit that
        // removed or moved rows may see rows the index lacks.
        if let st = tx as? StorageTransaction, !st.sees(commit: live.removedThrough) { return try run(s.fallback) }
        let key = VectorIndexKey(table: s.table.id, index: s.index.id)
        let local = vs.changes.rows[key] ?? [:]
        let excluded = Set(local.keys.compactMap { live.rowID($0) })
        let rowPrefix = KeyEncoding.indexPrefix(table: s.table.id, index: 1)

        var failure: (any Error)?
        func fetch(_ pk: [UInt8]) throws -> [Value]? {
            guard let bytes = try tx.get(rowPrefix + pk) else { return nil }
            return try decodeRow(s.table, bytes)
        }
        func admits(_ row: [Value]) throws -> Bool {
            guard let f = s.filter else { return true }
            return try eval(f, row) == .bool(true)
        }
        // The filter reads only its own columns: rows are decoded for it without the rest
        // (above all without the vector), and only the k hits are read whole.
        let mask = s.filter.flatMap { columnMask($0, width: s.table.columns.count) }
        func filterRow(_ pk: [UInt8]) throws -> [Value]? {
            guard let bytes = try tx.get(rowPrefix + pk) else { return nil }
            return try RowEncoding.decode(bytes, columns: s.table.columns, needed: mask)
        }
        // The index keeps each row's small column values: a filter on them is checked in
        // memory. Filters on vectors or of unknown shape read the rows.
        let inMemory = mask.map { m in m.indices.allSatisfy { !m[$0] || !s.table.columns[$0].typeSQL.hasPrefix("vector") } }
            ?? false
        var selectivity: Double?
        if s.filter != nil {
            // Estimate the filter's selectivity on a sample of indexed rows. Checked by reading
            // rows, a selective filter is cheaper to answer by ranking the matching rows of one
            // pass over the table than by walking the graph (every node met costs a lookup).
            var sampled = 0, matched = 0
            for (id, pk) in live.sampleKeys(VectorSearchTuning.sampleSize) {
                let kept = inMemory ? live.payloadRow(id) : nil
                guard let row = try kept ?? filterRow(pk) else { continue }
                sampled += 1
                if try admits(row) { matched += 1 }
            }
            let sel = sampled == 0 ? 1 : Double(matched) / Double(sampled)
            selectivity = sel
            let m = live.hnsw?.parameters.m ?? 16
            if !inMemory && VectorSearchTuning.prefersTableScan(selectivity: sel, rows: live.count, ef: max(vs.efSearch, k), m: m) {
                return try filteredTableScan(s, query: q, k: k, mask: mask)
            }
        }
        var admitted: [Int64: Bool] = [:]
        let needsCheck = s.filter != nil || !excluded.isEmpty
        let predicate = RowPredicate(selectivityEstimate: selectivity) { id in
            if excluded.contains(id) || failure != nil { return false }
            guard s.filter != nil else { return true }
            do {
                if inMemory, let row = live.payloadRow(id) { return try admits(row) }
                if let known = admitted[id] { return known }
                guard let pk = live.key(id), let row = try filterRow(pk) else { admitted[id] = false; return false }
                let ok = try admits(row)
                admitted[id] = ok
                return ok
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
                    // Filters read from rows: the choice between the walk and a scan was made
                    // above. Filters checked in memory: an exact scan of the index checks every
                    // row, a walk about `1.6 * ef * m / sqrt(s)` of them.
                    hits = needsCheck
                        ? try h.search(q, k: min(k, indexed), efSearch: min(ef, 10_000), filter: predicate,
                                       strategy: inMemory && VectorSearchTuning.prefersExactInMemory(
                                           selectivity: selectivity ?? 1, rows: indexed, ef: ef, m: h.parameters.m)
                                           ? .exactScan : .traversal).hits
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
            row = try live.key(hit.rowID).flatMap { try fetch($0) }
            // The index holds committed rows; the transaction reads its snapshot. A hit gone
            // or no longer matching there makes the answer incomplete (the exact plan runs).
            guard let row, try admits(row) else { complete = false; continue }
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

/// The knobs of the filtered vector search's choice between the index and a table scan.
enum VectorSearchTuning {
    /// Rows sampled to estimate a filter's selectivity.
    static let sampleSize = 128

    /// Whether ranking the matching rows of one pass over the table is cheaper than walking the
    /// graph, where each node the walk meets costs a row lookup to check the filter.
    ///
    /// Both in units of one row: a table scan reads every row (about 1.3 us each); a filtered
    /// walk checks about `1.6 * ef * m / sqrt(s)` nodes (the index's own model, see
    /// `HNSWGraph.prefersExactScan`), never more than the rows there are, at about 1.5 us
    /// each. Fitted to `apus bench vector --sql-only` at 20,000 x 128 (docs/bench-vector.md):
    /// 10% selectivity walked in 7 ms, 1% scanned in 27 ms.
    /// With the filter checked in memory (about 0.2 us a row, as much as a distance): the
    /// index's exact scan checks all `rows` and ranks the matching ones; a walk costs about
    /// `4 * ef * m / sqrt(s)` such steps (fitted at 20,000 x 128, ef 64: at 1% the exact scan
    /// took 4 ms and the walk 7.6 ms, at 10% the walk 1.2 ms and the scan 4.5 ms). (The
    /// index's own model assumes a check of a few nanoseconds, a bitset's.)
    static func prefersExactInMemory(selectivity s: Double, rows: Int, ef: Int, m: Int) -> Bool {
        let exact = Double(rows) * (1 + s)
        let walk = 4 * Double(ef) * Double(m) / max(s, 1e-6).squareRoot()
        return exact <= walk
    }

    static func prefersTableScan(selectivity s: Double, rows: Int, ef: Int, m: Int) -> Bool {
        let scan = 1.3 * Double(rows)
        let walk = 1.5 * min(Double(rows), 1.6 * Double(ef) * Double(m) / max(s, 1e-6).squareRoot())
        return scan <= walk
    }
}

extension Executor {
    /// The exact answer to a filtered nearest-neighbour query from one pass over the table:
    /// rows are decoded for the filter only (`mask`), and the vector and the rest of a row are
    /// decoded only when it matches. The scan runs in the transaction, so it sees its writes.
    func filteredTableScan(_ s: VectorSearchSpec, query q: [Float], k: Int, mask: [Bool]?) throws -> [[Value]] {
        let prefix = KeyEncoding.indexPrefix(table: s.table.id, index: 1)
        let col = s.index.columns[0]
        let columns = s.table.columns
        var best: [(Double, [Value])] = []
        var worst = Double.infinity
        try tx.scanEach(lower: prefix, upper: KeyEncoding.prefixEnd(prefix)) { _, bytes in
            if let f = s.filter {
                let partial = try RowEncoding.decode(bytes, columns: columns, needed: mask)
                guard try eval(f, partial) == .bool(true) else { return true }
            }
            let row = try RowEncoding.decode(bytes, columns: columns)
            var d = Double.infinity
            if case let .float(x) = try callFunction(s.distance, [row[col], .vector(q)], .float8), !x.isNaN { d = x }
            if best.count >= k && d >= worst { return true }
            best.append((d, row))
            if best.count >= 2 * k {
                best.sort { $0.0 < $1.0 }
                best.removeLast(best.count - k)
                worst = best[k - 1].0
            }
            return true
        }
        best.sort { $0.0 < $1.0 }
        return best.prefix(k).map(\.1)
    }

    /// Which of a row's `width` columns `e` reads, or nil when that cannot be told (subqueries,
    /// window results): then the whole row is decoded.
    func columnMask(_ e: BExpr, width: Int) -> [Bool]? {
        var mask = [Bool](repeating: false, count: width)
        func visit(_ e: BExpr) -> Bool {
            switch e {
            case .const, .param: return true
            case let .column(i):
                guard i >= 0 && i < width else { return false }
                mask[i] = true
                return true
            case .outer, .scalarSubquery, .exists, .inSubquery, .quantified, .windowColumn: return false
            case let .cast(x, _), let .negate(x, _), let .not(x), let .isNull(x, _), let .isBool(x, _, _):
                return visit(x)
            case let .arith(_, a, b, _), let .compare(_, a, b), let .and(a, b), let .or(a, b),
                 let .isDistinct(a, b, _), let .nullIf(a, b), let .concat(a, b), let .dateArith(_, a, b, _):
                return visit(a) && visit(b)
            case let .inList(x, list, _): return visit(x) && list.allSatisfy(visit)
            case let .like(a, b, escape, _, _): return visit(a) && visit(b) && (escape.map(visit) ?? true)
            case let .caseWhen(operand, whens, otherwise):
                return (operand.map(visit) ?? true) && whens.allSatisfy { visit($0.0) && visit($0.1) }
                    && (otherwise.map(visit) ?? true)
            case let .coalesce(list), let .extreme(list, _), let .function(_, list, _): return list.allSatisfy(visit)
            }
        }
        return visit(e) ? mask : nil
    }
}
