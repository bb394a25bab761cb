import ApusCore

/// Subqueries that would run once per row, run once instead where that gives the same answer.
///
/// A correlated `EXISTS (SELECT ... FROM b WHERE b.k = outer.c AND <conditions on b only>
/// [LIMIT n])` (also under NOT) whose correlation is only such equalities, found in the
/// filter of a subquery that reads one table without an index on `k` (with one, the planner
/// looks the key up per row, which is cheap), is a semi-join: the subquery's rows without the
/// correlated equalities are read once per statement and their key values hashed; each outer
/// row then checks its values in the set (a NULL on either side matches nothing, as `=`
/// does). Before, the subquery scanned `b` once per outer row.
///
/// An uncorrelated `x [NOT] IN (subquery)` hashes the subquery's values once instead of
/// comparing `x` with each of them per row; NULL among them keeps SQL's three-valued result.
///
/// Keys are hashed by `groupKey` (integers, text and the other types whose equal values have
/// one grouping key); a float key, whose NaN equals itself under `=` but not under hashing,
/// takes the per-row path.
struct Decorrelation {
    /// The subquery's rows without the correlated equalities: the inner key columns.
    let keyPlan: Plan
    /// The outer row's columns the inner keys are compared with, in key order.
    let outerColumns: [Int]

    /// The decorrelation of `plan` (an EXISTS subquery's plan), nil when it does not fit.
    static func of(_ plan: Plan) -> Decorrelation? {
        var p = plan
        while true {
            switch p {
            case let .project(x, _), let .trim(x, _):
                p = x
                continue
            case let .limit(x, .const(.int(n))?, nil) where n >= 1:
                p = x
                continue
            default: break
            }
            break
        }
        // The correlated conditions stay above the filter pushed into the scan: gather both.
        var conjuncts: [BExpr] = []
        while case let .filter(x, pred) = p {
            conjuncts += pred.conjuncts
            p = x
        }
        let input = p
        if conjuncts.isEmpty { return nil }
        switch input {
        case let .scan(_, prefix) where prefix.allSatisfy({ !$0.refersOuter }): break
        case let .indexScan(_, _, prefix) where prefix.allSatisfy({ !$0.refersOuter }): break
        case let .scanRange(_, lower, upper) where lower?.0.refersOuter != true && upper?.0.refersOuter != true: break
        default: return nil
        }
        var inner: [Int] = [], outer: [Int] = []
        var rest: [BExpr] = []
        for c in conjuncts {
            switch c {
            case let .compare("=", .column(i), .outer(1, j)), let .compare("=", .outer(1, j), .column(i)):
                inner.append(i)
                outer.append(j)
            default:
                if c.refersOuter || c.columnsRead == nil || c.callsAny(Executor.volatileFunctions) { return nil }
                rest.append(c)
            }
        }
        if inner.isEmpty { return nil }
        let filtered = rest.isEmpty ? input : .filter(input, rest.dropFirst().reduce(rest[0]) { .and($0, $1) })
        return Decorrelation(keyPlan: .project(filtered, inner.map { .column($0) }), outerColumns: outer)
    }
}

extension BExpr {
    /// The expression's AND-ed parts.
    var conjuncts: [BExpr] {
        if case let .and(a, b) = self { return a.conjuncts + b.conjuncts }
        return [self]
    }

    /// Whether the expression reads an enclosing query's row (or holds a subquery or window
    /// value, which this check does not look into).
    var refersOuter: Bool {
        contains {
            switch $0 {
            case .outer, .scalarSubquery, .exists, .inSubquery, .quantified, .windowColumn: return true
            default: return false
            }
        }
    }
}

extension Executor {
    /// `EXISTS (sp)` for the current `row` through the hashed keys, nil when `sp` is not
    /// decorrelated (or this row's keys cannot be hashed).
    func existsHashed(_ sp: SubPlan, _ row: [Value]) throws -> Bool? {
        if sp.decorrelation == nil { sp.decorrelation = .some(Decorrelation.of(sp.plan)) }
        guard let d = sp.decorrelation!, profile == nil else { return nil }
        var key: [Value] = []
        key.reserveCapacity(d.outerColumns.count)
        for c in d.outerColumns {
            guard c < row.count else { return nil }
            let v = row[c]
            if v.isNull { return false }
            if case .float = v { return nil }
            key.append(v.groupKey)
        }
        if sp.hashedKeys == nil {
            var keys = Set<[Value]>()
            for r in try run(d.keyPlan) {
                try checkInterrupt()
                if r.contains(where: \.isNull) { continue }
                if r.contains(where: { if case .float = $0 { return true } else { return false } }) {
                    sp.decorrelation = .some(nil)
                    return nil
                }
                keys.insert(r.map(\.groupKey))
            }
            sp.hashedKeys = keys
        }
        return sp.hashedKeys!.contains(key)
    }

    /// `x [NOT] IN (sp)` for an uncorrelated `sp` through a hash of its values, nil when they
    /// (or `x`) are not hashable.
    func inHashed(_ x: Value, _ sp: SubPlan, negated: Bool, _ row: [Value]) throws -> Value? {
        guard !sp.correlated, profile == nil else { return nil }
        if case .float = x { return nil }
        if sp.inSet == nil {
            let rows = try evalSub(sp, row)
            var set = Set<Value>()
            for r in rows {
                guard let y = r.first else { continue }
                if y.isNull { sp.inSawNull = true; continue }
                if case .float = y { sp.inSet = .some(nil); return nil }
                set.insert(y.groupKey)
            }
            sp.inSet = .some(set)
        }
        guard let set = sp.inSet! else { return nil }
        if set.isEmpty && !sp.inSawNull { return .bool(negated) }
        if x.isNull { return .null }
        if set.contains(x.groupKey) { return .bool(!negated) }
        return sp.inSawNull ? .null : .bool(negated)
    }
}
