import ApusCore

/// Pipelined execution: scans, filters, projections and the probe side of joins pass their
/// rows one at a time to the operator above (a push model) instead of each materializing its
/// whole output as `[[Value]]`. A row handed to `body` is a buffer the producer reuses for the
/// next row: a consumer that keeps it keeps a copy (copy-on-write), one that only reads it
/// (a filter, a join probe, an aggregate) allocates nothing per row.
///
/// Operators that must see their whole input (sort, the build side of a hash join, DISTINCT,
/// set operations, ...) still get it from `run`, whose nodes stream their own inputs. Rows come
/// in exactly the order `run` would return them. EXPLAIN ANALYZE (a profile) runs every node
/// through `run`, so that each is timed and counted.
extension Executor {
    /// Calls `body` with every row of `plan`, in order.
    func forEachRow(_ plan: Plan, _ body: ([Value]) throws -> Void) throws {
        if profile != nil {
            for r in try run(plan) { try body(r) }
            return
        }
        depth += 1
        defer { depth -= 1 }
        if depth > 400 { throw SQLError(.stackDepth, "stack depth limit exceeded") }
        switch plan {
        case let .scan(t, prefixExprs) where prefixExprs.isEmpty:
            let p = KeyEncoding.indexPrefix(table: t.id, index: 1)
            try scanEachRow(t, lower: p, upper: KeyEncoding.prefixEnd(p), body)
        case let .scanRange(t, lower, upper):
            guard let (lo, hi) = try rangeBounds(t, lower, upper) else { return }
            try scanEachRow(t, lower: lo, upper: hi, body)
        case let .filter(input, pred):
            try forEachRow(input) { r in
                if try eval(pred, r) == .bool(true) { try body(r) }
            }
        case let .project(input, exprs):
            var out: [Value] = []
            out.reserveCapacity(exprs.count)
            try forEachRow(input) { r in
                out.removeAll(keepingCapacity: true)
                for e in exprs { out.append(try eval(e, r)) }
                try body(out)
            }
        case let .join(kind, l, r, on, lk, rk, lw, rw):
            try joinEach(kind, l, try run(r), on: on, lk: lk, rk: rk, lw: lw, rw: rw, body)
        default:
            for r in try run(plan) { try body(r) }
        }
    }

    /// Every row of `plan` collected through `forEachRow`.
    func collect(_ plan: Plan) throws -> [[Value]] {
        var out: [[Value]] = []
        try forEachRow(plan) { out.append($0) }
        return out
    }

    /// The key range of a primary-key range scan, nil when it is empty (a NULL bound).
    func rangeBounds(_ t: TableDesc, _ lower: (BExpr, Bool)?, _ upper: (BExpr, Bool)?) throws -> ([UInt8], [UInt8])? {
        let p = KeyEncoding.indexPrefix(table: t.id, index: 1)
        var lo = p
        var hi = KeyEncoding.prefixEnd(p)
        if let (e, inclusive) = lower {
            let v = try eval(e, [])
            if v.isNull { return nil }
            if case let .int(i) = v {
                let k = p + KeyEncoding.encode([.int(i)])
                lo = inclusive ? k : KeyEncoding.prefixEnd(k)
            }
        }
        if let (e, inclusive) = upper {
            let v = try eval(e, [])
            if v.isNull { return nil }
            if case let .int(i) = v {
                let k = p + KeyEncoding.encode([.int(i)])
                hi = inclusive ? KeyEncoding.prefixEnd(k) : k
            }
        }
        if Value.cmpBytes(lo, hi) >= 0 { return nil }
        return (lo, hi)
    }

    /// Decodes the rows stored in `[lower, upper)` of `t`'s primary index one at a time into
    /// one reused buffer.
    func scanEachRow(_ t: TableDesc, lower: [UInt8], upper: [UInt8], _ body: ([Value]) throws -> Void) throws {
        var row: [Value] = []
        try tx.scanEach(lower: lower, upper: upper) { _, bytes in
            try checkInterrupt()
            try RowEncoding.decode(bytes, columns: t.columns, into: &row)
            try body(row)
            return true
        }
    }

    /// A hash (or, without equi-join keys, nested-loop) join whose left input streams: each
    /// left row is matched against the materialized right rows as it comes. Output order is
    /// the materializing join's: per left row its matches in right order (or the row padded
    /// with NULLs for LEFT/FULL), then the unmatched right rows for RIGHT/FULL.
    func joinEach(
        _ kind: JoinKind, _ l: Plan, _ right: [[Value]], on: BExpr?, lk: [BExpr], rk: [BExpr], lw: Int, rw: Int,
        _ body: ([Value]) throws -> Void
    ) throws {
        let padLeft = kind == .left || kind == .full
        var rightMatched = [Bool](repeating: false, count: kind == .right || kind == .full ? right.count : 0)
        var row: [Value] = []
        row.reserveCapacity(lw + rw)
        let nullsR = [Value](repeating: .null, count: rw)
        /// Emits `l + right[j]` when it satisfies ON; returns whether it did.
        func emit(_ l: [Value], _ j: Int) throws -> Bool {
            row.removeAll(keepingCapacity: true)
            row.append(contentsOf: l)
            row.append(contentsOf: right[j])
            if let on, try eval(on, row) != .bool(true) { return false }
            if !rightMatched.isEmpty { rightMatched[j] = true }
            try body(row)
            return true
        }
        func emitPadded(_ l: [Value]) throws {
            row.removeAll(keepingCapacity: true)
            row.append(contentsOf: l)
            row.append(contentsOf: nullsR)
            try body(row)
        }
        if !lk.isEmpty {
            let table = try JoinHashTable(self, right, rk)
            try forEachRow(l) { lrow in
                try checkInterrupt()
                var any = false
                var j = try table.first(self, lrow, lk)
                while j >= 0 {
                    if try emit(lrow, j) { any = true }
                    j = table.next[j]
                }
                if !any && padLeft { try emitPadded(lrow) }
            }
        } else {
            try forEachRow(l) { lrow in
                var any = false
                for j in right.indices {
                    try checkInterrupt()
                    if try emit(lrow, j) { any = true }
                }
                if !any && padLeft { try emitPadded(lrow) }
            }
        }
        if !rightMatched.isEmpty {
            let nullsL = [Value](repeating: .null, count: lw)
            for (j, r) in right.enumerated() where !rightMatched[j] {
                row.removeAll(keepingCapacity: true)
                row.append(contentsOf: nullsL)
                row.append(contentsOf: r)
                try body(row)
            }
        }
    }
}

/// The build side of a hash join: right rows chained by join key, in row order. A single
/// key whose values are all integers is hashed as an `Int64` (the common case: joins on
/// integer IDs); other keys as their `groupKey` values. Rows with a NULL key are left out
/// (they match nothing).
struct JoinHashTable {
    /// The first row of each key's chain, by key.
    var ints: [Int64: Int] = [:]
    var values: [Value: Int] = [:]
    var tuples: [[Value]: Int] = [:]
    /// The next row with the same key (-1: none).
    var next: [Int]
    var integerKeys = true

    init(_ ex: Executor, _ rows: [[Value]], _ keys: [BExpr]) throws {
        next = [Int](repeating: -1, count: rows.count)
        var last: [Int] = []
        func chain(_ g: Int?, _ j: Int) -> Int? {
            if let g { next[last[g]] = j; last[g] = j; return nil }
            last.append(j)
            return last.count - 1
        }
        var first: [Int] = []
        if keys.count == 1 {
            // Integer keys first; the first key that is not an integer moves them all over.
            for (j, r) in rows.enumerated() {
                try ex.checkInterrupt()
                let key = try ex.eval(keys[0], r).groupKey
                if key.isNull { continue }
                if integerKeys, case let .int(i) = key {
                    if let g = chain(ints[i], j) { ints[i] = g; first.append(j) }
                    continue
                }
                if integerKeys {
                    integerKeys = false
                    for (i, g) in ints { values[.int(i)] = g }
                    ints = [:]
                }
                if let g = chain(values[key], j) { values[key] = g; first.append(j) }
            }
        } else {
            integerKeys = false
            for (j, r) in rows.enumerated() {
                try ex.checkInterrupt()
                let key = try keys.map { try ex.eval($0, r).groupKey }
                if key.contains(where: \.isNull) { continue }
                if let g = chain(tuples[key], j) { tuples[key] = g; first.append(j) }
            }
        }
        // Store the chains' first rows in the maps (they held chain numbers while building).
        if keys.count == 1 {
            if integerKeys {
                for (i, g) in ints { ints[i] = first[g] }
            } else {
                for (k, g) in values { values[k] = first[g] }
            }
        } else {
            for (k, g) in tuples { tuples[k] = first[g] }
        }
    }

    /// The first right row matching the left row's key (-1: none); `next` continues the chain.
    func first(_ ex: Executor, _ row: [Value], _ keys: [BExpr]) throws -> Int {
        if keys.count == 1 {
            let key = try ex.eval(keys[0], row).groupKey
            if integerKeys {
                guard case let .int(i) = key else { return -1 }
                return ints[i] ?? -1
            }
            if key.isNull { return -1 }
            return values[key] ?? -1
        }
        let key = try keys.map { try ex.eval($0, row).groupKey }
        if key.contains(where: \.isNull) { return -1 }
        return tuples[key] ?? -1
    }
}
