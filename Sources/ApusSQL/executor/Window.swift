import ApusCore

/// The window operator: for each call, sorts the rows by (partition, order), walks each
/// partition, and computes the call's value for every row; then appends the values to the rows
/// in reverse call order (see `WindowContext` in the binder).
extension Executor {
    func window(_ rows: [[Value]], _ calls: [WindowCall]) throws -> [[Value]] {
        var results: [[Value]] = []
        for call in calls { results.append(try windowValues(rows, call)) }
        var out: [[Value]] = []
        out.reserveCapacity(rows.count)
        for (r, row) in rows.enumerated() {
            var x = row
            for c in results.indices.reversed() { x.append(results[c][r]) }
            out.append(x)
        }
        return out
    }

    static func compareKeys(_ a: [Value], _ b: [Value], _ keys: [SortKey]?) -> Int {
        for i in a.indices {
            let x = a[i], y = b[i]
            let k = keys?[i]
            if x.isNull || y.isNull {
                if x.isNull && y.isNull { continue }
                let nullsFirst = k?.nullsFirst ?? false
                return (x.isNull == nullsFirst) ? -1 : 1
            }
            let c = Value.compare(x, y)
            if c != 0 { return (k?.descending ?? false) ? -c : c }
        }
        return 0
    }

    func windowValues(_ rows: [[Value]], _ call: WindowCall) throws -> [Value] {
        let n = rows.count
        var pkeys: [[Value]] = []
        var okeys: [[Value]] = []
        pkeys.reserveCapacity(n)
        okeys.reserveCapacity(n)
        for r in rows {
            pkeys.append(try call.partition.map { try eval($0, r) })
            okeys.append(try call.order.map { try eval($0.0, r) })
        }
        let sortKeys = call.order.map(\.1)
        let idx = (0..<n).sorted { a, b in
            let p = Executor.compareKeys(pkeys[a], pkeys[b], nil)
            if p != 0 { return p < 0 }
            let o = Executor.compareKeys(okeys[a], okeys[b], sortKeys)
            if o != 0 { return o < 0 }
            return a < b
        }
        var out = [Value](repeating: .null, count: n)
        var start = 0
        while start < n {
            var end = start + 1
            while end < n && Executor.compareKeys(pkeys[idx[start]], pkeys[idx[end]], nil) == 0 { end += 1 }
            let part = Array(idx[start..<end])
            let values = try partitionValues(rows, part, okeys, sortKeys, call)
            for (j, r) in part.enumerated() { out[r] = values[j] }
            start = end
        }
        return out
    }

    func offsetValue(_ e: BExpr) throws -> Int {
        let v = try eval(e, [])
        guard case let .int(k) = v else { throw SQLError(SQLState("22004"), "frame starting or ending offset must not be null") }
        guard k >= 0 else { throw SQLError(SQLState("22013"), "frame starting or ending offset must not be negative") }
        return Int(clamping: k)
    }

    /// The values of `call` for the rows `part` (row indices in window order).
    func partitionValues(_ rows: [[Value]], _ part: [Int], _ okeys: [[Value]], _ sortKeys: [SortKey], _ call: WindowCall)
        throws -> [Value]
    {
        let m = part.count
        // Peer groups: rows with equal ORDER BY keys (all rows when there is no ORDER BY).
        var peerStart = [Int](repeating: 0, count: m)
        var peerEnd = [Int](repeating: m, count: m)
        var groupNumber = [Int](repeating: 0, count: m)
        if !call.order.isEmpty {
            var s = 0
            var g = 0
            while s < m {
                var e = s + 1
                while e < m && Executor.compareKeys(okeys[part[s]], okeys[part[e]], sortKeys) == 0 { e += 1 }
                for j in s..<e {
                    peerStart[j] = s
                    peerEnd[j] = e
                    groupNumber[j] = g
                }
                g += 1
                s = e
            }
        }
        func frame(_ j: Int) throws -> Range<Int> {
            let f = call.frame
            var lo: Int
            var hi: Int
            switch f.start {
            case .unboundedPreceding: lo = 0
            case let .preceding(e): lo = j - (try offsetValue(e))
            case .currentRow: lo = f.rows ? j : peerStart[j]
            case let .following(e): lo = j + (try offsetValue(e))
            case .unboundedFollowing: lo = m
            }
            switch f.end {
            case .unboundedFollowing: hi = m
            case let .following(e): hi = j + (try offsetValue(e)) + 1
            case .currentRow: hi = f.rows ? j + 1 : peerEnd[j]
            case let .preceding(e): hi = j - (try offsetValue(e)) + 1
            case .unboundedPreceding: hi = 0
            }
            lo = max(0, min(lo, m))
            hi = max(lo, min(hi, m))
            return lo..<hi
        }
        var out: [Value] = []
        out.reserveCapacity(m)
        if let a = call.agg {
            // Frames that start at the partition's first row grow monotonically: aggregate
            // incrementally. Others are recomputed per row.
            var incremental = false
            if case .unboundedPreceding = call.frame.start { incremental = true }
            var state = AggState()
            var added = 0
            for j in 0..<m {
                try checkInterrupt()
                let fr = try frame(j)
                if !incremental || fr.upperBound < added {
                    state = AggState()
                    added = fr.lowerBound
                }
                while added < fr.upperBound {
                    try accumulate(&state, a, rows[part[added]])
                    added += 1
                }
                out.append(try finish(state, a))
            }
            return out
        }
        for j in 0..<m {
            let row = rows[part[j]]
            switch call.name {
            case "row_number": out.append(.int(Int64(j + 1)))
            case "rank": out.append(.int(Int64(peerStart[j] + 1)))
            case "dense_rank": out.append(.int(Int64(groupNumber[j] + 1)))
            case "percent_rank": out.append(.float(m > 1 ? Double(peerStart[j]) / Double(m - 1) : 0))
            case "cume_dist": out.append(.float(Double(peerEnd[j]) / Double(m)))
            case "ntile":
                guard case let .int(k) = try eval(call.args[0], row) else { out.append(.null); continue }
                guard k > 0 else { throw SQLError(SQLState("22014"), "argument of ntile must be greater than zero") }
                let buckets = Int(min(k, Int64(m)))
                let size = m / buckets, extra = m % buckets
                // The first `extra` buckets hold size + 1 rows.
                let bigRows = extra * (size + 1)
                let bucket = j < bigRows ? j / (size + 1) : extra + (j - bigRows) / max(size, 1)
                out.append(.int(Int64(bucket + 1)))
            case "lag", "lead":
                let off = try eval(call.args[1], row)
                guard case let .int(k) = off else { out.append(.null); continue }
                let target = call.name == "lag" ? j - Int(clamping: k) : j + Int(clamping: k)
                if target >= 0 && target < m {
                    out.append(try eval(call.args[0], rows[part[target]]))
                } else {
                    out.append(call.args.count > 2 ? try eval(call.args[2], row) : .null)
                }
            case "first_value", "last_value":
                let fr = try frame(j)
                if fr.isEmpty { out.append(.null); continue }
                let at = call.name == "first_value" ? fr.lowerBound : fr.upperBound - 1
                out.append(try eval(call.args[0], rows[part[at]]))
            default: // nth_value
                let fr = try frame(j)
                guard case let .int(k) = try eval(call.args[1], row) else { out.append(.null); continue }
                guard k > 0 else { throw SQLError(SQLState("22016"), "argument of nth_value must be greater than zero") }
                let at = fr.lowerBound + Int(clamping: k) - 1
                out.append(at < fr.upperBound ? try eval(call.args[0], rows[part[at]]) : .null)
            }
        }
        return out
    }

    /// Feeds one input row to an aggregate's state (FILTER, `*`, NULLs, DISTINCT, ORDER BY).
    func accumulate(_ s: inout AggState, _ a: AggCall, _ r: [Value]) throws {
        if let f = a.filter, try eval(f, r) != .bool(true) { return }
        if a.star { s.count += 1; return }
        let v = try eval(a.args[0], r)
        if v.isNull { return }
        if a.distinct && !s.seen.insert(v.groupKey).inserted { return }
        if !a.order.isEmpty {
            s.pending.append((try a.order.map { try eval($0.0, r) }, v, r))
            return
        }
        try step(&s, a, v, r)
    }
}
