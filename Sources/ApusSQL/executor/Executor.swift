import ApusCore
import Foundation

/// Runs plans against one transaction. Single-threaded; one per statement.
final class Executor {
    /// A recursive query that produces more rows than this stops with 54001 instead of
    /// running until memory runs out.
    static let recursionRowLimit = 10_000_000
    let tx: any KVTransaction
    let params: [Value]
    var outer: [[Value]] = []
    var depth = 0
    /// Compiled regular expressions of this statement.
    let regexes = RegexCache()
    /// EXPLAIN ANALYZE: the profile of the node being run (nil when not profiling).
    var profile: ProfileNode?
    /// Whether streamed plans run batch-at-a-time (`BatchPipeline.swift`; the session
    /// setting `apus.batch_execution`), else row-at-a-time.
    let batchExecution: Bool
    let now: Int64
    /// The session's cancel and statement-timeout flag, polled once per row in the loops
    /// below (a relaxed atomic load), so that no operator runs on after a cancel.
    let interrupt: StatementInterrupt?
    /// The statement's memory budget in bytes (0: none) and the estimated bytes of the row
    /// sets alive now: every node's output is charged until its parent has finished with it.
    let memoryLimit: Int
    var liveBytes = 0

    init(tx: any KVTransaction, params: [Value]) {
        self.tx = tx
        self.params = params
        self.interrupt = tx.interrupt
        self.memoryLimit = tx.interrupt?.memoryLimitBytes ?? 0
        self.batchExecution = tx.interrupt?.batchExecution ?? true
        let secs = Date().timeIntervalSince1970 - 946_684_800
        self.now = Int64(secs * 1_000_000)
    }

    /// Throws 57014 once the statement was cancelled or timed out.
    @inline(__always)
    func checkInterrupt() throws(SQLError) {
        if let interrupt { try interrupt.check() }
    }

    // MARK: plans

    func run(_ plan: Plan) throws -> [[Value]] {
        depth += 1
        defer { depth -= 1 }
        if depth > 400 { throw SQLError(.stackDepth, "stack depth limit exceeded") }
        guard memoryLimit > 0 else { return profile != nil ? try runProfiled(plan) : try runNode(plan) }
        let before = liveBytes
        let rows = profile != nil ? try runProfiled(plan) : try runNode(plan)
        // The inputs are released now; the output stays charged until the caller is done.
        liveBytes = before + Executor.estimatedBytes(rows)
        if liveBytes > memoryLimit {
            throw SQLError(SQLState("53200"), "out of memory: the query needs more than max_query_memory (\(memoryLimit >> 20) MB)")
        }
        return rows
    }

    /// An estimate of the memory rows hold, from a sample of up to 32 of them.
    static func estimatedBytes(_ rows: [[Value]]) -> Int {
        if rows.isEmpty { return 0 }
        let step = max(1, rows.count / 32)
        var sampled = 0, bytes = 0
        var i = 0
        while i < rows.count {
            bytes += 32 + rows[i].reduce(0) { $0 + valueBytes($1) }
            sampled += 1
            i += step
        }
        return bytes / sampled * rows.count
    }

    static func valueBytes(_ v: Value) -> Int {
        switch v {
        case let .text(s): 16 + s.utf8.count
        case let .bytes(b): 48 + b.count
        case let .vector(x): 48 + 4 * x.count
        case let .array(items): 48 + items.reduce(0) { $0 + valueBytes($1) }
        case .numeric: 40
        default: 16
        }
    }

    func runNode(_ plan: Plan) throws -> [[Value]] {
        switch plan {
        case .one: return [[]]
        case let .values(rows):
            return try rows.map { r in try r.map { try eval($0, []) } }
        case let .scan(t, prefixExprs):
            let prefix = try prefixExprs.map { try eval($0, []) }
            if prefix.contains(where: \.isNull) { return [] }
            var p = KeyEncoding.indexPrefix(table: t.id, index: 1)
            p += KeyEncoding.encode(prefix)
            if !prefix.isEmpty && prefix.count == t.primaryKey.count {
                // The whole primary key: one point read (bloom filters, no merging iterator)
                // instead of a range scan; the key encoding is prefix-free, so the range
                // could hold no other key.
                guard let bytes = try tx.get(p) else { return [] }
                return [try decodeRow(t, bytes)]
            }
            return try scanRows(t, lower: p, upper: KeyEncoding.prefixEnd(p))
        case let .scanRange(t, lower, upper):
            guard let (lo, hi) = try rangeBounds(t, lower, upper) else { return [] }
            return try scanRows(t, lower: lo, upper: hi)
        case let .vectorSearch(spec): return try vectorSearch(spec)
        case let .indexScan(t, idx, prefixExprs):
            guard let p = try indexLookupPrefix(t, idx, prefixExprs) else { return [] }
            var out: [[Value]] = []
            for (_, pk) in try tx.scan(lower: p, upper: KeyEncoding.prefixEnd(p)) {
                let rowKey = KeyEncoding.indexPrefix(table: t.id, index: 1) + pk
                try checkInterrupt()
                if let bytes = try tx.get(rowKey) { out.append(try decodeRow(t, bytes)) }
            }
            return out
        case let .indexOnlyScan(t, idx, prefixExprs):
            return try indexOnlyRows(t, idx, prefixExprs)
        case let .lockRows(input, t, strength, wait):
            return try lockRows(try run(input), t, strength, wait)
        case .filter where profile == nil && Executor.streams(plan), .project where profile == nil && Executor.streams(plan),
             .join where profile == nil:
            return batchExecution && Executor.batches(plan) ? try collectBatches(plan) : try collect(plan)
        case let .filter(input, pred):
            let rows = try run(input)
            var out: [[Value]] = []
            for r in rows {
                try checkInterrupt()
                if try eval(pred, r) == .bool(true) { out.append(r) }
            }
            return out
        case let .expandSets(input, columns):
            var out: [[Value]] = []
            for r in try run(input) {
                try checkInterrupt()
                var sets: [[Value]] = []
                for c in columns {
                    if case let .array(items) = r[c] { sets.append(items) } else { sets.append([]) }
                }
                let n = sets.map(\.count).max() ?? 0
                for i in 0..<n {
                    var row = r
                    for (k, c) in columns.enumerated() { row[c] = i < sets[k].count ? sets[k][i] : .null }
                    out.append(row)
                }
            }
            return out
        case let .project(input, exprs):
            let rows = try run(input)
            var out: [[Value]] = []
            out.reserveCapacity(rows.count)
            for r in rows {
                try checkInterrupt()
                out.append(try exprs.map { try eval($0, r) })
            }
            return out
        case let .trim(input, n):
            return try run(input).map { Array($0.prefix(n)) }
        case let .lateral(kind, l, r, on, rw):
            var out: [[Value]] = []
            for row in try run(l) {
                try checkInterrupt()
                outer.append(row)
                let rights: [[Value]]
                do { rights = try run(r) } catch { outer.removeLast(); throw error }
                outer.removeLast()
                var matched = false
                for rr in rights {
                    let combined = row + rr
                    if let on, truth(try eval(on, combined)) != true { continue }
                    matched = true
                    out.append(combined)
                }
                if !matched && kind == .left { out.append(row + [Value](repeating: .null, count: rw)) }
            }
            return out
        case let .join(kind, l, r, on, lk, rk, lw, rw):
            return try join(kind, try run(l), try run(r), on: on, lk: lk, rk: rk, lw: lw, rw: rw)
        case let .groupingSets(input, groups, sets, aggs):
            let rows = try run(input)
            var out: [[Value]] = []
            for set in sets {
                for r in try aggregate(rows, set.map { groups[$0] }, aggs) {
                    var full = [Value](repeating: .null, count: groups.count)
                    for (k, gi) in set.enumerated() { full[gi] = r[k] }
                    var values = Array(r[set.count...])
                    for (i, a) in aggs.enumerated() where a.name == "grouping" {
                        var mask: Int64 = 0
                        for arg in a.args {
                            mask <<= 1
                            if case let .const(.int(gi)) = arg, !set.contains(Int(gi)) { mask |= 1 }
                        }
                        values[i] = .int(mask)
                    }
                    out.append(full + values)
                }
            }
            return out
        case let .aggregate(input, groups, aggs):
            if profile == nil && Executor.streams(input) {
                var exprs = groups
                for a in aggs {
                    exprs += a.args + a.order.map(\.0)
                    if let f = a.filter { exprs.append(f) }
                    if let s = a.separator { exprs.append(s) }
                }
                let needed = Executor.adding(exprs, to: [])
                if batchExecution && Executor.batches(input) {
                    var h = HashAggregation(groups: groups, aggs: aggs)
                    try forEachBatch(input, needed: needed) { b in try h.add(self, b) }
                    return try h.finish(self)
                }
                return try aggregate(groups, aggs) { add in try forEachRow(input, needed: needed, add) }
            }
            return try aggregate(try run(input), groups, aggs)
        case let .sort(input, keys):
            var rows = try run(input)
            // Rows read in primary-key order are sorted already (or in reverse).
            if let reverse = Executor.primaryKeyOrder(input, keys) { return reverse ? rows.reversed() : rows }
            try sortRows(&rows, keys)
            return rows
        case let .limit(input, limit, offset):
            var off = 0
            if let offset {
                let v = try eval(offset, [])
                if case let .int(i) = v {
                    if i < 0 { throw SQLError(SQLState("2201X"), "OFFSET must not be negative") }
                    off = Int(clamping: i)
                }
            }
            var lim = Int.max
            if let limit {
                let v = try eval(limit, [])
                if case let .int(i) = v {
                    if i < 0 { throw SQLError(SQLState("2201W"), "LIMIT must not be negative") }
                    lim = Int(clamping: i)
                }
            }
            // ORDER BY ... LIMIT n: keep the best off + n rows while the input streams by, instead
            // of sorting all of it.
            // ORDER BY the primary key or an index's columns: read in that order, stop at the limit.
            if lim != Int.max {
                if case let .sort(inner, keys) = input, let rows = try readInOrder(inner, keys, offset: off, limit: lim) {
                    return rows
                }
                if case let .trim(.sort(inner, keys), n) = input, let rows = try readInOrder(inner, keys, offset: off, limit: lim) {
                    return rows.map { Array($0.prefix(n)) }
                }
            }
            if lim != Int.max, off <= 100_000, lim <= 100_000 {
                if case let .sort(inner, keys) = input { return Array(try topN(inner, keys, off + lim).dropFirst(off)) }
                if case let .trim(.sort(inner, keys), n) = input {
                    return try topN(inner, keys, off + lim).dropFirst(off).map { Array($0.prefix(n)) }
                }
            }
            let rows = try run(input)
            if off >= rows.count { return [] }
            let end = lim >= rows.count - off ? rows.count : off + lim
            return Array(rows[off..<end])
        case let .distinct(input):
            var seen = Set<[Value]>()
            var out: [[Value]] = []
            for r in try run(input) {
                try checkInterrupt()
                if seen.insert(r.map(\.groupKey)).inserted { out.append(r) }
            }
            return out
        case let .distinctOn(input, cols):
            var seen = Set<[Value]>()
            var out: [[Value]] = []
            for r in try run(input) {
                try checkInterrupt()
                if seen.insert(cols.map { r[$0].groupKey }).inserted { out.append(r) }
            }
            return out
        case let .setOp(op, all, l, r):
            return try setOp(op, all, try run(l), try run(r))
        case let .cte(box):
            if let rows = box.rows { return rows }
            let rows = try run(box.plan)
            box.rows = rows
            return rows
        case let .recursive(base, step, work, all, types):
            var seen = Set<[Value]>()
            func normalize(_ rows: [[Value]]) throws -> [[Value]] {
                var out: [[Value]] = []
                for r in rows {
                    try checkInterrupt()
                    var x = r
                    for i in x.indices where i < types.count { x[i] = try castValue(x[i], to: types[i]) }
                    if all || seen.insert(x.map(\.groupKey)).inserted { out.append(x) }
                }
                return out
            }
            var current = try normalize(try run(base))
            var result = current
            while !current.isEmpty {
                work.rows = current
                current = try normalize(try run(step))
                result += current
                if result.count > Executor.recursionRowLimit {
                    throw SQLError(SQLState("54001"), "recursive query produced more than \(Executor.recursionRowLimit) rows")
                }
            }
            work.rows = nil
            return result
        case let .window(input, calls):
            return try window(try run(input), calls)
        case let .unnest(a, ordinality, spread):
            let v = try eval(a, [])
            if case let .array(items) = v {
                func columns(_ x: Value) -> [Value] {
                    if spread, case let .array(parts) = x { return parts }
                    return [x]
                }
                if ordinality { return items.enumerated().map { columns($0.element) + [.int(Int64($0.offset + 1))] } }
                return items.map(columns)
            }
            guard case let .text(arr) = v else { return [] }
            let elements = try ArrayValue.parseElements(arr)
            return elements.map { [$0.map { Value.text($0) } ?? .null] }
        case let .series(a, b, c):
            guard case let .int(start) = try eval(a, []), case let .int(stop) = try eval(b, []) else { return [] }
            var step: Int64 = 1
            if let c { guard case let .int(s) = try eval(c, []) else { return [] }; step = s }
            if step == 0 { throw SQLError(.invalidParameterValue, "step size cannot equal zero") }
            var out: [[Value]] = []
            var i = start
            while step > 0 ? i <= stop : i >= stop {
                try checkInterrupt()
                out.append([.int(i)])
                if out.count > 10_000_000 { throw SQLError(.programLimitExceeded, "generate_series produced too many rows") }
                let (n, o) = i.addingReportingOverflow(step)
                if o { break }
                i = n
            }
            return out
        }
    }

    /// SELECT ... FOR UPDATE/SHARE: locks the stored row behind each of `rows` (full rows of
    /// `t`); rows skipped by SKIP LOCKED are left out.
    func lockRows(_ rows: [[Value]], _ t: TableDesc, _ strength: RowLockStrength, _ wait: RowLockWait) throws -> [[Value]] {
        let prefix = KeyEncoding.indexPrefix(table: t.id, index: 1)
        // Without a primary key, rows are found by their values (identical rows are interchangeable).
        var byValue: [[Value]: [[UInt8]]]?
        if t.primaryKey.isEmpty && !rows.isEmpty {
            var m: [[Value]: [[UInt8]]] = [:]
            for (k, v) in try tx.scan(lower: prefix, upper: KeyEncoding.prefixEnd(prefix)) {
                m[try decodeRow(t, v).map(\.groupKey), default: []].append(k)
            }
            byValue = m
        }
        var out: [[Value]] = []
        var used = Set<[UInt8]>()
        for r in rows {
            try checkInterrupt()
            let key: [UInt8]
            if let byValue {
                guard let k = byValue[r.map(\.groupKey)]?.first(where: { !used.contains($0) }) else { continue }
                key = k
                used.insert(k)
            } else {
                key = prefix + KeyEncoding.encode(t.primaryKey.map { r[$0].groupKeyForIndex })
            }
            if try tx.lockRow(key, strength, wait) { out.append(r) }
        }
        return out
    }

    func decodeRow(_ t: TableDesc, _ bytes: [UInt8]) throws -> [Value] {
        try RowEncoding.decode(bytes, columns: t.columns)
    }

    func scanRows(_ t: TableDesc, lower: [UInt8], upper: [UInt8]) throws -> [[Value]] {
        var out: [[Value]] = []
        try tx.scanEach(lower: lower, upper: upper) { _, bytes in
            try checkInterrupt()
            out.append(try decodeRow(t, bytes))
            return true
        }
        return out
    }

    func join(_ kind: JoinKind, _ left: [[Value]], _ right: [[Value]], on: BExpr?, lk: [BExpr], rk: [BExpr], lw: Int, rw: Int) throws -> [[Value]] {
        var out: [[Value]] = []
        let nullsL = [Value](repeating: .null, count: lw)
        let nullsR = [Value](repeating: .null, count: rw)
        var rightMatched = [Bool](repeating: false, count: right.count)
        func matches(_ row: [Value]) throws -> Bool {
            guard let on else { return true }
            return try eval(on, row) == .bool(true)
        }
        if !lk.isEmpty {
            // The right side's rows by join key; a single key column is hashed as a value, not
            // as an array of one (an allocation per row on both sides).
            let matchesOf: ([Value]) throws -> [Int]?
            if lk.count == 1 {
                var table: [Value: [Int]] = [:]
                for (j, r) in right.enumerated() {
                    try checkInterrupt()
                    let key = try eval(rk[0], r).groupKey
                    if key.isNull { continue }
                    table[key, default: []].append(j)
                }
                matchesOf = { l in
                    let key = try self.eval(lk[0], l).groupKey
                    return key.isNull ? nil : table[key]
                }
            } else {
                var table: [[Value]: [Int]] = [:]
                for (j, r) in right.enumerated() {
                    try checkInterrupt()
                    let key = try rk.map { try eval($0, r).groupKey }
                    if key.contains(where: \.isNull) { continue }
                    table[key, default: []].append(j)
                }
                matchesOf = { l in
                    let key = try lk.map { try self.eval($0, l).groupKey }
                    return key.contains(where: \.isNull) ? nil : table[key]
                }
            }
            for l in left {
                try checkInterrupt()
                var any = false
                if let js = try matchesOf(l) {
                    for j in js {
                        let row = l + right[j]
                        if try matches(row) { out.append(row); any = true; rightMatched[j] = true }
                    }
                }
                if !any && (kind == .left || kind == .full) { out.append(l + nullsR) }
            }
        } else {
            for l in left {
                var any = false
                for (j, r) in right.enumerated() {
                    try checkInterrupt()
                    let row = l + r
                    if try matches(row) { out.append(row); any = true; rightMatched[j] = true }
                }
                if !any && (kind == .left || kind == .full) { out.append(l + nullsR) }
            }
        }
        if kind == .right || kind == .full {
            for (j, r) in right.enumerated() where !rightMatched[j] { out.append(nullsL + r) }
        }
        return out
    }

    func setOp(_ op: SetOperator, _ all: Bool, _ l: [[Value]], _ r: [[Value]]) throws -> [[Value]] {
        switch op {
        case .union:
            if all { return l + r }
            var seen = Set<[Value]>()
            var out: [[Value]] = []
            for row in l + r where seen.insert(row.map(\.groupKey)).inserted { out.append(row) }
            return out
        case .intersect, .except:
            var counts: [[Value]: Int] = [:]
            for row in r { counts[row.map(\.groupKey), default: 0] += 1 }
            var out: [[Value]] = []
            var emitted = Set<[Value]>()
            for row in l {
                let k = row.map(\.groupKey)
                let c = counts[k] ?? 0
                if op == .intersect {
                    if c > 0 {
                        if all { counts[k] = c - 1; out.append(row) } else if emitted.insert(k).inserted { out.append(row) }
                    }
                } else {
                    if all {
                        if c > 0 { counts[k] = c - 1 } else { out.append(row) }
                    } else if c == 0 && emitted.insert(k).inserted { out.append(row) }
                }
            }
            return out
        }
    }

    /// The first `k` rows of `plan` in the order of `keys` (ties in input order, as `sortRows`
    /// keeps them), from a bounded heap over the streamed input: O(n log k) and k rows of memory.
    func topN(_ plan: Plan, _ keys: [SortKey], _ k: Int) throws -> [[Value]] {
        if k == 0 { return [] }
        /// Whether `a` (arrived `i`) sorts before `b` (arrived `j`).
        func before(_ a: [Value], _ i: Int, _ b: [Value], _ j: Int) -> Bool { Executor.sortsBefore(a, i, b, j, keys) }
        // A max-heap by sort order: the root is the worst row kept.
        var heap: [(row: [Value], seq: Int)] = []
        heap.reserveCapacity(min(k, 1024))
        func worse(_ p: Int, _ q: Int) -> Bool { before(heap[q].row, heap[q].seq, heap[p].row, heap[p].seq) }
        var seq = 0
        try forEachRow(plan) { row in
            defer { seq += 1 }
            if seq & 1023 == 0 { try checkInterrupt() }
            if heap.count < k {
                heap.append((row, seq))
                var c = heap.count - 1
                while c > 0 {
                    let parent = (c - 1) / 2
                    guard worse(c, parent) else { break }
                    heap.swapAt(c, parent)
                    c = parent
                }
                return
            }
            guard before(row, seq, heap[0].row, heap[0].seq) else { return }
            heap[0] = (row, seq)
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                var w = p
                if l < heap.count && worse(l, w) { w = l }
                if r < heap.count && worse(r, w) { w = r }
                if w == p { break }
                heap.swapAt(p, w)
                p = w
            }
        }
        return heap.sorted { before($0.row, $0.seq, $1.row, $1.seq) }.map(\.row)
    }

    func sortRows(_ rows: inout [[Value]], _ keys: [SortKey]) throws {
        var comparisons = 0
        rows = try rows.enumerated().sorted { a, b in
            comparisons &+= 1
            if comparisons & 255 == 0 { try checkInterrupt() }
            return Executor.sortsBefore(a.element, a.offset, b.element, b.offset, keys)
        }.map(\.element)
    }

    /// ORDER BY's order: whether row `a` (at input position `i`) comes before row `b` (at `j`);
    /// rows equal under `keys` keep their input order.
    static func sortsBefore(_ a: [Value], _ i: Int, _ b: [Value], _ j: Int, _ keys: [SortKey]) -> Bool {
        for k in keys {
            let x = a[k.index], y = b[k.index]
            if x.isNull || y.isNull {
                if x.isNull && y.isNull { continue }
                return x.isNull == k.nullsFirst
            }
            let c = Value.compare(x, y)
            if c != 0 { return k.descending ? c > 0 : c < 0 }
        }
        return i < j
    }

    // MARK: aggregates

    struct AggState {
        var count: Int64 = 0
        var sum: Value = .null
        var sumSq: Double = 0
        var sumD: Double = 0
        var ext: Value = .null
        var text: String?
        var bool: Bool?
        /// sum/avg of vectors: element sums.
        var vsum: [Double]?
        var seen = Set<Value>()
        /// array_agg's elements.
        var items: [Value] = []
        /// Inputs of an ordered aggregate: sort keys, value, row.
        var pending: [([Value], Value, [Value])] = []
    }

    /// Aggregates whose input includes NULL values (the others skip them).
    static let aggregatesKeepingNulls: Set<String> = ["array_agg", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg"]

    func aggregate(_ rows: [[Value]], _ groups: [BExpr], _ aggs: [AggCall]) throws -> [[Value]] {
        try aggregate(groups, aggs) { add in for r in rows { try add(r) } }
    }

    /// How `aggregate` updates one aggregate's state per row: the common simple calls (no
    /// FILTER, DISTINCT or ORDER BY) without going through `step`'s general dispatch.
    enum AggFastPath {
        case countStar
        case count(BExpr)
        /// sum of an integer column into bigint (PostgreSQL's sum(int2/int4)).
        case sumInt(BExpr)
        case general

        init(_ a: AggCall) {
            guard a.filter == nil, !a.distinct, a.order.isEmpty else { self = .general; return }
            if a.star { self = .countStar; return }
            if a.name == "count", let x = a.args.first { self = .count(x); return }
            if a.name == "sum", a.argType.isInteger, a.type == .int8, let x = a.args.first { self = .sumInt(x); return }
            self = .general
        }
    }

    /// Hash aggregation over the rows `feed` passes to its argument (one at a time, so that a
    /// pipelined input is never materialized). Groups come out in order of first appearance.
    func aggregate(_ groups: [BExpr], _ aggs: [AggCall], _ feed: (([Value]) throws -> Void) throws -> Void) throws -> [[Value]] {
        var h = HashAggregation(groups: groups, aggs: aggs)
        try feed { r in try h.add(self, r) }
        return try h.finish(self)
    }

    func step(_ s: inout AggState, _ a: AggCall, _ v: Value, _ row: [Value]) throws {
        s.count += 1
        switch a.name {
        case "count": break
        case "sum", "avg":
            if case let .vector(x) = v {
                var acc = s.vsum ?? [Double](repeating: 0, count: x.count)
                guard acc.count == x.count else {
                    throw SQLError(SQLState("22000"), "expected \(acc.count) dimensions, not \(x.count)")
                }
                for i in 0..<x.count { acc[i] += Double(x[i]) }
                s.vsum = acc
                return
            }
            if case .interval = v { s.sum = s.sum.isNull ? v : try dateArith("+", s.sum, v, .interval); return }
            if a.argType.isFloat || a.type.isFloat { s.sumD += toDouble(v); return }
            if s.sum.isNull { s.sum = a.argType.isInteger && a.name == "sum" && a.type == .int8 ? .int(0) : .numeric(SQLDecimal(0)) }
            if case let .int(acc) = s.sum, case let .int(x) = v {
                let (r, o) = acc.addingReportingOverflow(x)
                if o { throw overflow(.int8) }
                s.sum = .int(r)
            } else {
                s.sum = .numeric(try SQLDecimal.add(toDecimal(s.sum), toDecimal(v)))
            }
        case "min", "max":
            if s.ext.isNull { s.ext = v; return }
            let c = Value.compare(v, s.ext)
            if (a.name == "min" && c < 0) || (a.name == "max" && c > 0) { s.ext = v }
        case "array_agg": s.items.append(v)
        case "json_agg", "jsonb_agg":
            guard case let .text(j) = v else { s.items.append(.text("null")); return }
            s.items.append(.text(j))
        case "json_object_agg", "jsonb_object_agg":
            guard case let .text(k) = v, case let .string(key) = try JSONValue.parse(k, jsonb: false) else {
                if v.isNull { throw SQLError(SQLState("22004"), "field name must not be null") }
                s.items.append(v); s.items.append(try eval(a.args[1], row)); return
            }
            s.items.append(.text(key))
            s.items.append(try eval(a.args[1], row))
        case "string_agg":
            let sep = try a.separator.map { try eval($0, row) } ?? .null
            if let t = s.text { s.text = t + (sep.text(as: nil) ?? "") + (v.text(as: nil) ?? "") } else { s.text = v.text(as: nil) ?? "" }
        case "bool_and": if case let .bool(b) = v { s.bool = (s.bool ?? true) && b }
        case "bool_or": if case let .bool(b) = v { s.bool = (s.bool ?? false) || b }
        default:
            let d = toDouble(v)
            s.sumD += d
            s.sumSq += d * d
            s.sum = .numeric(try SQLDecimal.add(toDecimal(s.sum.isNull ? .int(0) : s.sum), toDecimal(v)))
        }
    }

    func finish(_ s0: AggState, _ a: AggCall) throws -> Value {
        var s = s0
        if !s.pending.isEmpty {
            var idx = Array(s.pending.indices)
            idx.sort { x, y in
                for (k, o) in a.order.enumerated() {
                    let p = s.pending[x].0[k], q = s.pending[y].0[k]
                    if p.isNull || q.isNull {
                        if p.isNull && q.isNull { continue }
                        return p.isNull == o.1.nullsFirst
                    }
                    let c = Value.compare(p, q)
                    if c != 0 { return o.1.descending ? c > 0 : c < 0 }
                }
                return x < y
            }
            var fresh = AggState()
            for i in idx { try step(&fresh, a, s.pending[i].1, s.pending[i].2) }
            s = fresh
        }
        switch a.name {
        case "count": return .int(s.count)
        case "grouping": return .int(0)
        case "sum":
            if s.count == 0 { return .null }
            if let v = s.vsum { return .vector(try v.map { d throws(SQLError) in try finiteFloat(d) }) }
            if a.type.isFloat { return .float(s.sumD) }
            if case .numeric = a.type { return .numeric(toDecimal(s.sum)) }
            return s.sum
        case "avg":
            if s.count == 0 { return .null }
            if let v = s.vsum { return .vector(try v.map { d throws(SQLError) in try finiteFloat(d / Double(s.count)) }) }
            if a.type.isFloat { return .float(s.sumD / Double(s.count)) }
            if case let .interval(m, d, u) = s.sum { return .interval(months: m / s.count, days: d / s.count, micros: u / s.count) }
            return .numeric(try SQLDecimal.divide(toDecimal(s.sum), SQLDecimal(s.count)))
        case "min", "max": return s.ext
        case "string_agg": return s.text.map { .text($0) } ?? .null
        case "array_agg": return s.count == 0 ? .null : .array(s.items)
        case "json_agg", "jsonb_agg":
            if s.count == 0 { return .null }
            let items = try s.items.map { v throws -> JSONValue in
                if case let .text(j) = v { return try JSONValue.parse(j, jsonb: false) }
                return .null
            }
            return Executor.jsonText(.array(items), jsonb: a.name == "jsonb_agg")
        case "json_object_agg", "jsonb_object_agg":
            if s.count == 0 { return .null }
            var members: [JSONMember] = []
            for i in stride(from: 0, to: s.items.count - 1, by: 2) {
                let key: String = if case let .text(k) = s.items[i] { k } else { s.items[i].text(as: nil) ?? "" }
                let value: JSONValue = if case let .text(j) = s.items[i + 1] { try JSONValue.parse(j, jsonb: false) } else { .null }
                members.append(JSONMember(key: key, value: value))
            }
            if a.name == "jsonb_object_agg" { return Executor.jsonText(.object(members), jsonb: true) }
            return .text("{ " + members.map { JSONValue.quote($0.key) + " : " + $0.value.text }.joined(separator: ", ") + " }")
        case "bool_and", "bool_or": return s.bool.map { .bool($0) } ?? .null
        default:
            let n = Double(s.count)
            let pop = a.name.hasSuffix("_pop")
            if s.count == 0 || (!pop && s.count == 1) { return .null }
            let mean = s.sumD / n
            var variance = (s.sumSq - n * mean * mean) / (pop ? n : n - 1)
            if variance < 0 { variance = 0 }
            let r = a.name.hasPrefix("stddev") ? variance.squareRoot() : variance
            if a.type.isFloat { return .float(r) }
            return try castValue(.float(r), to: .numeric(precision: nil, scale: nil))
        }
    }
}
