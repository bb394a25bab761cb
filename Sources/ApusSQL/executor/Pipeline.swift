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
    /// Calls `body` with every row of `plan`, in order. With `needed` (a flag per output
    /// column), the caller reads only the flagged columns: the others may be left NULL, so
    /// that scans skip decoding them and joins skip copying them (projection push-down).
    func forEachRow(_ plan: Plan, needed: [Bool]? = nil, _ body: ([Value]) throws -> Void) throws {
        if profile != nil {
            for r in try run(plan) { try body(r) }
            return
        }
        depth += 1
        defer { depth -= 1 }
        if depth > 400 { throw SQLError(.stackDepth, "stack depth limit exceeded") }
        if let t = Executor.scannedTable(plan) {
            guard let (lo, hi) = try primaryRange(plan) else { return }
            try scanEachRow(t, lower: lo, upper: hi, needed: needed, body)
            return
        }
        switch plan {
        case let .filter(input, pred):
            try forEachRow(input, needed: Executor.adding([pred], to: needed)) { r in
                if try eval(pred, r) == .bool(true) { try body(r) }
            }
        case let .project(input, exprs):
            var out: [Value] = []
            out.reserveCapacity(exprs.count)
            try forEachRow(input, needed: Executor.streams(input) ? Executor.adding(exprs, to: []) : nil) { r in
                out.removeAll(keepingCapacity: true)
                for e in exprs { out.append(try eval(e, r)) }
                try body(out)
            }
        case let .join(kind, l, r, on, lk, rk, lw, rw):
            try joinEach(kind, l, try run(r), on: on, lk: lk, rk: rk, lw: lw, rw: rw, needed: needed, body)
        default:
            for r in try run(plan) { try body(r) }
        }
    }

    /// Whether `forEachRow` passes the rows of `p` on without materializing them. Other plans
    /// (a point read, a sort, ...) are better run directly: a stream over materialized rows
    /// only adds closure calls, which a point query pays for in full.
    static func streams(_ p: Plan) -> Bool {
        switch p {
        case let .scan(_, prefix): prefix.isEmpty
        case .scanRange, .join: true
        case let .filter(x, _), let .project(x, _): streams(x)
        default: false
        }
    }

    /// `needed` with the columns `exprs` read added (nil, every column, when one reads columns
    /// it cannot list, such as a subquery's correlated references).
    static func adding(_ exprs: [BExpr], to needed: [Bool]?) -> [Bool]? {
        guard var n = needed else { return nil }
        for e in exprs {
            guard let cols = e.columnsRead else { return nil }
            for c in cols where c >= 0 {
                if c >= n.count { n += [Bool](repeating: false, count: c + 1 - n.count) }
                n[c] = true
            }
        }
        return n
    }

    /// Every row of `plan` collected through `forEachRow`.
    func collect(_ plan: Plan) throws -> [[Value]] {
        var out: [[Value]] = []
        try forEachRow(plan) { out.append($0) }
        return out
    }

    /// The table a full scan (no key prefix) or a primary-key range scan reads, nil for other plans.
    static func scannedTable(_ p: Plan) -> TableDesc? {
        switch p {
        case let .scan(t, prefix) where prefix.isEmpty: return t
        case let .scanRange(t, _, _): return t
        default: return nil
        }
    }

    /// The primary-index key range such a scan reads (see `scannedTable`), nil when it is empty.
    func primaryRange(_ p: Plan) throws -> ([UInt8], [UInt8])? {
        switch p {
        case let .scanRange(t, lower, upper): return try rangeBounds(t, lower, upper)
        case let .scan(t, _):
            let pfx = KeyEncoding.indexPrefix(table: t.id, index: 1)
            return (pfx, KeyEncoding.prefixEnd(pfx))
        default: return nil
        }
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
    func scanEachRow(_ t: TableDesc, lower: [UInt8], upper: [UInt8], needed: [Bool]?, _ body: ([Value]) throws -> Void) throws {
        var row: [Value] = []
        var mask: [Bool]?
        if let needed {
            let m = t.columns.indices.map { $0 < needed.count && needed[$0] }
            if m.contains(false) { mask = m }
        }
        try tx.scanEach(lower: lower, upper: upper) { _, bytes in
            try checkInterrupt()
            try RowEncoding.decode(bytes, columns: t.columns, needed: mask, into: &row)
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
        needed: [Bool]? = nil, _ body: ([Value]) throws -> Void
    ) throws {
        var probe = JoinProbe(kind: kind, right: right, on: on, lw: lw, rw: rw, needed: needed)
        let leftNeeded = probe.leftCols.flatMap { cols in
            Executor.adding(lk, to: (0..<lw).map { cols.contains($0) })
        }
        // The per-row work is a mutating method of one struct, so that the closure below makes
        // one exclusive access per row, not one per variable it touches.
        if !lk.isEmpty {
            let table = try JoinHashTable(self, right, rk)
            try forEachRow(l, needed: leftNeeded) { lrow in
                try checkInterrupt()
                try probe.matchChain(self, lrow, from: try table.first(self, lrow, lk), table.next, body)
            }
        } else {
            try forEachRow(l, needed: leftNeeded) { lrow in
                try probe.matchAll(self, lrow, body)
            }
        }
        try probe.finish(body)
    }
}

/// The probe side of `joinEach`: builds each output row in a reused buffer.
struct JoinProbe {
    let right: [[Value]]
    /// The right rows' values back to back (`rw` per row): copying a value out of it does not
    /// retain and release a row array, as indexing `right` does.
    let flat: [Value]
    let on: BExpr?
    let lw: Int
    let rw: Int
    let padLeft: Bool
    /// With a caller's `needed`: the left and right columns output rows get (the others stay
    /// NULL); nil: every column.
    let leftCols: [Int]?
    let rightCols: [Int]?
    /// Right rows matched so far (RIGHT and FULL joins only).
    var rightMatched: [Bool]
    var row: [Value] = []
    let nullsR: [Value]
    let nullsL: [Value]

    init(kind: JoinKind, right: [[Value]], on: BExpr?, lw: Int, rw: Int, needed: [Bool]?) {
        self.right = right
        var flat: [Value] = []
        flat.reserveCapacity(right.count * rw)
        for r in right {
            if r.count == rw { flat += r } else { flat += (0..<rw).map { $0 < r.count ? r[$0] : .null } }
        }
        self.flat = flat
        self.on = on
        self.lw = lw
        self.rw = rw
        padLeft = kind == .left || kind == .full
        rightMatched = [Bool](repeating: false, count: kind == .right || kind == .full ? right.count : 0)
        // Matched rows get only the columns the caller and ON read.
        var used = needed.map { Array($0.prefix(lw + rw)) + [Bool](repeating: false, count: max(0, lw + rw - $0.count)) }
        if let on { used = Executor.adding([on], to: used) }
        leftCols = used.map { u in (0..<lw).filter { u[$0] } }
        rightCols = used.map { u in (0..<rw).filter { u[lw + $0] } }
        nullsR = [Value](repeating: .null, count: rw)
        nullsL = [Value](repeating: .null, count: lw)
        row = [Value](repeating: .null, count: lw + rw)
    }

    /// Emits `l + right[j]` when it satisfies ON; returns whether it did.
    mutating func emit(_ ex: Executor, _ l: [Value], _ j: Int, _ body: ([Value]) throws -> Void) throws -> Bool {
        let base = j * rw
        if let leftCols, let rightCols {
            for c in leftCols { row[c] = c < l.count ? l[c] : .null }
            for c in rightCols { row[lw + c] = flat[base + c] }
        } else {
            row.removeAll(keepingCapacity: true)
            row.append(contentsOf: l)
            row.append(contentsOf: flat[base..<base + rw])
        }
        if let on, try ex.eval(on, row) != .bool(true) { return false }
        if !rightMatched.isEmpty { rightMatched[j] = true }
        try body(row)
        return true
    }

    /// A left row without matches, padded with NULLs (LEFT and FULL joins).
    mutating func emitPadded(_ l: [Value], _ body: ([Value]) throws -> Void) throws {
        row.removeAll(keepingCapacity: true)
        row.append(contentsOf: l)
        row.append(contentsOf: nullsR)
        try body(row)
        if leftCols != nil { row = [Value](repeating: .null, count: lw + nullsR.count) }
    }

    /// Matches `l` against the hash chain starting at row `j` (-1: none).
    mutating func matchChain(_ ex: Executor, _ l: [Value], from j: Int, _ next: [Int], _ body: ([Value]) throws -> Void) throws {
        var any = false
        var j = j
        while j >= 0 {
            if try emit(ex, l, j, body) { any = true }
            j = next[j]
        }
        if !any && padLeft { try emitPadded(l, body) }
    }

    /// Matches `l` against every right row (a join without equi-join keys).
    mutating func matchAll(_ ex: Executor, _ l: [Value], _ body: ([Value]) throws -> Void) throws {
        var any = false
        for j in right.indices {
            try ex.checkInterrupt()
            if try emit(ex, l, j, body) { any = true }
        }
        if !any && padLeft { try emitPadded(l, body) }
    }

    /// The unmatched right rows padded with NULLs (RIGHT and FULL joins).
    mutating func finish(_ body: ([Value]) throws -> Void) throws {
        for (j, r) in right.enumerated() where !rightMatched.isEmpty && !rightMatched[j] {
            row.removeAll(keepingCapacity: true)
            row.append(contentsOf: nullsL)
            row.append(contentsOf: r)
            try body(row)
        }
    }
}

/// The build side of a hash join: right rows chained by join key, in row order. A single
/// key whose values are all integers is hashed as an `Int64` (the common case: joins on
/// integer IDs); other keys as their `groupKey` values. Rows with a NULL key are left out
/// (they match nothing).
struct JoinHashTable {
    /// The first row of each key's chain, by key.
    var ints = IntKeyMap()
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
                    ints.forEach { i, g in values[.int(i)] = g }
                    ints = IntKeyMap()
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
                ints.updateValues { first[$0] }
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

/// The state of one hash aggregation (see `Executor.aggregate`): each group's key values and,
/// flattened, its states (`aggs.count` per group). The dictionaries map a group's key to its
/// number, so states are updated in place (one lookup per row); one group column is hashed as
/// a value, not as an array of one.
struct HashAggregation {
    let groups: [BExpr]
    let aggs: [AggCall]
    let fast: [Executor.AggFastPath]
    let fresh: [Executor.AggState]
    var keys: [[Value]] = []
    var states: [Executor.AggState] = []
    var index: [[Value]: Int] = [:]
    var single: [Value: Int] = [:]
    var intGroups = IntKeyMap()
    var sawRow = false

    init(groups: [BExpr], aggs: [AggCall]) {
        self.groups = groups
        self.aggs = aggs
        fast = aggs.map(Executor.AggFastPath.init)
        fresh = [Executor.AggState](repeating: Executor.AggState(), count: aggs.count)
    }

    mutating func newGroup(_ key: [Value]) -> Int {
        keys.append(key)
        states += fresh
        return keys.count - 1
    }

    mutating func add(_ ex: Executor, _ r: [Value]) throws {
        sawRow = true
        try ex.checkInterrupt()
        let g: Int
        if groups.isEmpty {
            g = keys.isEmpty ? newGroup([]) : 0
        } else if groups.count == 1 {
            g = group(of: try ex.eval(groups[0], r))
        } else {
            let key = try groups.map { try ex.eval($0, r) }
            let k = key.map(\.groupKey)
            if let known = index[k] { g = known } else { g = newGroup(key); index[k] = g }
        }
        let base = g * aggs.count
        for i in 0..<aggs.count {
            switch fast[i] {
            case .countStar:
                states[base + i].count += 1
            case let .count(x):
                if try !ex.eval(x, r).isNull { states[base + i].count += 1 }
            case let .sumInt(x):
                let v = try ex.eval(x, r)
                if v.isNull { continue }
                if case let .int(n) = v, case let .int(acc) = states[base + i].sum {
                    let (sum, o) = acc.addingReportingOverflow(n)
                    if o { throw overflow(.int8) }
                    states[base + i].count += 1
                    states[base + i].sum = .int(sum)
                } else {
                    try ex.step(&states[base + i], aggs[i], v, r)
                }
            case .general:
                try addGeneral(ex, i, g, r)
            }
        }
    }

    /// The group of a single group column's value `v` (a new group when it is the first).
    /// Values whose grouping key is an integer are looked up in `intGroups` (also by the
    /// batch path, which finds them without boxing), the others in `single`.
    mutating func group(of v: Value) -> Int {
        let k = v.groupKey
        if case let .int(i) = k {
            if let known = intGroups[i] { return known }
            let g = newGroup([v])
            intGroups[i] = g
            return g
        }
        if let known = single[k] { return known }
        let g = newGroup([v])
        single[k] = g
        return g
    }

    /// Updates aggregate `i` of group `g` with row `r` through the general path (FILTER,
    /// DISTINCT, ORDER BY and every function without a fast path).
    mutating func addGeneral(_ ex: Executor, _ i: Int, _ g: Int, _ r: [Value]) throws {
        let a = aggs[i]
        let s = g * aggs.count + i
        if let f = a.filter, try ex.eval(f, r) != .bool(true) { return }
        if a.star { states[s].count += 1; return }
        let v = try ex.eval(a.args[0], r)
        if v.isNull && !Executor.aggregatesKeepingNulls.contains(a.name) { return }
        if a.distinct && !states[s].seen.insert(v.groupKey).inserted { return }
        if !a.order.isEmpty {
            states[s].pending.append((try a.order.map { try ex.eval($0.0, r) }, v, r))
            return
        }
        try ex.step(&states[s], a, v, r)
    }

    func finish(_ ex: Executor) throws -> [[Value]] {
        if groups.isEmpty && !sawRow {
            return [try aggs.map { try ex.finish(Executor.AggState(), $0) }]
        }
        var out: [[Value]] = []
        out.reserveCapacity(keys.count)
        for (g, key) in keys.enumerated() {
            var row = key
            for i in 0..<aggs.count { row.append(try ex.finish(states[g * aggs.count + i], aggs[i])) }
            out.append(row)
        }
        return out
    }
}

/// A hash map from integers to non-negative integers for hash-join keys: open addressing with
/// linear probing and a multiplicative hash (the standard dictionary's SipHash costs more than
/// the rest of a probe).
struct IntKeyMap {
    private var keys: [Int64] = []
    /// -1: an empty slot.
    private var slots: [Int] = []
    private var shift: UInt64 = 64
    private var count = 0

    @inline(__always)
    private func home(_ k: Int64) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: k) &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    subscript(_ k: Int64) -> Int? {
        get {
            if count == 0 { return nil }
            let mask = slots.count - 1
            var i = home(k)
            while slots[i] >= 0 {
                if keys[i] == k { return slots[i] }
                i = (i + 1) & mask
            }
            return nil
        }
        set {
            guard let v = newValue else { preconditionFailure("IntKeyMap does not remove keys") }
            if (count + 1) * 2 > slots.count { grow() }
            let mask = slots.count - 1
            var i = home(k)
            while slots[i] >= 0 {
                if keys[i] == k { slots[i] = v; return }
                i = (i + 1) & mask
            }
            keys[i] = k
            slots[i] = v
            count += 1
        }
    }

    private mutating func grow() {
        let old = (keys, slots)
        let size = max(16, slots.count * 2)
        keys = [Int64](repeating: 0, count: size)
        slots = [Int](repeating: -1, count: size)
        shift = UInt64(64 - size.trailingZeroBitCount)
        count = 0
        for (k, v) in zip(old.0, old.1) where v >= 0 { self[k] = v }
    }

    func forEach(_ body: (Int64, Int) -> Void) {
        for (k, v) in zip(keys, slots) where v >= 0 { body(k, v) }
    }

    /// Replaces every value `v` with `f(v)`.
    mutating func updateValues(_ f: (Int) -> Int) {
        for i in slots.indices where slots[i] >= 0 { slots[i] = f(slots[i]) }
    }
}
