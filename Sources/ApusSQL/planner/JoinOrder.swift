import ApusCore

extension BExpr {
    /// The expression with every column reference `i` replaced by `f(i)`; nil when it holds a
    /// subquery (whose correlated references would name the old row layout) or a window value.
    func mapColumns(_ f: (Int) -> Int) -> BExpr? {
        func m(_ x: BExpr) -> BExpr? { x.mapColumns(f) }
        func ms(_ xs: [BExpr]) -> [BExpr]? {
            var out: [BExpr] = []
            for x in xs { guard let y = m(x) else { return nil }; out.append(y) }
            return out
        }
        switch self {
        case .const, .outer, .param: return self
        case let .column(i): return .column(f(i))
        case let .cast(x, t): return m(x).map { .cast($0, t) }
        case let .arith(op, a, b, t): guard let x = m(a), let y = m(b) else { return nil }; return .arith(op, x, y, t)
        case let .negate(x, t): return m(x).map { .negate($0, t) }
        case let .compare(op, a, b): guard let x = m(a), let y = m(b) else { return nil }; return .compare(op, x, y)
        case let .and(a, b): guard let x = m(a), let y = m(b) else { return nil }; return .and(x, y)
        case let .or(a, b): guard let x = m(a), let y = m(b) else { return nil }; return .or(x, y)
        case let .not(x): return m(x).map { .not($0) }
        case let .isNull(x, n): return m(x).map { .isNull($0, negated: n) }
        case let .isBool(x, b, n): return m(x).map { .isBool($0, b, negated: n) }
        case let .isDistinct(a, b, n): guard let x = m(a), let y = m(b) else { return nil }; return .isDistinct(x, y, negated: n)
        case let .inList(x, items, n): guard let y = m(x), let z = ms(items) else { return nil }; return .inList(y, z, negated: n)
        case let .like(a, b, esc, ci, n):
            guard let x = m(a), let y = m(b) else { return nil }
            var e: BExpr?
            if let esc { guard let z = m(esc) else { return nil }; e = z }
            return .like(x, y, escape: e, caseInsensitive: ci, negated: n)
        case let .caseWhen(operand, whens, otherwise):
            var op: BExpr?
            if let operand { guard let x = m(operand) else { return nil }; op = x }
            var ws: [(BExpr, BExpr)] = []
            for (w, t) in whens { guard let x = m(w), let y = m(t) else { return nil }; ws.append((x, y)) }
            var o: BExpr?
            if let otherwise { guard let x = m(otherwise) else { return nil }; o = x }
            return .caseWhen(operand: op, whens: ws, otherwise: o)
        case let .coalesce(xs): return ms(xs).map { .coalesce($0) }
        case let .nullIf(a, b): guard let x = m(a), let y = m(b) else { return nil }; return .nullIf(x, y)
        case let .extreme(xs, g): return ms(xs).map { .extreme($0, greatest: g) }
        case let .concat(a, b): guard let x = m(a), let y = m(b) else { return nil }; return .concat(x, y)
        case let .function(name, args, t): return ms(args).map { .function(name, $0, t) }
        case let .dateArith(op, a, b, t): guard let x = m(a), let y = m(b) else { return nil }; return .dateArith(op, x, y, t)
        case .scalarSubquery, .exists, .inSubquery, .quantified, .windowColumn: return nil
        }
    }

    /// The columns the expression reads (nil when `mapColumns` would fail).
    var columnsRead: Set<Int>? {
        var out = Set<Int>()
        guard mapColumns({ out.insert($0); return $0 }) != nil else { return nil }
        return out
    }
}

/// Cost-based order of inner joins. A maximal tree of inner joins (explicit INNER/CROSS JOIN
/// or comma items) is flattened into its inputs, equi-join keys and other conditions; dynamic
/// programming over subsets of inputs (at most `limit`, and 10) picks the tree with the least
/// total of estimated intermediate rows, joining only connected inputs while any are, and
/// puts the smaller input of each hash join on the build (right) side. Outer joins are kept
/// where written (their inputs are ordered inside). The result keeps the written column order
/// (a projection restores it when the inputs moved). The written order stays unless the best
/// plan is estimated clearly cheaper.
struct JoinOrder {
    let estimator: Estimator
    let limit: Int

    /// An inner-join group's input: its plan and where its columns start in the written layout.
    struct Leaf {
        var plan: Plan
        var width: Int
        var offset: Int
        var rows: Double
    }

    /// The written join tree, by leaf index.
    indirect enum Shape {
        case leaf(Int)
        case join(Shape, Shape)
    }

    /// An equi-join key pair or another condition, in the written layout's columns.
    struct Condition {
        var left: BExpr
        var right: BExpr?  // non-nil: an equi-join key `left = right`
        var leftLeaves: UInt32
        var rightLeaves: UInt32
        var leaves: UInt32 { leftLeaves | rightLeaves }
    }

    func optimize(_ p: Plan) -> Plan {
        // A filter over an inner join (WHERE over explicit JOINs) joins the group's conditions,
        // so that its parts filter the inputs they need.
        if case let .filter(j, pred) = p, case let .join(kind, _, _, _, _, _, _, _) = j, kind == .inner || kind == .cross,
           pred.columnsRead != nil {
            return optimize(j, extra: JoinOrder.conjuncts(pred))
        }
        return optimize(p, extra: [])
    }

    private func optimize(_ p: Plan, extra: [BExpr]) -> Plan {
        func keep(_ q: Plan) -> Plan {
            extra.isEmpty ? q : .filter(q, extra.dropFirst().reduce(extra[0]) { BExpr.and($0, $1) })
        }
        guard case let .join(kind, l, r, on, lk, rk, lw, rw) = p else { return keep(p) }
        if kind != .inner && kind != .cross {
            return .join(kind, optimize(l), optimize(r), on: on, leftKeys: lk, rightKeys: rk, leftWidth: lw, rightWidth: rw)
        }
        var leaves: [Leaf] = []
        var raw: [(BExpr, BExpr?)] = []
        guard let shape = flatten(p, width: lw + rw, offset: 0, &leaves, &raw) else { return keep(p) }
        raw += extra.map { ($0, nil) }
        if leaves.count < 2 || leaves.count > min(limit, 10) || limit <= 1 {
            return keep(rebuildKeepingOrder(p))
        }
        for i in leaves.indices {
            leaves[i].plan = optimize(leaves[i].plan)
            leaves[i].rows = max(estimator.rows(leaves[i].plan), 1)
        }
        func leafOf(_ column: Int) -> Int { leaves.lastIndex { $0.offset <= column } ?? 0 }
        func mask(_ e: BExpr) -> UInt32? {
            guard let cols = e.columnsRead else { return nil }
            return cols.reduce(0) { $0 | (1 << UInt32(leafOf($1))) }
        }
        var conditions: [Condition] = []
        for (a, b) in raw {
            guard let ma = mask(a) else { return keep(p) }
            if let b {
                guard let mb = mask(b) else { return keep(p) }
                conditions.append(Condition(left: a, right: b, leftLeaves: ma, rightLeaves: mb))
            } else {
                conditions.append(Condition(left: a, right: nil, leftLeaves: ma, rightLeaves: 0))
            }
        }
        let n = leaves.count
        let full: UInt32 = (1 << UInt32(n)) - 1
        // Estimated rows of every subset: the product of its inputs' rows and of the
        // selectivities of the conditions inside it.
        var rows = [Double](repeating: 1, count: Int(full) + 1)
        var selectivities: [Double] = conditions.map { c in
            if let b = c.right {
                let (la, ia) = local(c.left, leaves, leafOf), (lb, ib) = local(b, leaves, leafOf)
                if c.leftLeaves.nonzeroBitCount == 1, c.rightLeaves.nonzeroBitCount == 1 {
                    return estimator.keySelectivity(ia, leaves[la].plan, leaves[la].rows, ib, leaves[lb].plan, leaves[lb].rows)
                }
            }
            let e = c.right.map { BExpr.compare("=", c.left, $0) } ?? c.left
            return estimator.selectivity(e) { col in
                let k = leafOf(col)
                return self.estimator.info(leaves[k].plan, col - leaves[k].offset)
            }
        }
        for i in selectivities.indices where conditions[i].leaves.nonzeroBitCount <= 1 { selectivities[i] = 1 }
        for s in 1...full {
            var r = 1.0
            for i in 0..<n where s & (1 << UInt32(i)) != 0 { r *= leaves[i].rows }
            for (i, c) in conditions.enumerated() where c.leaves & s == c.leaves && c.leaves.nonzeroBitCount > 1 { r *= selectivities[i] }
            rows[Int(s)] = max(r, 1)
        }
        func connected(_ a: UInt32, _ b: UInt32) -> Bool {
            conditions.contains { c in
                let s = a | b
                return c.leaves & s == c.leaves && c.leaves & a != 0 && c.leaves & b != 0
            }
        }
        func hasKeys(_ a: UInt32, _ b: UInt32) -> Bool {
            conditions.contains { c in
                c.right != nil && c.leftLeaves != 0 && c.rightLeaves != 0
                    && ((c.leftLeaves & a == c.leftLeaves && c.rightLeaves & b == c.rightLeaves)
                        || (c.leftLeaves & b == c.leftLeaves && c.rightLeaves & a == c.rightLeaves))
            }
        }
        /// The cost of joining `a` (probe) and `b` (build) into `a | b`.
        func joinCost(_ a: UInt32, _ b: UInt32) -> Double {
            let out = rows[Int(a | b)]
            if hasKeys(a, b) { return rows[Int(a)] + 2 * rows[Int(b)] + out }
            return rows[Int(a)] * rows[Int(b)] + out
        }
        var best = [Double](repeating: .infinity, count: Int(full) + 1)
        var split = [(UInt32, UInt32)](repeating: (0, 0), count: Int(full) + 1)
        for i in 0..<n { best[1 << i] = 0 }
        for s in 1...full where s.nonzeroBitCount >= 2 {
            for crossAllowed in [false, true] {
                var a = (s - 1) & s
                while a > 0 {
                    let b = s ^ a
                    if best[Int(a)].isFinite, best[Int(b)].isFinite, crossAllowed || connected(a, b) {
                        // The smaller side builds.
                        let (probe, build) = rows[Int(a)] >= rows[Int(b)] ? (a, b) : (b, a)
                        let c = best[Int(a)] + best[Int(b)] + joinCost(probe, build)
                        if c < best[Int(s)] { best[Int(s)] = c; split[Int(s)] = (probe, build) }
                    }
                    a = (a - 1) & s
                }
                if best[Int(s)].isFinite { break }
            }
        }
        func writtenCost(_ sh: Shape) -> (UInt32, Double) {
            switch sh {
            case let .leaf(i): return (1 << UInt32(i), 0)
            case let .join(x, y):
                let (a, ca) = writtenCost(x), (b, cb) = writtenCost(y)
                return (a | b, ca + cb + joinCost(a, b))
            }
        }
        let written = writtenCost(shape).1
        guard best[Int(full)] < written * 0.8 else {
            // The written order stays; conditions of a filter above still move to the inputs.
            if extra.isEmpty { return rebuildKeepingOrder(p) }
            return assemble(shape, leaves, conditions, leafOf, totalWidth: lw + rw)
        }
        func build(_ s: UInt32) -> Shape {
            if s.nonzeroBitCount == 1 { return .leaf(s.trailingZeroBitCount) }
            let (a, b) = split[Int(s)]
            return .join(build(a), build(b))
        }
        return assemble(build(full), leaves, conditions, leafOf, totalWidth: lw + rw)
    }

    /// The leaf holding an expression's columns and the expression in that leaf's columns.
    private func local(_ e: BExpr, _ leaves: [Leaf], _ leafOf: (Int) -> Int) -> (Int, BExpr) {
        let cols = e.columnsRead ?? []
        let k = cols.first.map(leafOf) ?? 0
        return (k, e.mapColumns { $0 - leaves[k].offset } ?? e)
    }

    /// Keeps the written tree, ordering the inputs of outer joins below it.
    private func rebuildKeepingOrder(_ p: Plan) -> Plan {
        guard case let .join(kind, l, r, on, lk, rk, lw, rw) = p else { return p }
        let inner = kind == .inner || kind == .cross
        return .join(kind, inner ? rebuildKeepingOrder(l) : optimize(l), inner ? rebuildKeepingOrder(r) : optimize(r),
                     on: on, leftKeys: lk, rightKeys: rk, leftWidth: lw, rightWidth: rw)
    }

    /// Collects the inputs and conditions of an inner-join tree; nil when a condition cannot be
    /// moved (it holds a subquery).
    private func flatten(_ p: Plan, width: Int, offset: Int, _ leaves: inout [Leaf], _ conds: inout [(BExpr, BExpr?)]) -> Shape? {
        if case let .join(kind, l, r, on, lk, rk, lw, rw) = p, kind == .inner || kind == .cross {
            var mine: [(BExpr, BExpr?)] = []
            for (a, b) in zip(lk, rk) {
                guard let x = a.mapColumns({ $0 + offset }), let y = b.mapColumns({ $0 + offset + lw }) else { return nil }
                mine.append((x, y))
            }
            if let on {
                guard let x = on.mapColumns({ $0 + offset }) else { return nil }
                mine += JoinOrder.conjuncts(x).map { ($0, nil) }
            }
            guard let ls = flatten(l, width: lw, offset: offset, &leaves, &conds),
                  let rs = flatten(r, width: rw, offset: offset + lw, &leaves, &conds) else { return nil }
            conds += mine
            return .join(ls, rs)
        }
        leaves.append(Leaf(plan: p, width: width, offset: offset, rows: 1))
        return .leaf(leaves.count - 1)
    }

    static func conjuncts(_ e: BExpr) -> [BExpr] {
        if case let .and(a, b) = e { return conjuncts(a) + conjuncts(b) }
        return [e]
    }

    /// Builds the plan of a join tree over the leaves: each condition at the lowest join that
    /// has all its columns (keys between the two sides as hash keys, the rest in ON; a
    /// condition on one input filters that input), then a projection back to the written
    /// column order when the inputs moved.
    private func assemble(_ shape: Shape, _ leaves: [Leaf], _ conditions: [Condition], _ leafOf: (Int) -> Int,
                          totalWidth: Int) -> Plan {
        var used = [Bool](repeating: false, count: conditions.count)
        // Conditions on one input filter it.
        var leafPlans = leaves.map(\.plan)
        for (i, c) in conditions.enumerated() where c.leaves.nonzeroBitCount == 1 {
            let k = c.leaves.trailingZeroBitCount
            let e = c.right.map { BExpr.compare("=", c.left, $0) } ?? c.left
            if let x = e.mapColumns({ $0 - leaves[k].offset }) {
                leafPlans[k] = .filter(leafPlans[k], x)
                used[i] = true
            }
        }
        // Returns the plan, its leaves in column order and its mask.
        func build(_ sh: Shape, root: Bool) -> (Plan, [Int], UInt32) {
            switch sh {
            case let .leaf(i): return (leafPlans[i], [i], 1 << UInt32(i))
            case let .join(x, y):
                let (lp, ll, lm) = build(x, root: false), (rp, rl, rm) = build(y, root: false)
                let layout = ll + rl
                var pos: [Int: Int] = [:]
                var at = 0
                for k in layout {
                    for j in 0..<leaves[k].width { pos[leaves[k].offset + j] = at + j }
                    at += leaves[k].width
                }
                let lw = ll.reduce(0) { $0 + leaves[$1].width }
                let m = lm | rm
                var lk: [BExpr] = [], rk: [BExpr] = [], on: [BExpr] = []
                for (i, c) in conditions.enumerated() where !used[i] {
                    let inside = c.leaves & m == c.leaves && (c.leaves != 0 || root)
                    guard inside, root || c.leaves & lm != c.leaves, root || c.leaves & rm != c.leaves else { continue }
                    used[i] = true
                    if let b = c.right, c.leftLeaves != 0, c.rightLeaves != 0 {
                        if c.leftLeaves & lm == c.leftLeaves && c.rightLeaves & rm == c.rightLeaves,
                           let x = c.left.mapColumns({ pos[$0]! }), let y = b.mapColumns({ pos[$0]! - lw }) {
                            lk.append(x); rk.append(y); continue
                        }
                        if c.leftLeaves & rm == c.leftLeaves && c.rightLeaves & lm == c.rightLeaves,
                           let x = b.mapColumns({ pos[$0]! }), let y = c.left.mapColumns({ pos[$0]! - lw }) {
                            lk.append(x); rk.append(y); continue
                        }
                    }
                    let e = c.right.map { BExpr.compare("=", c.left, $0) } ?? c.left
                    if let x = e.mapColumns({ pos[$0]! }) { on.append(x) }
                }
                let cond = on.isEmpty ? nil : on.dropFirst().reduce(on[0]) { BExpr.and($0, $1) }
                return (.join(.inner, lp, rp, on: cond, leftKeys: lk, rightKeys: rk, leftWidth: lw, rightWidth: at - lw), layout, m)
            }
        }
        let (plan, layout, _) = build(shape, root: true)
        if layout == Array(leaves.indices) { return plan }
        var pos: [Int: Int] = [:]
        var at = 0
        for k in layout {
            for j in 0..<leaves[k].width { pos[leaves[k].offset + j] = at + j }
            at += leaves[k].width
        }
        return .project(plan, (0..<totalWidth).map { .column(pos[$0]!) })
    }
}
