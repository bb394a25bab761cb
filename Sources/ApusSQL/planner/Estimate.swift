import ApusCore

/// What the estimator knows of one column: its statistics (when ANALYZE ran), the rows of its
/// table, and whether it is unique (a one-column primary key or unique index).
struct ColumnInfo {
    var stats: AnalyzedTable.Column?
    var tableRows: Double
    var unique: Bool

    /// Distinct non-NULL values: ANALYZE's figure, the row count for a unique column, else
    /// PostgreSQL's default of 200 (never more than the rows).
    var distinct: Double {
        if let s = stats, s.distinct > 0 { return s.distinct }
        if unique { return max(tableRows, 1) }
        return max(min(200, tableRows), 1)
    }
}

/// Cardinality and selectivity estimates over bound plans, from ANALYZE's statistics where a
/// column can be traced to a table column, else from defaults (1,000 rows per table,
/// PostgreSQL's default selectivities).
struct Estimator {
    let stats: StatisticsSource?
    static let defaultRows = 1_000.0
    static let defaultEquality = 0.005
    static let defaultInequality = 1.0 / 3.0

    func tableRows(_ t: TableDesc) -> Double { stats?.table(t)?.rows ?? Estimator.defaultRows }

    /// The table column behind output column `i` of `p`, through filters, projections of
    /// plain columns and joins.
    func origin(_ p: Plan, _ i: Int) -> (TableDesc, Int)? {
        switch p {
        case let .scan(t, _), let .scanRange(t, _, _), let .indexScan(t, _, _), let .indexOnlyScan(t, _, _):
            return t.viewSQL == nil && i < t.columns.count ? (t, i) : nil
        case let .filter(c, _), let .lockRows(c, _, _, _), let .sort(c, _), let .limit(c, _, _), let .distinct(c), let .trim(c, _),
             let .distinctOn(c, _):
            return origin(c, i)
        case let .project(c, exprs):
            guard i < exprs.count, let j = Estimator.columnIndex(exprs[i]) else { return nil }
            return origin(c, j)
        case let .join(_, l, r, _, _, _, lw, _): return i < lw ? origin(l, i) : origin(r, i - lw)
        case let .cte(box): return origin(box.plan, i)
        default: return nil
        }
    }

    /// The column a (possibly cast) column reference reads.
    static func columnIndex(_ e: BExpr) -> Int? {
        switch e {
        case let .column(i): return i
        case let .cast(x, _): return columnIndex(x)
        default: return nil
        }
    }

    func info(_ p: Plan, _ i: Int) -> ColumnInfo? {
        guard let (t, k) = origin(p, i) else { return nil }
        let a = stats?.table(t)
        let unique = (t.primaryKey == [k]) || t.indexes.contains { $0.unique && $0.columns == [k] && $0.predicate == nil }
        return ColumnInfo(stats: a?.columns[k], tableRows: a?.rows ?? Estimator.defaultRows, unique: unique)
    }

    // MARK: rows

    /// The estimated rows `p` yields.
    func rows(_ p: Plan) -> Double {
        max(rawRows(p), 0)
    }

    private func rawRows(_ p: Plan) -> Double {
        switch p {
        case .one: return 1
        case let .values(v): return Double(v.count)
        case let .scan(t, prefix):
            if t.viewSQL != nil { return Estimator.defaultRows }
            if prefix.isEmpty { return tableRows(t) }
            if prefix.count == t.primaryKey.count { return 1 }
            var r = tableRows(t)
            for k in t.primaryKey.prefix(prefix.count) { r /= info(p, k)?.distinct ?? 200 }
            return max(r, 1)
        case let .scanRange(t, _, _): return tableRows(t) * Estimator.defaultInequality
        case let .indexScan(t, idx, prefix), let .indexOnlyScan(t, idx, prefix):
            if idx.unique && prefix.count == idx.columns.count { return 1 }
            var r = tableRows(t)
            for k in idx.columns.prefix(prefix.count) { r /= info(p, k)?.distinct ?? 200 }
            return max(r, 1)
        case let .vectorSearch(v):
            if let l = v.limit, case let .const(.int(n)) = l { return Double(n) }
            return 10
        case let .filter(c, pred):
            // The scan under a pushed-down filter is the whole table: the filter holds every
            // condition the access path narrowed by.
            let base: Double
            switch c {
            case let .scan(t, _) where t.viewSQL == nil, let .scanRange(t, _, _), let .indexScan(t, _, _),
                 let .indexOnlyScan(t, _, _): base = tableRows(t)
            case let .lockRows(.scan(t, _), _, _, _): base = tableRows(t)
            default: base = rows(c)
            }
            return base * selectivity(pred) { self.info(c, $0) }
        case let .project(c, _), let .sort(c, _), let .trim(c, _), let .lockRows(c, _, _, _), let .window(c, _), let .expandSets(c, _):
            return rows(c)
        case let .limit(c, lim, off):
            var r = rows(c)
            if let off, case let .const(.int(o)) = off { r = max(r - Double(o), 0) }
            if let lim, case let .const(.int(n)) = lim { r = min(r, Double(n)) }
            return r
        case let .aggregate(c, groups, _):
            if groups.isEmpty { return 1 }
            let input = rows(c)
            var g = 1.0
            for e in groups { g *= Estimator.columnIndex(e).flatMap { info(c, $0)?.distinct } ?? 200 }
            return max(min(g, input), 1)
        case let .groupingSets(c, _, sets, _): return Double(sets.count) * max(rows(c) / 10, 1)
        case let .distinct(c): return max(rows(c) / 2, 1)
        case let .distinctOn(c, cols):
            var g = 1.0
            for i in cols { g *= info(c, i)?.distinct ?? 200 }
            return max(min(g, rows(c)), 1)
        case let .join(kind, l, r, on, lk, rk, lw, _):
            let lr = rows(l), rr = rows(r)
            var inner = lr * rr
            for (a, b) in zip(lk, rk) { inner *= keySelectivity(a, l, lr, b, r, rr) }
            if let on { inner *= selectivity(on) { $0 < lw ? self.info(l, $0) : self.info(r, $0 - lw) } }
            switch kind {
            case .inner, .cross: return inner
            case .left: return max(inner, lr)
            case .right: return max(inner, rr)
            case .full: return max(inner, lr + rr)
            }
        case let .lateral(kind, l, r, _, _):
            let n = rows(l) * rows(r)
            return kind == .left ? max(n, rows(l)) : n
        case let .setOp(op, _, l, r):
            switch op {
            case .union: return rows(l) + rows(r)
            case .intersect: return min(rows(l), rows(r))
            case .except: return rows(l)
            }
        case let .cte(box): return rows(box.plan)
        case let .recursive(base, _, _, _, _): return rows(base) * 10
        case let .series(a, b, step):
            if case let .const(.int(x)) = Estimator.stripCast(a), case let .const(.int(y)) = Estimator.stripCast(b) {
                var s: Int64 = 1
                if let step, case let .const(.int(z)) = Estimator.stripCast(step), z != 0 { s = z }
                return max(Double((y - x) / s + 1), 0)
            }
            return Estimator.defaultRows
        case .unnest: return 10
        }
    }

    static func stripCast(_ e: BExpr) -> BExpr {
        if case let .cast(x, _) = e { return stripCast(x) }
        return e
    }

    /// 1 / max(distinct(a), distinct(b)) for an equi-join key, each side's distinct values
    /// capped by its input's rows.
    func keySelectivity(_ a: BExpr, _ l: Plan, _ lr: Double, _ b: BExpr, _ r: Plan, _ rr: Double) -> Double {
        let da = min(Estimator.columnIndex(a).flatMap { info(l, $0)?.distinct } ?? 200, max(lr, 1))
        let db = min(Estimator.columnIndex(b).flatMap { info(r, $0)?.distinct } ?? 200, max(rr, 1))
        var nulls = 1.0
        if let i = Estimator.columnIndex(a), let s = info(l, i)?.stats { nulls *= 1 - s.nullFraction }
        if let i = Estimator.columnIndex(b), let s = info(r, i)?.stats { nulls *= 1 - s.nullFraction }
        return nulls / max(da, db, 1)
    }

    // MARK: selectivity

    /// The fraction of rows for which `e` is true; `col` describes the input's columns.
    func selectivity(_ e: BExpr, _ col: (Int) -> ColumnInfo?) -> Double {
        min(max(rawSelectivity(e, col), 0), 1)
    }

    private func constant(_ e: BExpr) -> Value? {
        switch e {
        case let .const(v): return v
        case let .cast(x, t):
            guard let v = constant(x) else { return nil }
            return try? castValue(v, to: t)
        case let .negate(x, _):
            guard let v = constant(x) else { return nil }
            switch v {
            case let .int(i): return .int(-i)
            case let .float(d): return .float(-d)
            default: return nil
            }
        default: return nil
        }
    }

    private func conjuncts(_ e: BExpr) -> [BExpr] {
        if case let .and(a, b) = e { return conjuncts(a) + conjuncts(b) }
        return [e]
    }

    private func rawSelectivity(_ e: BExpr, _ col: (Int) -> ColumnInfo?) -> Double {
        switch e {
        case let .const(v): return v == .bool(true) ? 1 : 0
        case .and:
            // Range pairs on one column (`a > x AND a < y`) combine as one interval; the rest
            // multiply as if independent.
            var s = 1.0
            var lower: [Int: Double] = [:], upper: [Int: Double] = [:]
            for c in conjuncts(e) {
                if let (i, op, v) = comparison(c), let info = col(i), ["<", "<=", ">", ">="].contains(op) {
                    let sel = rangeSelectivity(info, op, v)
                    if op.hasPrefix(">") { lower[i] = min(lower[i] ?? 1, sel) } else { upper[i] = min(upper[i] ?? 1, sel) }
                    continue
                }
                s *= selectivity(c, col)
            }
            for i in Set(lower.keys).union(upper.keys) {
                switch (lower[i], upper[i]) {
                case let (lo?, hi?):
                    let notNull = 1 - (col(i)?.stats?.nullFraction ?? 0)
                    s *= max(lo + hi - notNull, 1 / max(col(i)?.tableRows ?? Estimator.defaultRows, 1), Estimator.defaultEquality / 2)
                case let (lo?, nil): s *= lo
                case let (nil, hi?): s *= hi
                default: break
                }
            }
            return s
        case let .or(a, b):
            let x = selectivity(a, col), y = selectivity(b, col)
            return x + y - x * y
        case let .not(x): return 1 - selectivity(x, col)
        case let .isNull(x, negated):
            guard let i = Estimator.columnIndex(x), let info = col(i) else { return negated ? 0.995 : 0.005 }
            let f = info.stats?.nullFraction ?? 0.005
            return negated ? 1 - f : f
        case let .compare(op, a, b):
            if let (i, o, v) = comparison(e), let info = col(i) {
                switch o {
                case "=": return equalitySelectivity(info, v)
                case "<>", "!=": return 1 - equalitySelectivity(info, v) - (info.stats?.nullFraction ?? 0)
                default: return rangeSelectivity(info, o, v)
                }
            }
            // A column against a parameter or another column.
            let ia = Estimator.columnIndex(a).flatMap(col), ib = Estimator.columnIndex(b).flatMap(col)
            if op == "=" {
                let d = max(ia?.distinct ?? 0, ib?.distinct ?? 0)
                return d > 0 ? 1 / d : Estimator.defaultEquality
            }
            if op == "<>" || op == "!=" { return 1 - Estimator.defaultEquality }
            return Estimator.defaultInequality
        case let .inList(x, items, negated):
            var s = 0.0
            if let i = Estimator.columnIndex(x), let info = col(i) {
                for it in items { s += constant(it).map { equalitySelectivity(info, $0) } ?? 1 / info.distinct }
            } else {
                s = Double(items.count) * Estimator.defaultEquality
            }
            s = min(s, 1)
            return negated ? 1 - s : s
        case let .isBool(x, b, negated):
            var s = 0.5
            if let i = Estimator.columnIndex(x), let info = col(i) { s = equalitySelectivity(info, .bool(b)) }
            return negated ? 1 - s : s
        case .like(_, _, _, _, let negated): return negated ? 0.95 : 0.05
        case .column(let i):
            // A boolean column used as a condition.
            if let info = col(i) { return equalitySelectivity(info, .bool(true)) }
            return 0.5
        default: return Estimator.defaultInequality
        }
    }

    /// `column op constant` (the operator turned around for `constant op column`).
    private func comparison(_ e: BExpr) -> (Int, String, Value)? {
        guard case let .compare(op, a, b) = e else { return nil }
        if let i = Estimator.columnIndex(a), let v = constant(b), !v.isNull { return (i, op, v) }
        if let i = Estimator.columnIndex(b), let v = constant(a), !v.isNull {
            return (i, ["<": ">", "<=": ">=", ">": "<", ">=": "<="][op] ?? op, v)
        }
        return nil
    }

    func equalitySelectivity(_ info: ColumnInfo, _ v: Value) -> Double {
        guard let s = info.stats else {
            return info.unique ? 1 / max(info.tableRows, 1) : Estimator.defaultEquality
        }
        var mcvTotal = 0.0
        for (m, f) in s.mostCommon {
            if Value.compare(m, v) == 0 { return f }
            mcvTotal += f
        }
        let others = max(s.distinct - Double(s.mostCommon.count), 1)
        let rest = max(1 - s.nullFraction - mcvTotal, 0)
        // A value outside the histogram's range is rare (but keep it above zero).
        if let first = s.histogram.first, let last = s.histogram.last,
           Value.compare(v, first) < 0 || Value.compare(v, last) > 0 {
            return min(rest / others, 1 / max(info.tableRows, 1))
        }
        return rest / others
    }

    /// The fraction of rows with `column op v` for op among <, <=, >, >=.
    func rangeSelectivity(_ info: ColumnInfo, _ op: String, _ v: Value) -> Double {
        guard let s = info.stats else { return Estimator.defaultInequality }
        let below = op.hasPrefix("<")
        let inclusive = op.hasSuffix("=")
        var mcvMatch = 0.0, mcvTotal = 0.0
        for (m, f) in s.mostCommon {
            mcvTotal += f
            let c = Value.compare(m, v)
            if (below && (c < 0 || (inclusive && c == 0))) || (!below && (c > 0 || (inclusive && c == 0))) { mcvMatch += f }
        }
        let rest = max(1 - s.nullFraction - mcvTotal, 0)
        var frac = 0.5
        let h = s.histogram
        if h.count >= 2 {
            // The fraction of the histogram's values below v, interpolating inside the bucket
            // for numbers.
            if Value.compare(v, h[0]) < 0 {
                frac = 0
            } else if Value.compare(v, h[h.count - 1]) >= 0 {
                frac = 1
            } else {
                var lo = 0, hi = h.count - 1
                while hi - lo > 1 {
                    let mid = (lo + hi) / 2
                    if Value.compare(h[mid], v) <= 0 { lo = mid } else { hi = mid }
                }
                var within = 0.5
                if let a = Estimator.number(h[lo]), let b = Estimator.number(h[hi]), let x = Estimator.number(v), b > a {
                    within = min(max((x - a) / (b - a), 0), 1)
                }
                frac = (Double(lo) + within) / Double(h.count - 1)
            }
            if !below { frac = 1 - frac }
        } else if rest > 0 {
            frac = Estimator.defaultInequality
        }
        return mcvMatch + rest * frac
    }

    static func number(_ v: Value) -> Double? {
        switch v {
        case let .int(i): return Double(i)
        case let .float(d): return d
        case let .numeric(n): return n.doubleValue
        case let .date(d), let .timestamp(d), let .timestamptz(d), let .time(d): return Double(d)
        default: return nil
        }
    }
}
