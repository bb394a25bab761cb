import ApusCore

/// Window calls found while binding one SELECT's target list and ORDER BY.
///
/// A call binds to `.windowColumn(i)`: the executor's window operator appends the values of
/// the calls to each input row in reverse order, so call `i` sits at `row.count - 1 - i` no
/// matter how many calls or input columns there are (the number of aggregates of an aggregating
/// SELECT is only known once its whole target list is bound).
final class WindowContext {
    var calls: [WindowCall] = []
    let named: [String: WindowSpec]
    init(named: [String: WindowSpec]) { self.named = named }
}

extension Binder {
    static let rankingWindowFunctions: Set<String> = [
        "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value",
        "last_value", "nth_value",
    ]

    func containsWindow(_ e: Expr) -> Bool {
        var found = false
        walk(e) { x in if case let .function(f) = x.kind, f.over != nil { found = true } }
        return found
    }

    /// The effective specification of `OVER ...`, with a named window's parts filled in.
    func resolveWindow(_ over: WindowSpec, _ ctx: WindowContext, _ pos: Int) throws -> WindowSpec {
        guard let name = over.name else { return over }
        guard let base = ctx.named[name] else {
            throw SQLError(SQLState("42704"), "window \"\(name)\" does not exist", position: pos)
        }
        let resolvedBase = try resolveWindow(base, ctx, pos)
        if over.isReference { return resolvedBase }
        if !over.partitionBy.isEmpty {
            throw SQLError(SQLState("42P20"), "cannot override PARTITION BY clause of window \"\(name)\"", position: pos)
        }
        if !over.orderBy.isEmpty && !resolvedBase.orderBy.isEmpty {
            throw SQLError(SQLState("42P20"), "cannot override ORDER BY clause of window \"\(name)\"", position: pos)
        }
        if resolvedBase.frame != nil {
            throw SQLError(SQLState("42P20"), "cannot copy window \"\(name)\" because it has a frame clause", position: pos)
        }
        return WindowSpec(
            partitionBy: resolvedBase.partitionBy, orderBy: over.orderBy.isEmpty ? resolvedBase.orderBy : over.orderBy,
            frame: over.frame)
    }

    func bindFrameBound(_ b: FrameBound) throws -> WindowBound {
        func offset(_ e: Expr) throws -> BExpr {
            if containsSubquery(e) || !refsNothing(e) {
                throw SQLError(SQLState("42P10"), "argument of ROWS must not contain variables")
            }
            let (x, t) = try bindExpr(e, Frame(columns: [], outer: nil), agg: nil)
            guard t.isInteger || t == .unknown || t == .null else {
                throw SQLError(.datatypeMismatch, "argument of ROWS must be type bigint, not type \(t)")
            }
            return coerce(x, t, to: .int8)
        }
        switch b {
        case .unboundedPreceding: return .unboundedPreceding
        case .unboundedFollowing: return .unboundedFollowing
        case .currentRow: return .currentRow
        case let .preceding(e): return .preceding(try offset(e))
        case let .following(e): return .following(try offset(e))
        }
    }

    /// Whether `e` binds without any columns (a constant offset).
    func refsNothing(_ e: Expr) -> Bool {
        let saved = marks
        marks = []
        defer { marks = saved }
        return (try? bindExpr(e, Frame(columns: [], outer: nil), agg: nil)) != nil
    }

    func bindWindowCall(_ call: FunctionCall, _ over: WindowSpec, _ frame: Frame, _ agg: AggContext?, _ pos: Int)
        throws -> (BExpr, SQLType)
    {
        guard let ctx = windowContext else {
            throw SQLError(SQLState("42P20"), "window functions are not allowed here", position: pos)
        }
        let name = call.name.name
        let spec = try resolveWindow(over, ctx, pos)
        // Nested window calls are refused: their arguments bind without the context.
        windowContext = nil
        defer { windowContext = ctx }
        var partition: [BExpr] = []
        for e in spec.partitionBy { partition.append(try bindExpr(e, frame, agg: agg).0) }
        var order: [(BExpr, SortKey)] = []
        for item in spec.orderBy { order.append((try bindExpr(item.expr, frame, agg: agg).0, sortKey(item, 0))) }
        var bounds = WindowFrameSpec.defaultFrame
        if let f = spec.frame {
            if f.unit == .groups { throw SQLError.unsupported("GROUPS window frames") }
            if let ex = f.exclusion, ex != .noOthers { throw SQLError.unsupported("EXCLUDE in window frames") }
            let start = try bindFrameBound(f.start)
            let end = try f.end.map(bindFrameBound) ?? .currentRow
            if case .unboundedFollowing = start {
                throw SQLError(SQLState("42P20"), "frame start cannot be UNBOUNDED FOLLOWING", position: pos)
            }
            if case .unboundedPreceding = end {
                throw SQLError(SQLState("42P20"), "frame end cannot be UNBOUNDED PRECEDING", position: pos)
            }
            if f.unit == .range {
                for b in [start, end] {
                    if case .preceding = b { throw SQLError.unsupported("RANGE with offset PRECEDING/FOLLOWING") }
                    if case .following = b { throw SQLError.unsupported("RANGE with offset PRECEDING/FOLLOWING") }
                }
            }
            bounds = WindowFrameSpec(rows: f.unit == .rows, start: start, end: end)
        }
        var wc = WindowCall(name: name, args: [], agg: nil, partition: partition, order: order, frame: bounds, type: .int8)
        if aggregateNames.contains(name) {
            // Bind the aggregate as for GROUP BY, in a one-off context over this frame; its
            // arguments may themselves hold the query's aggregates (`sum(sum(x)) OVER ()`).
            let tmp = AggContext(groupExprs: [], inputFrame: frame, groupFrame: frame)
            tmp.argAgg = agg
            var plain = call
            plain.over = nil
            let (_, t) = try bindFunction(plain, frame, tmp, pos)
            guard let a = tmp.aggs.first else { throw SQLError(.internalError, "window aggregate not bound") }
            wc.agg = a
            wc.type = t
        } else {
            guard Binder.rankingWindowFunctions.contains(name) else {
                throw SQLError(
                    SQLState("42809"), "OVER specified, but \(name) is not a window function nor an aggregate function",
                    position: pos)
            }
            if call.isDistinct || call.isStar || call.filter != nil || !call.orderBy.isEmpty {
                throw SQLError(.syntaxError, "\(name) does not accept DISTINCT, *, FILTER or ORDER BY", position: pos)
            }
            var args: [(BExpr, SQLType)] = []
            for a in call.arguments { args.append(try bindExpr(a.value, frame, agg: agg)) }
            func arity(_ r: ClosedRange<Int>) throws {
                guard r.contains(args.count) else {
                    throw SQLError(.undefinedFunction, "function \(name) with \(args.count) arguments does not exist", position: pos)
                }
            }
            switch name {
            case "row_number", "rank", "dense_rank":
                try arity(0...0)
                wc.type = .int8
            case "percent_rank", "cume_dist":
                try arity(0...0)
                wc.type = .float8
            case "ntile":
                try arity(1...1)
                wc.args = [coerce(args[0].0, args[0].1, to: .int4)]
                wc.type = .int4
            case "lag", "lead":
                try arity(1...3)
                var t = args[0].1
                if t == .unknown && args.count == 3 && args[2].1 != .unknown { t = args[2].1 }
                if t == .unknown { t = .text }
                wc.args = [coerce(args[0].0, args[0].1, to: t)]
                wc.args.append(args.count > 1 ? coerce(args[1].0, args[1].1, to: .int8) : .const(.int(1)))
                if args.count > 2 { wc.args.append(coerce(args[2].0, args[2].1, to: t)) }
                wc.type = t
            case "first_value", "last_value":
                try arity(1...1)
                wc.args = [args[0].0]
                wc.type = args[0].1 == .unknown ? .text : args[0].1
            default: // nth_value
                try arity(2...2)
                wc.args = [args[0].0, coerce(args[1].0, args[1].1, to: .int8)]
                wc.type = args[0].1 == .unknown ? .text : args[0].1
            }
        }
        ctx.calls.append(wc)
        return (.windowColumn(ctx.calls.count - 1), wc.type)
    }
}
