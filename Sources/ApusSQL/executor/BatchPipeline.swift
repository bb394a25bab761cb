import ApusCore

/// Batch-at-a-time execution: scans, filters, projections and the probe side of inner and
/// left hash joins pass `Batch`es of up to `Batch.capacity` rows, column by column, to the
/// operator above; hash aggregation consumes them column by column, and `collect` turns them
/// into result rows. Rows come in exactly the order the row pipeline (`forEachRow`) gives.
///
/// Expressions are evaluated column-wise where that cannot change what a query returns or
/// which error it raises: column references and constants are passed through, and
/// comparisons of integer columns and constants with AND/OR/NOT/IS NULL over them (none of
/// which can fail) are computed over whole columns (`truthKernel`). Every other expression
/// is evaluated row by row with `eval`, all of one row's expressions together, as the row
/// pipeline does. Plans whose expressions hold subqueries or volatile functions (`nextval`,
/// `random`, ...; their call order per row is visible) stay on the row pipeline.
extension Executor {
    /// Functions whose results depend on how often and in which order they are called.
    static let volatileFunctions: Set<String> = [
        "nextval", "setval", "currval", "lastval", "random", "setseed", "gen_random_uuid", "uuid_generate_v4",
        "clock_timestamp", "timeofday", "set_config", "pg_advisory_lock", "pg_advisory_unlock",
        "pg_advisory_xact_lock", "pg_try_advisory_lock", "pg_advisory_unlock_all", "pg_sleep", "txid_current",
    ]

    /// Whether `e` may be evaluated batch-wise: no subquery, window value or volatile call.
    static func batchSafe(_ e: BExpr) -> Bool {
        guard e.columnsRead != nil else { return false }
        return !e.callsAny(volatileFunctions)
    }

    /// Whether `forEachBatch` runs `p` as batches all the way down (an inner or left hash
    /// join over a scan, with filters and projections), rather than adapting a row stream.
    static func batches(_ p: Plan) -> Bool {
        switch p {
        case let .scan(_, prefix): return prefix.isEmpty
        case .scanRange: return true
        case let .filter(x, pred): return batchSafe(pred) && batches(x)
        case let .project(x, exprs): return exprs.allSatisfy(batchSafe) && batches(x)
        case let .join(kind, l, _, on, lk, rk, _, _):
            return (kind == .inner || kind == .left) && !lk.isEmpty && (on.map(batchSafe) ?? true)
                && (lk + rk).allSatisfy(batchSafe) && batches(l)
        default: return false
        }
    }

    /// Calls `body` with the rows of `plan` in batches, in order; `needed` as in `forEachRow`
    /// (columns not flagged may be `.absent`).
    func forEachBatch(_ plan: Plan, needed: [Bool]? = nil, _ body: (Batch) throws -> Void) throws {
        depth += 1
        defer { depth -= 1 }
        if depth > 400 { throw SQLError(.stackDepth, "stack depth limit exceeded") }
        if let t = Executor.scannedTable(plan) {
            guard let (lo, hi) = try primaryRange(plan) else { return }
            try scanBatches(t, lower: lo, upper: hi, needed: needed, body)
            return
        }
        switch plan {
        case let .filter(input, pred) where Executor.batchSafe(pred):
            try forEachBatch(input, needed: Executor.adding([pred], to: needed)) { b in
                let keep = try selected(pred, b)
                if keep.count == b.count {
                    try body(b)
                } else if !keep.isEmpty {
                    try body(b.gather(keep))
                }
            }
        case let .project(input, exprs) where exprs.allSatisfy(Executor.batchSafe):
            let used = exprs.indices.filter { i in needed.map { i < $0.count && $0[i] } ?? true }
            try forEachBatch(input, needed: Executor.adding(used.map { exprs[$0] }, to: [])) { b in
                try body(Batch(count: b.count, columns: try columns(exprs, used, b)))
            }
        case let .join(kind, l, r, on, lk, rk, lw, rw)
            where (kind == .inner || kind == .left) && !lk.isEmpty && (on.map(Executor.batchSafe) ?? true)
            && (lk + rk).allSatisfy(Executor.batchSafe):
            try joinBatches(kind == .left, l, try run(r), on: on, lk: lk, rk: rk, lw: lw, rw: rw, needed: needed, body)
        default:
            try batchesOfRows(plan, needed: needed, body)
        }
    }

    /// The rows of `plan` from the row pipeline, gathered into batches.
    func batchesOfRows(_ plan: Plan, needed: [Bool]?, _ body: (Batch) throws -> Void) throws {
        var builders: [ColumnBuilder] = []
        var count = 0
        func flush() throws {
            if count == 0 { return }
            let b = Batch(count: count, columns: builders.indices.map { builders[$0].take() })
            count = 0
            try body(b)
        }
        try forEachRow(plan, needed: needed) { row in
            if row.count != builders.count {
                try flush()
                builders = row.map { _ in ColumnBuilder(integers: true) }
            }
            for c in row.indices { builders[c].append(row[c]) }
            count += 1
            if count == Batch.capacity { try flush() }
        }
        try flush()
    }

    /// Every row of `plan`, collected through batches.
    func collectBatches(_ plan: Plan) throws -> [[Value]] {
        var out: [[Value]] = []
        try forEachBatch(plan) { b in
            // Built locally, appended once: `out` is captured, so each access is checked.
            var rows: [[Value]] = []
            rows.reserveCapacity(b.count)
            for i in 0..<b.count { rows.append(b.columns.map { $0[i] }) }
            out.append(contentsOf: rows)
        }
        return out
    }

    /// Decodes the rows stored in `[lower, upper)` of `t`'s primary index into batches:
    /// integer columns unboxed, the columns `needed` does not flag left `.absent`.
    func scanBatches(_ t: TableDesc, lower: [UInt8], upper: [UInt8], needed: [Bool]?, _ body: (Batch) throws -> Void) throws {
        var state = ScanBatcher(t, needed: needed)
        // One access to `state` per row (each access to a captured variable is checked for
        // exclusivity at run time).
        try tx.scanEachBorrowing(lower: lower, upper: upper) { _, bytes in
            if let b = try state.add(bytes) {
                try checkInterrupt()
                try body(b)
            }
            return true
        }
        if let b = state.flush() { try body(b) }
    }

    /// The value of each expression in `used` over the rows of `b` (the others `.absent`):
    /// references and constants column-wise, the rest row by row, a row's expressions together.
    func columns(_ exprs: [BExpr], _ used: [Int], _ b: Batch) throws -> [ColumnVector] {
        var cols = [ColumnVector](repeating: .absent, count: exprs.count)
        var rowwise: [Int] = []
        for i in used {
            switch exprs[i] {
            case let .column(c): cols[i] = c < b.columns.count ? b.columns[c] : .absent
            case let .const(v): cols[i] = .repeating(v, b.count)
            case .param: cols[i] = .repeating(try eval(exprs[i], []), b.count)
            default: rowwise.append(i)
            }
        }
        if rowwise.isEmpty { return cols }
        var builders = rowwise.map { _ in ColumnBuilder(integers: true) }
        var row: [Value] = []
        for r in 0..<b.count {
            b.row(r, into: &row)
            for (k, i) in rowwise.enumerated() { builders[k].append(try eval(exprs[i], row)) }
        }
        for (k, i) in rowwise.enumerated() { cols[i] = builders[k].take() }
        return cols
    }

    /// The value of `e` over the rows of `b`.
    func column(_ e: BExpr, _ b: Batch) throws -> ColumnVector {
        try columns([e], [0], b)[0]
    }

    /// The positions of the rows of `b` for which `pred` is true.
    func selected(_ pred: BExpr, _ b: Batch) throws -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(b.count)
        if let truth = try truthKernel(pred, b) {
            for i in 0..<b.count where truth[i] == 1 { out.append(i) }
            return out
        }
        var row: [Value] = []
        for i in 0..<b.count {
            b.row(i, into: &row)
            if try eval(pred, row) == .bool(true) { out.append(i) }
        }
        return out
    }

    /// An integer operand of a comparison: a column of `b` or one value for every row.
    enum IntOperand {
        case column([Int64], nulls: [Bool]?)
        case scalar(Int64?)
    }

    func intOperand(_ e: BExpr, _ b: Batch) throws -> IntOperand? {
        switch e {
        case let .column(c):
            guard c < b.columns.count else { return nil }
            switch b.columns[c] {
            case let .ints(v, nulls): return .column(v, nulls: nulls)
            case .absent: return .scalar(nil)
            case .values: return nil
            }
        case .const, .param:
            switch try eval(e, []) {
            case let .int(i): return .scalar(i)
            case .null: return .scalar(nil)
            default: return nil
            }
        default: return nil
        }
    }

    /// `pred` over every row of `b` as 0 (false), 1 (true) or 2 (NULL), when it is made only
    /// of comparisons of integer columns and constants, AND, OR, NOT and IS [NOT] NULL of
    /// such columns (none can fail, so evaluating every row gives what `eval` gives); nil
    /// otherwise.
    func truthKernel(_ pred: BExpr, _ b: Batch) throws -> [UInt8]? {
        let n = b.count
        switch pred {
        case let .const(v):
            switch v {
            case let .bool(x): return [UInt8](repeating: x ? 1 : 0, count: n)
            case .null: return [UInt8](repeating: 2, count: n)
            default: return nil
            }
        case let .compare(op, x, y):
            guard let a = try intOperand(x, b), let c = try intOperand(y, b) else { return nil }
            let test: (Int64, Int64) -> Bool
            switch op {
            case "=": test = { $0 == $1 }
            case "<>": test = { $0 != $1 }
            case "<": test = { $0 < $1 }
            case "<=": test = { $0 <= $1 }
            case ">": test = { $0 > $1 }
            case ">=": test = { $0 >= $1 }
            default: return nil
            }
            var out = [UInt8](repeating: 2, count: n)
            switch (a, c) {
            case let (.column(v, nulls), .scalar(s)):
                guard let s else { return out }
                for i in 0..<n where nulls?[i] != true { out[i] = test(v[i], s) ? 1 : 0 }
            case let (.scalar(s), .column(v, nulls)):
                guard let s else { return out }
                for i in 0..<n where nulls?[i] != true { out[i] = test(s, v[i]) ? 1 : 0 }
            case let (.column(v, nv), .column(w, nw)):
                for i in 0..<n where nv?[i] != true && nw?[i] != true { out[i] = test(v[i], w[i]) ? 1 : 0 }
            case let (.scalar(s), .scalar(t)):
                guard let s, let t else { return out }
                return [UInt8](repeating: test(s, t) ? 1 : 0, count: n)
            }
            return out
        case let .and(x, y):
            guard var a = try truthKernel(x, b), let c = try truthKernel(y, b) else { return nil }
            for i in 0..<n { a[i] = a[i] == 0 || c[i] == 0 ? 0 : (a[i] == 2 || c[i] == 2 ? 2 : 1) }
            return a
        case let .or(x, y):
            guard var a = try truthKernel(x, b), let c = try truthKernel(y, b) else { return nil }
            for i in 0..<n { a[i] = a[i] == 1 || c[i] == 1 ? 1 : (a[i] == 2 || c[i] == 2 ? 2 : 0) }
            return a
        case let .not(x):
            guard var a = try truthKernel(x, b) else { return nil }
            for i in 0..<n where a[i] != 2 { a[i] = 1 - a[i] }
            return a
        case let .isNull(.column(c), negated) where c < b.columns.count:
            let col = b.columns[c]
            return (0..<n).map { i in col[i].isNull != negated ? 1 : 0 }
        default:
            return nil
        }
    }

    /// A hash join (INNER or LEFT) whose left input comes in batches: the right rows are
    /// hashed by key, each left batch is probed row by row in order, and the output batch
    /// gathers the left columns and the matched right rows' columns. Output order is the
    /// row pipeline's: per left row its matches in right order, or the row padded with NULLs.
    func joinBatches(
        _ padLeft: Bool, _ l: Plan, _ right: [[Value]], on: BExpr?, lk: [BExpr], rk: [BExpr], lw: Int, rw: Int,
        needed: [Bool]?, _ body: (Batch) throws -> Void
    ) throws {
        var used = needed.map { Array($0.prefix(lw + rw)) + [Bool](repeating: false, count: max(0, lw + rw - $0.count)) }
        let outputUsed = used
        if let on { used = Executor.adding([on], to: used) }
        let leftNeeded = used.flatMap { u in Executor.adding(lk, to: Array(u.prefix(lw))) }
        var probe = try JoinBatcher(self, padLeft, right, on: on, lk: lk, rk: rk, lw: lw, rw: rw, used: used, outputUsed: outputUsed)
        try forEachBatch(l, needed: leftNeeded) { b in
            try checkInterrupt()
            try probe.probe(self, b, body)
        }
    }
}

/// `Executor.scanBatches`' state: stored rows decoded into column builders until a batch is full.
struct ScanBatcher {
    let columns: [ColumnDesc]
    /// The builder of each table column (-1: not decoded).
    var slots: [Int]
    var builders: [ColumnBuilder] = []
    var count = 0

    init(_ t: TableDesc, needed: [Bool]?) {
        columns = t.columns
        slots = [Int](repeating: -1, count: t.columns.count)
        for (i, c) in t.columns.enumerated() where needed.map({ i < $0.count && $0[i] }) ?? true {
            slots[i] = builders.count
            builders.append(ColumnBuilder(integers: (try? SQLType.ofColumn(c.typeSQL))?.isInteger ?? false))
        }
    }

    /// Decodes one stored row (read in place); returns the batch when it is full.
    @inline(__always)
    mutating func add(_ bytes: UnsafeRawBufferPointer) throws -> Batch? {
        try RowEncoding.decode(bytes, columns: columns, slots: slots, into: &builders)
        count += 1
        return count == Batch.capacity ? flush() : nil
    }

    /// The rows decoded since the last batch, if any.
    mutating func flush() -> Batch? {
        if count == 0 { return nil }
        var cols = [ColumnVector](repeating: .absent, count: columns.count)
        for i in slots.indices where slots[i] >= 0 { cols[i] = builders[slots[i]].take() }
        defer { count = 0 }
        return Batch(count: count, columns: cols)
    }
}

/// `Executor.joinBatches`' state: the hashed build side with its columns, and the buffers of
/// the output batch. One left batch is probed per call (one exclusive access per batch).
struct JoinBatcher {
    let table: JoinHashTable
    /// The build rows' columns that the output or ON reads, typed (integers unboxed).
    let rightCols: [ColumnVector]
    let on: BExpr?
    let lk: [BExpr]
    let lw: Int
    let rw: Int
    let padLeft: Bool
    let outputUsed: [Bool]?
    /// The left column of a single integer join key (probed without boxing), if any.
    let singleIntKey: Int?
    var leftRows: [Int] = []
    var rightRows: [Int] = []
    var row: [Value] = []
    var joined: [Value]

    init(
        _ ex: Executor, _ padLeft: Bool, _ right: [[Value]], on: BExpr?, lk: [BExpr], rk: [BExpr], lw: Int, rw: Int,
        used: [Bool]?, outputUsed: [Bool]?
    ) throws {
        table = try JoinHashTable(ex, right, rk)
        rightCols = (0..<rw).map { c in
            guard used.map({ $0[lw + c] }) ?? true else { return .absent }
            var builder = ColumnBuilder(integers: true)
            for r in right { builder.append(c < r.count ? r[c] : .null) }
            return builder.take()
        }
        self.on = on
        self.lk = lk
        self.lw = lw
        self.rw = rw
        self.padLeft = padLeft
        self.outputUsed = outputUsed
        if lk.count == 1, table.integerKeys, case let .column(c) = lk[0] { singleIntKey = c } else { singleIntKey = nil }
        joined = [Value](repeating: .null, count: lw + rw)
    }

    mutating func probe(_ ex: Executor, _ b: Batch, _ body: (Batch) throws -> Void) throws {
        var keys: [Int64] = []
        var keyNulls: [Bool]?
        var intKeys = false
        if let c = singleIntKey, c < b.columns.count, case let .ints(v, nulls) = b.columns[c] {
            keys = v
            keyNulls = nulls
            intKeys = true
        }
        for i in 0..<b.count {
            var j: Int
            if intKeys {
                j = keyNulls?[i] == true ? -1 : (table.ints[keys[i]] ?? -1)
            } else {
                b.row(i, into: &row)
                j = try table.first(ex, row, lk)
            }
            var any = false
            while j >= 0 {
                if let on {
                    for c in 0..<lw { joined[c] = c < b.columns.count ? b.columns[c][i] : .null }
                    for c in 0..<rw { joined[lw + c] = rightCols[c][j] }
                    if try ex.eval(on, joined) != .bool(true) {
                        j = table.next[j]
                        continue
                    }
                }
                leftRows.append(i)
                rightRows.append(j)
                any = true
                j = table.next[j]
            }
            if !any && padLeft {
                leftRows.append(i)
                rightRows.append(-1)
            }
            if leftRows.count >= Batch.capacity { try flush(b, body) }
        }
        try flush(b, body)
    }

    private mutating func flush(_ b: Batch, _ body: (Batch) throws -> Void) throws {
        if leftRows.isEmpty { return }
        var cols: [ColumnVector] = []
        cols.reserveCapacity(lw + rw)
        for c in 0..<lw {
            let wanted = outputUsed.map { $0[c] } ?? true
            cols.append(wanted && c < b.columns.count ? b.columns[c].gather(leftRows) : .absent)
        }
        for c in 0..<rw {
            cols.append(outputUsed.map({ $0[lw + c] }) ?? true ? rightCols[c].gather(rightRows) : .absent)
        }
        let out = Batch(count: leftRows.count, columns: cols)
        leftRows.removeAll(keepingCapacity: true)
        rightRows.removeAll(keepingCapacity: true)
        try body(out)
    }
}

extension BExpr {
    /// The direct operands of this node (a subquery's plan is not an operand).
    var operands: [BExpr] {
        switch self {
        case .const, .column, .outer, .param, .windowColumn, .scalarSubquery, .exists: return []
        case let .cast(x, _), let .negate(x, _), let .not(x), let .isNull(x, _), let .isBool(x, _, _),
             let .inSubquery(x, _, _), let .quantified(_, x, _, _):
            return [x]
        case let .arith(_, a, b, _), let .compare(_, a, b), let .and(a, b), let .or(a, b), let .isDistinct(a, b, _),
             let .nullIf(a, b), let .concat(a, b), let .dateArith(_, a, b, _):
            return [a, b]
        case let .inList(x, items, _): return [x] + items
        case let .like(a, b, esc, _, _): return [a, b] + (esc.map { [$0] } ?? [])
        case let .caseWhen(operand, whens, otherwise):
            return (operand.map { [$0] } ?? []) + whens.flatMap { [$0.0, $0.1] } + (otherwise.map { [$0] } ?? [])
        case let .coalesce(xs), let .extreme(xs, _), let .function(_, xs, _): return xs
        }
    }

    /// Whether this node or any operand below it satisfies `test`.
    func contains(where test: (BExpr) -> Bool) -> Bool {
        test(self) || operands.contains { $0.contains(where: test) }
    }

    /// Whether the expression calls one of `names` anywhere inside it.
    func callsAny(_ names: Set<String>) -> Bool {
        contains { if case let .function(name, _, _) = $0 { return names.contains(name) } else { return false } }
    }
}

extension HashAggregation {
    /// Adds the rows of `b`: each row's group first (an integer group column through
    /// `intGroups` without boxing), then each aggregate over its argument's column; calls
    /// without a fast path (FILTER, DISTINCT, ORDER BY, most functions) step row by row.
    mutating func add(_ ex: Executor, _ b: Batch) throws {
        if b.count == 0 { return }
        sawRow = true
        try ex.checkInterrupt()
        var gs = [Int](repeating: 0, count: b.count)
        if groups.isEmpty {
            if keys.isEmpty { _ = newGroup([]) }
        } else if groups.count == 1 {
            let col = try ex.column(groups[0], b)
            if case let .ints(v, nil) = col {
                for i in 0..<b.count {
                    if let known = intGroups[v[i]] {
                        gs[i] = known
                    } else {
                        gs[i] = newGroup([.int(v[i])])
                        intGroups[v[i]] = gs[i]
                    }
                }
            } else {
                for i in 0..<b.count { gs[i] = group(of: col[i]) }
            }
        } else {
            let cols = try ex.columns(groups, Array(groups.indices), b)
            for i in 0..<b.count {
                let key = cols.map { $0[i] }
                let k = key.map(\.groupKey)
                if let known = index[k] { gs[i] = known } else { gs[i] = newGroup(key); index[k] = gs[i] }
            }
        }
        let n = aggs.count
        var row: [Value] = []
        for a in 0..<n {
            switch fast[a] {
            case .countStar:
                for g in gs { states[g * n + a].count += 1 }
            case let .count(x):
                let col = try ex.column(x, b)
                if case .ints(_, nil) = col {
                    for g in gs { states[g * n + a].count += 1 }
                } else {
                    for i in 0..<b.count where !col[i].isNull { states[gs[i] * n + a].count += 1 }
                }
            case let .sumInt(x):
                let col = try ex.column(x, b)
                var ints: [Int64] = []
                var nulls: [Bool]?
                var unboxed = false
                if case let .ints(v, ns) = col { ints = v; nulls = ns; unboxed = true }
                for i in 0..<b.count {
                    let s = gs[i] * n + a
                    let v: Value
                    if unboxed {
                        if nulls?[i] == true { continue }
                        v = .int(ints[i])
                    } else {
                        v = col[i]
                        if v.isNull { continue }
                    }
                    if case let .int(x) = v, case let .int(acc) = states[s].sum {
                        let (sum, o) = acc.addingReportingOverflow(x)
                        if o { throw overflow(.int8) }
                        states[s].count += 1
                        states[s].sum = .int(sum)
                        continue
                    }
                    b.row(i, into: &row)
                    try ex.step(&states[s], aggs[a], v, row)
                }
            case .general:
                for i in 0..<b.count {
                    b.row(i, into: &row)
                    try addGeneral(ex, a, gs[i], row)
                }
            }
        }
    }
}
