import ApusCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A column visible to name resolution.
struct ScopeColumn {
    var table: String?
    var name: String
    var type: SQLType
    /// Hidden from `*` and from unqualified names (the right side of JOIN USING).
    var hidden: Bool = false
    /// The only column of a FROM function: its table alias alone also names it (`FROM
    /// jsonb_array_elements(x) AS e` lets `e` stand for the value, as in PostgreSQL).
    var functionValue: Bool = false
}

/// The columns of one query level, linked to the enclosing level for correlated references.
final class Frame {
    var columns: [ScopeColumn]
    let outer: Frame?
    /// How many enclosing rows are on the executor's outer-row stack for expressions here.
    let depth: Int

    init(columns: [ScopeColumn], outer: Frame?) {
        self.columns = columns
        self.outer = outer
        self.depth = (outer?.depth ?? -1) + 1
    }
}

/// State for binding expressions of an aggregating SELECT.
final class AggContext {
    let groupExprs: [Expr]
    let inputFrame: Frame
    let groupFrame: Frame
    var aggs: [AggCall] = []
    var groupSigs: [String] = []
    /// The context the aggregate's arguments bind in (a window aggregate over an aggregating
    /// SELECT: `sum(sum(x)) OVER ()`); nil for plain aggregates.
    var argAgg: AggContext?
    init(groupExprs: [Expr], inputFrame: Frame, groupFrame: Frame) {
        self.groupExprs = groupExprs
        self.inputFrame = inputFrame
        self.groupFrame = groupFrame
    }
}

enum OrderPart {
    case output(Int, SortItem)
    case expr(BExpr, SortItem)
}

/// The output of a bound query: its plan and its columns.
struct BoundQuery {
    var plan: Plan
    var columns: [ScopeColumn]
}

let aggregateNames: Set<String> = ["count", "sum", "avg", "min", "max", "string_agg", "bool_and", "bool_or", "every",
                                   "stddev", "stddev_samp", "stddev_pop", "variance", "var_samp", "var_pop", "array_agg",
                                   "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg"]

/// Turns AST into typed plans: resolves names against the catalog, types expressions,
/// picks access paths.
/// How the binder reads and changes the session's settings (`current_setting`, `set_config`).
struct SessionSettingsAccess {
    var get: (String) -> String?
    /// Applies a setting; nil when binding must not change anything (Describe).
    var set: ((String, String) throws -> Void)?
    /// The session's open cursors as pg_cursors rows.
    var cursors: () -> [[Value]] = { [] }
    /// The storage engine's counters as `apus_storage_metrics` rows (name, value, description).
    var storageMetrics: () -> [[Value]] = { [] }
}

final class Binder {
    let catalog: Catalog
    var paramTypes: [SQLType]
    var ctes: [String: (CTEBox, [ScopeColumn])] = [:]
    var depth = 0
    var marks: [SubqueryMark] = []
    /// The locking clauses of the query level being bound (SELECT ... FOR UPDATE).
    var rowLocks: [LockingClause] = []
    /// Window calls of the SELECT whose target list or ORDER BY is being bound, else nil.
    var windowContext: WindowContext?
    static let depthMax = 200
    /// The session's role: `current_user`, and whose privileges system relations check.
    let user: String
    /// The session's settings for `current_setting` and `set_config` (nil: defaults, read-only).
    var settings: SessionSettingsAccess?
    /// Whether the bound plan can run again for another execution of the same statement
    /// (`SQLSession`'s plan cache): false once binding read or changed session state, or made
    /// nodes that keep per-execution results (subqueries, CTEs) or live index handles.
    var reusable = true
    /// The existing schemas of the session's `search_path`, in order: where unqualified
    /// relation names are looked up.
    var searchPath: [String] = ["public"]
    /// Table statistics for estimates (nil: defaults only).
    var statistics: StatisticsSource?

    init(catalog: Catalog, paramTypes: [SQLType], user: String? = nil) {
        self.catalog = catalog
        self.paramTypes = paramTypes
        self.user = user ?? catalog.bootstrapRoleName
    }

    func enter() throws {
        depth += 1
        if depth > Binder.depthMax { throw SQLError(.stackDepth, "stack depth limit exceeded") }
    }

    /// The table or view `name` names: in its schema when qualified, else through the search path.
    func table(_ name: QualifiedName) throws -> TableDesc {
        guard let t = try catalog.lookupTable(name, path: searchPath) else {
            throw SQLError(.undefinedTable, "relation \"\(name.parts.joined(separator: "."))\" does not exist", position: name.position.offset)
        }
        return t
    }

    // MARK: queries

    func bindQuery(_ q: Query, outer: Frame?) throws -> BoundQuery {
        try enter(); defer { depth -= 1 }
        if q.asOfSystemTime != nil {
            throw SQLError(.featureNotSupported, "AS OF SYSTEM TIME is allowed only in a top-level SELECT")
        }
        let savedLocks = rowLocks
        defer { rowLocks = savedLocks }
        rowLocks = try lockSpecs(q)
        let savedCTEs = ctes
        defer { ctes = savedCTEs }
        if let with = q.with {
            for cte in with.ctes {
                guard case let .query(cq) = cte.statement else { throw SQLError.unsupported("data-modifying statements in WITH") }
                if with.recursive, cq.with == nil, cq.orderBy.isEmpty, cq.limit == nil, cq.offset == nil,
                   case let .setOperation(.union, all, left, right) = cq.body {
                    try bindRecursiveCTE(cte, all: all, left: left, right: right, outer: outer)
                    continue
                }
                let b = try bindQuery(cq, outer: outer)
                var cols = b.columns
                if cte.columns.count > cols.count {
                    throw SQLError(.syntaxError, "WITH query \"\(cte.name)\" has \(cols.count) columns available but \(cte.columns.count) columns specified")
                }
                for (i, n) in cte.columns.enumerated() where i < cols.count { cols[i].name = n }
                for i in cols.indices { cols[i].table = cte.name }
                reusable = false
                ctes[cte.name] = (CTEBox(plan: b.plan), cols)
            }
        }
        if case let .select(sel) = q.body {
            return try bindSelect(sel, orderBy: q.orderBy, limit: q.limit, offset: q.offset, outer: outer)
        }
        var b = try bindBody(q.body, outer: outer)
        if !q.orderBy.isEmpty {
            var keys: [SortKey] = []
            for item in q.orderBy {
                guard let idx = outputIndex(item.expr, b.columns) else {
                    throw SQLError.unsupported("ORDER BY expressions on a set operation result")
                }
                keys.append(sortKey(item, idx))
            }
            b.plan = .sort(b.plan, keys)
        }
        if q.limit != nil || q.offset != nil {
            b.plan = .limit(b.plan, limit: try q.limit.map { try bindLimit($0) }, offset: try q.offset.map { try bindLimit($0) })
        }
        return b
    }

    func bindLimit(_ e: Expr) throws -> BExpr {
        let (b, t) = try bindExpr(e, Frame(columns: [], outer: nil), agg: nil)
        return t.isInteger || t == .null ? b : .cast(b, .int8)
    }

    func sortKey(_ item: SortItem, _ idx: Int) -> SortKey {
        var desc = false
        if case .descending = item.direction { desc = true }
        let nullsFirst = item.nulls.map { $0 == .first } ?? desc
        return SortKey(index: idx, descending: desc, nullsFirst: nullsFirst)
    }

    /// An ORDER BY item naming an output column by position or name.
    func outputIndex(_ e: Expr, _ cols: [ScopeColumn]) -> Int? {
        if case let .literal(.integer(s)) = e.kind, let n = Int(s), n >= 1, n <= cols.count { return n - 1 }
        if case let .column(parts) = e.kind, parts.count == 1 {
            return cols.firstIndex { $0.name == parts[0] }
        }
        return nil
    }

    /// `name AS (base UNION [ALL] step)` where `step` may read `name`: the step runs on the rows
    /// the previous round produced (the working table) until it produces none.
    func bindRecursiveCTE(_ cte: CommonTableExpr, all: Bool, left: QueryBody, right: QueryBody, outer: Frame?) throws {
        let l = try bindBody(left, outer: outer)
        var cols = l.columns
        if cte.columns.count > cols.count {
            throw SQLError(.syntaxError, "WITH query \"\(cte.name)\" has \(cols.count) columns available but \(cte.columns.count) columns specified")
        }
        for (i, n) in cte.columns.enumerated() { cols[i].name = n }
        for i in cols.indices {
            cols[i].table = cte.name
            if cols[i].type == .unknown || cols[i].type == .null { cols[i].type = .text }
        }
        reusable = false
        let work = CTEBox(plan: .values([]))
        ctes[cte.name] = (work, cols)
        let r = try bindBody(right, outer: outer)
        guard r.columns.count == cols.count else {
            throw SQLError(.syntaxError, "each UNION query must have the same number of columns")
        }
        for (i, c) in r.columns.enumerated() where c.type != cols[i].type && c.type != .null && c.type != .unknown {
            if c.type.category != cols[i].type.category {
                throw SQLError(.datatypeMismatch,
                    "recursive query \"\(cte.name)\" column \(i + 1) has type \(cols[i].type) in non-recursive term but type \(c.type) overall")
            }
        }
        let plan = Plan.recursive(base: l.plan, step: r.plan, work: work, all: all, types: cols.map(\.type))
        reusable = false
        ctes[cte.name] = (CTEBox(plan: plan), cols)
    }

    func bindBody(_ body: QueryBody, outer: Frame?) throws -> BoundQuery {
        switch body {
        case let .select(s): return try bindSelect(s, orderBy: [], limit: nil, offset: nil, outer: outer)
        case let .query(q): return try bindQuery(q, outer: outer)
        case let .table(name): return try bindSelect(Select(targets: [SelectItem(Expr(.star(qualifier: [])))],
                                                            from: [.relation(RelationRef(name: name))]),
                                                     orderBy: [], limit: nil, offset: nil, outer: outer)
        case let .values(rows):
            guard let width = rows.first?.count else { throw SQLError(.syntaxError, "VALUES must not be empty") }
            let frame = Frame(columns: [], outer: outer)
            var bound: [[BExpr]] = []
            var types = [SQLType](repeating: .null, count: width)
            var typed: [[(BExpr, SQLType)]] = []
            for row in rows {
                guard row.count == width else { throw SQLError(.syntaxError, "VALUES lists must all be the same length") }
                var r: [(BExpr, SQLType)] = []
                for (i, e) in row.enumerated() {
                    let (b, t) = try bindExpr(e, frame, agg: nil)
                    r.append((b, t))
                    types[i] = try unify(types[i], t, "VALUES")
                }
                typed.append(r)
            }
            for i in types.indices where types[i] == .unknown || types[i] == .null { types[i] = .text }
            for r in typed {
                bound.append(r.enumerated().map { i, bt in bt.1 == types[i] ? bt.0 : .cast(bt.0, types[i]) })
            }
            let cols = types.enumerated().map { ScopeColumn(table: nil, name: "column\($0.offset + 1)", type: $0.element) }
            return BoundQuery(plan: .values(bound), columns: cols)
        case let .setOperation(op, all, left, right):
            let l = try bindBody(left, outer: outer)
            let r = try bindBody(right, outer: outer)
            guard l.columns.count == r.columns.count else {
                throw SQLError(.syntaxError, "each \(op) query must have the same number of columns")
            }
            var cols = l.columns
            var lp = l.plan, rp = r.plan
            var lc: [BExpr] = [], rc: [BExpr] = []
            var needCast = false
            for i in cols.indices {
                var t = try unify(l.columns[i].type, r.columns[i].type, "\(op)")
                if t == .unknown || t == .null { t = .text }
                cols[i].type = t
                cols[i].table = nil
                lc.append(l.columns[i].type == t ? .column(i) : .cast(.column(i), t))
                rc.append(r.columns[i].type == t ? .column(i) : .cast(.column(i), t))
                if l.columns[i].type != t || r.columns[i].type != t { needCast = true }
            }
            if needCast { lp = .project(lp, lc); rp = .project(rp, rc) }
            return BoundQuery(plan: .setOp(op, all: all, lp, rp), columns: cols)
        }
    }

    /// The common type of two branches (UNION, CASE, VALUES, COALESCE).
    func unify(_ a: SQLType, _ b: SQLType, _ what: String) throws -> SQLType {
        if a == b { return a }
        if a == .null || a == .unknown { return b == .null ? a : b }
        if b == .null || b == .unknown { return a }
        if a.isNumber && b.isNumber { return promoteNumeric(a, b) }
        if a.isString && b.isString { return .text }
        if a.category == 4 && b.category == 4 { return a == .timestamptz || b == .timestamptz ? .timestamptz : .timestamp }
        if case let .array(x) = a, case let .array(y) = b, let e = try? unify(x, y, what) { return .array(e) }
        throw SQLError(.datatypeMismatch, "\(what) types \(a) and \(b) cannot be matched")
    }

    // MARK: FROM

    func bindFrom(_ refs: [TableRef], outer: Frame?, conjuncts: inout [Expr]) throws -> (Plan, [ScopeColumn]) {
        if refs.isEmpty { return (.one, []) }
        // Each comma item is bound alone; WHERE conjuncts are pushed to the items they touch.
        // A function or LATERAL subquery that names earlier items runs once per row of them.
        var (plan, cols) = try bindTableRef(refs[0], outer: outer)
        // Single-table filters and index access for the first item.
        (plan, conjuncts) = try pushDown(plan, cols, conjuncts, outer: outer)
        if refs.count == 1 { return (orderJoins(plan), cols) }
        for k in 1..<max(1, refs.count) where refs.count > 1 {
            let item = try bindTableRefOrLateral(refs[k], left: cols, outer: outer)
            if let lateral = item.lateral {
                plan = .lateral(.inner, plan, lateral, on: nil, rightWidth: item.1.count)
                cols += item.1
                continue
            }
            var (rplan, rcols) = (item.0, item.1)
            (rplan, conjuncts) = try pushDown(rplan, rcols, conjuncts, outer: outer)
            // Equi-join keys between what we have and the new item.
            let all = cols + rcols
            var lk: [BExpr] = [], rk: [BExpr] = []
            var rest: [Expr] = []
            var onParts: [BExpr] = []
            for c in conjuncts {
                if case let .binary("=", a, b) = c.kind, !containsSubquery(c),
                   let (la, ta) = try? bindExpr(a, Frame(columns: cols, outer: outer), agg: nil),
                   let (rb, tb) = try? bindExpr(b, Frame(columns: rcols, outer: outer), agg: nil),
                   ta.category == tb.category, ta.category != 5, !refsOuter(a, cols, outer), !refsOuter(b, rcols, outer) {
                    lk.append(ta == tb || !(ta.isNumber) ? la : .cast(la, promoteNumeric(ta, tb)))
                    rk.append(ta == tb || !(ta.isNumber) ? rb : .cast(rb, promoteNumeric(ta, tb)))
                } else if case let .binary("=", b, a) = c.kind, !containsSubquery(c),
                          let (la, ta) = try? bindExpr(a, Frame(columns: cols, outer: outer), agg: nil),
                          let (rb, tb) = try? bindExpr(b, Frame(columns: rcols, outer: outer), agg: nil),
                          ta.category == tb.category, ta.category != 5, !refsOuter(a, cols, outer), !refsOuter(b, rcols, outer) {
                    lk.append(ta == tb || !(ta.isNumber) ? la : .cast(la, promoteNumeric(ta, tb)))
                    rk.append(ta == tb || !(ta.isNumber) ? rb : .cast(rb, promoteNumeric(ta, tb)))
                } else if !containsSubquery(c), let (b, _) = try? bindExpr(c, Frame(columns: all, outer: outer), agg: nil),
                          !refsOuterAny(c, all, outer) {
                    onParts.append(b)
                } else {
                    rest.append(c)
                }
            }
            conjuncts = rest
            let on = onParts.isEmpty ? nil : onParts.dropFirst().reduce(onParts[0]) { BExpr.and($0, $1) }
            plan = .join(.inner, plan, rplan, on: on, leftKeys: lk, rightKeys: rk, leftWidth: cols.count, rightWidth: rcols.count)
            cols = all
        }
        return (orderJoins(plan), cols)
    }

    /// Whether a FROM item may refer to the items before it: functions always (PostgreSQL's
    /// implicit LATERAL), subqueries when marked LATERAL.
    static func mayBeLateral(_ r: TableRef) -> Bool {
        switch r {
        case .function: true
        case let .subquery(_, lateral, _): lateral
        default: false
        }
    }

    /// Binds a FROM item on its own; when it can be LATERAL and names columns of `left`, binds
    /// it over them instead and returns that plan in `lateral` (run once per left row).
    func bindTableRefOrLateral(_ r: TableRef, left: [ScopeColumn], outer: Frame?) throws -> (Plan, [ScopeColumn], lateral: Plan?) {
        guard Binder.mayBeLateral(r) else {
            let (p, c) = try bindTableRef(r, outer: outer)
            return (p, c, nil)
        }
        do {
            let (p, c) = try bindTableRef(r, outer: outer)
            return (p, c, nil)
        } catch let e as SQLError where e.sqlState == .undefinedColumn || e.sqlState == .undefinedTable {
            let (p, c) = try bindTableRef(Binder.withoutLateralFlag(r), outer: Frame(columns: left, outer: outer))
            return (p, c, p)
        }
    }

    /// The item with LATERAL cleared (it is bound over the left columns instead).
    static func withoutLateralFlag(_ r: TableRef) -> TableRef {
        if case let .subquery(q, true, alias) = r { return .subquery(q, lateral: false, alias: alias) }
        if case let .function(e, true, ord, alias) = r { return .function(e, lateral: false, withOrdinality: ord, alias: alias) }
        return r
    }

    /// Whether binding `e` against `cols` needs a name from outside them.
    func refsOuter(_ e: Expr, _ cols: [ScopeColumn], _ outer: Frame?) -> Bool {
        (try? bindExpr(e, Frame(columns: cols, outer: nil), agg: nil)) == nil
    }

    func refsOuterAny(_ e: Expr, _ cols: [ScopeColumn], _ outer: Frame?) -> Bool {
        refsOuter(e, cols, outer)
    }

    func containsSubquery(_ e: Expr) -> Bool {
        var found = false
        walk(e) { x in
            switch x.kind {
            case .exists, .subquery, .inSubquery, .quantifiedSubquery, .arraySubquery: found = true
            default: break
            }
        }
        return found
    }

    /// Applies the conjuncts that need only `cols`, choosing a primary-key or index lookup
    /// when one is an equality with a constant.
    func pushDown(_ plan: Plan, _ cols: [ScopeColumn], _ conjuncts: [Expr], outer: Frame?) throws -> (Plan, [Expr]) {
        var mine: [BExpr] = []
        var rest: [Expr] = []
        var eqConst: [Int: BExpr] = [:]
        // Range bounds on a column: (bound, inclusive) for `col >= c`, `col > c`, `c < col`, ...
        var lowerBound: [Int: (BExpr, Bool)] = [:]
        var upperBound: [Int: (BExpr, Bool)] = [:]
        // The conjunct (index in `mine`) each recorded bound came from.
        var lowerFrom: [Int: Int] = [:]
        var upperFrom: [Int: Int] = [:]
        for c in conjuncts {
            if !containsSubquery(c), !refsOuter(c, cols, outer),
               let (bound, _) = try? bindExpr(c, Frame(columns: cols, outer: outer), agg: nil) {
                let b = ConstantFolding.fold(bound)
                mine.append(b)
                if case let .compare("=", x, y) = b {
                    if case let .column(i) = x, isConstant(y) { eqConst[i] = y } else if case let .column(i) = y, isConstant(x) { eqConst[i] = x }
                } else if case let .compare(op, x, y) = b, [">", ">=", "<", "<="].contains(op) {
                    var col: Int?
                    var bound = y
                    var o = op
                    if case let .column(i) = x, isConstant(y) { col = i } else if case let .column(i) = y, isConstant(x) {
                        col = i
                        bound = x
                        o = ["<": ">", "<=": ">=", ">": "<", ">=": "<="][op] ?? op
                    }
                    if let col {
                        if o.hasPrefix(">") {
                            lowerBound[col] = (bound, o == ">=")
                            lowerFrom[col] = mine.count - 1
                        } else {
                            upperBound[col] = (bound, o == "<=")
                            upperFrom[col] = mine.count - 1
                        }
                    }
                }
            } else {
                rest.append(c)
            }
        }
        // A locked scan: choose its access path inside, and lock only the rows that pass.
        if case let .lockRows(inner, t, strength, wait) = plan {
            let (p, rest) = try pushDown(inner, cols, conjuncts, outer: outer)
            return (.lockRows(p, t, strength, wait), rest)
        }
        var p = plan
        if case let .scan(t, _) = plan, t.viewSQL == nil {
            var prefix: [BExpr] = []
            for k in t.primaryKey { if let v = eqConst[k] { prefix.append(.cast(v, try colType(t, k))) } else { break } }
            if !prefix.isEmpty {
                p = .scan(t, keyPrefix: prefix)
            } else if let k = t.primaryKey.first, (try colType(t, k)).isInteger, lowerBound[k] != nil || upperBound[k] != nil {
                // Integer primary keys narrow to a key range. A bound that is an integer
                // expression always applies exactly (the key encoding orders integers), so its
                // conjunct is not checked again per row; the filter above re-checks the others.
                p = .scanRange(t, lower: lowerBound[k], upper: upperBound[k])
                var exact = Set<Int>()
                if let (b, _) = lowerBound[k], isIntegerExpr(b), let i = lowerFrom[k] { exact.insert(i) }
                if let (b, _) = upperBound[k], isIntegerExpr(b), let i = upperFrom[k] { exact.insert(i) }
                mine = mine.enumerated().filter { !exact.contains($0.offset) }.map(\.element)
            } else {
                for idx in t.indexes where !idx.isVector {
                    if let pred = idx.predicate, !predicateImplied(pred, t, cols, mine) { continue }
                    var ip: [BExpr] = []
                    for k in idx.columns { if let v = eqConst[k] { ip.append(.cast(v, try colType(t, k))) } else { break } }
                    if !ip.isEmpty { p = .indexScan(t, idx, prefix: ip); break }
                }
            }
        }
        if !mine.isEmpty { p = .filter(p, mine.dropFirst().reduce(mine[0]) { BExpr.and($0, $1) }) }
        return (p, rest)
    }

    /// Whether the query's conjuncts include every conjunct of a partial index's predicate
    /// (compared as bound expressions), so that the index holds every row the query can return.
    func predicateImplied(_ pred: String, _ t: TableDesc, _ cols: [ScopeColumn], _ mine: [BExpr]) -> Bool {
        guard cols.count == t.columns.count, let e = try? Parser.parseExpression(sql: pred),
              let (b, _) = try? bindExpr(e, Frame(columns: cols, outer: nil), agg: nil) else { return false }
        func parts(_ x: BExpr) -> [BExpr] {
            if case let .and(l, r) = x { return parts(l) + parts(r) }
            return [x]
        }
        let have = Set(mine.flatMap(parts).map { "\($0)" })
        return parts(ConstantFolding.fold(b)).allSatisfy { have.contains("\($0)") }
    }

    /// The locking clauses of `q`, checked as PostgreSQL checks them.
    func lockSpecs(_ q: Query) throws -> [LockingClause] {
        guard let first = q.locking.first else { return [] }
        let what = switch first.strength {
        case .update: "FOR UPDATE"
        case .noKeyUpdate: "FOR NO KEY UPDATE"
        case .share: "FOR SHARE"
        case .keyShare: "FOR KEY SHARE"
        }
        guard case let .select(sel) = q.body else {
            throw SQLError(.featureNotSupported, "\(what) is not allowed with UNION/INTERSECT/EXCEPT")
        }
        if !sel.groupBy.isEmpty { throw SQLError(.featureNotSupported, "\(what) is not allowed with GROUP BY clause") }
        if sel.distinct != nil { throw SQLError(.featureNotSupported, "\(what) is not allowed with DISTINCT clause") }
        return q.locking
    }

    /// The lock to take on rows of `t` (named `alias` in FROM), if a locking clause covers it.
    func rowLock(for t: TableDesc, alias: String) -> (strength: RowLockStrength, wait: RowLockWait)? {
        var best: (strength: RowLockStrength, wait: RowLockWait)?
        for c in rowLocks where c.of.isEmpty || c.of.contains(where: { $0.name == alias }) {
            let strength: RowLockStrength = c.strength == .update || c.strength == .noKeyUpdate ? .update : .share
            let wait: RowLockWait = switch c.waitPolicy {
            case .wait: .wait
            case .noWait: .noWait
            case .skipLocked: .skipLocked
            }
            if best == nil || strength == .update { best = (strength, wait) }
        }
        return best
    }

    func colType(_ t: TableDesc, _ k: Int) throws -> SQLType {
        try SQLType.ofColumn(t.columns[k].typeSQL)
    }

    /// Whether `b` is a constant expression whose value is always an integer or NULL (its
    /// static type says so).
    func isIntegerExpr(_ b: BExpr) -> Bool {
        guard isConstant(b) else { return false }
        switch b {
        case let .const(v): if case .int = v { return true }; return false
        case let .param(_, t), let .cast(_, t), let .negate(_, t), let .arith(_, _, _, t): return t.isInteger
        default: return false
        }
    }

    func isConstant(_ b: BExpr) -> Bool {
        switch b {
        case .const, .param: return true
        case let .cast(x, _): return isConstant(x)
        case let .negate(x, _): return isConstant(x)
        case let .arith(_, a, b, _): return isConstant(a) && isConstant(b)
        default: return false
        }
    }

    func bindTableRef(_ ref: TableRef, outer: Frame?) throws -> (Plan, [ScopeColumn]) {
        switch ref {
        case let .relation(r):
            if r.asOfSystemTime != nil {
                throw SQLError(.featureNotSupported, "AS OF SYSTEM TIME belongs after the FROM clause of a top-level SELECT")
            }
            let alias = r.alias?.name ?? r.name.name
            if r.name.parts.count == 1, let (box, cols) = ctes[r.name.name] {
                var c = cols
                for i in c.indices { c[i].table = alias }
                if let names = r.alias?.columns { for (i, n) in names.enumerated() where i < c.count { c[i].name = n } }
                return (.cte(box), c)
            }
            // pg_catalog and information_schema relations, qualified or (pg_catalog's) not shadowed by a table.
            let system = if let schema = try Catalog.qualifier(r.name) { Catalog.systemSchemas.contains(schema) } else {
                try catalog.lookupTable(r.name, path: searchPath) == nil
            }
            if system, let sys = try systemRelation(r.name) {
                let cols = sys.columns.enumerated().map { i, c in
                    ScopeColumn(table: alias, name: r.alias.flatMap { i < $0.columns.count ? $0.columns[i] : nil } ?? c.0, type: c.1)
                }
                return (.values(sys.rows.map { $0.map { BExpr.const($0) } }), cols)
            }
            let t = try table(r.name)
            if t.matviewPopulated == false {
                throw SQLError(SQLState("55000"), "materialized view \"\(t.name)\" has not been populated")
            }
            if let v = t.viewSQL {
                let stmt = try Parser.parseStatement(sql: v)
                guard case let .query(q) = stmt else { throw SQLError(.dataCorrupted, "bad view definition") }
                let saved = ctes, savedPath = searchPath
                ctes = [:]
                searchPath = t.viewSearchPath ?? ["public"]
                defer { ctes = saved; searchPath = savedPath }
                let b = try bindQuery(q, outer: nil)
                var c = b.columns
                for i in c.indices {
                    c[i].table = alias
                    if i < t.columns.count { c[i].name = t.columns[i].name }
                }
                return (b.plan, c)
            }
            var cols: [ScopeColumn] = []
            for (i, col) in t.columns.enumerated() {
                cols.append(ScopeColumn(table: alias, name: r.alias.flatMap { i < $0.columns.count ? $0.columns[i] : nil } ?? col.name,
                                        type: try SQLType.ofColumn(col.typeSQL)))
            }
            if let lock = rowLock(for: t, alias: alias) {
                return (.lockRows(.scan(t, keyPrefix: []), t, lock.strength, lock.wait), cols)
            }
            return (.scan(t, keyPrefix: []), cols)
        case let .subquery(q, _, alias):
            // LATERAL needs no flag here: `bindTableRefOrLateral` binds such an item over the
            // items before it when it names them.
            let b = try bindQuery(q, outer: outer)
            var c = b.columns
            for i in c.indices {
                c[i].table = alias?.name
                if let a = alias, i < a.columns.count { c[i].name = a.columns[i] }
            }
            return (b.plan, c)
        case let .function(e, _, ordinality, alias) where {
            guard case let .function(call) = e.kind else { return false }
            let n = call.name.name
            return Binder.jsonSetFunctions.contains(n) || Binder.jsonEachFunctions.contains(n) || n == "unnest" || n == "generate_subscripts"
                || (n == "generate_series" && ordinality)
        }():
            // Set-returning functions in FROM: one row per element (key, subscript), plus its
            // 1-based position WITH ORDINALITY.
            guard case let .function(call) = e.kind else { throw SQLError(.internalError, "unreachable") }
            let fname = call.name.name
            let f = Frame(columns: [], outer: outer)
            var args: [(BExpr, SQLType)] = []
            for a in call.arguments { args.append(try bindExpr(a.value, f, agg: nil)) }
            let tableName = alias?.name ?? fname
            if Binder.jsonEachFunctions.contains(fname) {
                // json_each(doc): key and value columns, one row per member.
                guard args.count == 1 else { throw SQLError(.undefinedFunction, "function \(fname) does not exist") }
                let jt: SQLType = fname.hasPrefix("jsonb") ? .jsonb : .json
                let asText = fname.hasSuffix("_text")
                let doc = coerce(args[0].0, args[0].1, to: jt)
                let arr = BExpr.function("srfarr_json_each", [doc, .const(.bool(asText)), .const(.bool(jt == .json))], .array(.text))
                let names = alias?.columns ?? []
                var cols = [ScopeColumn(table: tableName, name: names.first ?? "key", type: .text),
                            ScopeColumn(table: tableName, name: names.count > 1 ? names[1] : "value", type: asText ? .text : jt)]
                if ordinality { cols.append(ScopeColumn(table: tableName, name: names.count > 2 ? names[2] : "ordinality", type: .int8)) }
                return (.unnest(arr, ordinality: ordinality, spread: true), cols)
            }
            if fname == "unnest", args.count == 1, args[0].1.isString || args[0].1 == .unknown || args[0].1 == .null {
                // An array in its text form (catalog columns): one text row per element.
                guard !ordinality else { throw SQLError.unsupported("WITH ORDINALITY over a text array") }
                return (.unnest(.cast(args[0].0, .text), ordinality: false),
                        [ScopeColumn(table: tableName, name: alias?.columns.first ?? tableName, type: .text)])
            }
            if fname == "unnest", args.count > 1 {
                // unnest(a, b, ...): the arrays side by side, one column each, the shorter ones
                // padded with NULLs (Django's bulk inserts: SELECT * FROM unnest($1::int[], $2::text[])).
                var cols: [ScopeColumn] = []
                for (i, a) in args.enumerated() {
                    // A text column here is a catalog int2vector in its text form (pg_index.indoption).
                    guard let t = a.1 == .text ? .int2 : Binder.elementType(a.1) else {
                        throw SQLError(.undefinedFunction, "function unnest(\(args.map(\.1.description).joined(separator: ", "))) does not exist",
                                       position: e.position.offset)
                    }
                    let names = alias?.columns ?? []
                    cols.append(ScopeColumn(table: tableName, name: i < names.count ? names[i] : "unnest", type: t))
                }
                if ordinality {
                    let names = alias?.columns ?? []
                    cols.append(ScopeColumn(table: tableName, name: args.count < names.count ? names[args.count] : "ordinality", type: .int8))
                }
                return (.unnest(.function("srfarr_zip", args.map(\.0), .array(.text)), ordinality: ordinality, spread: true), cols)
            }
            guard let (b, t) = try bindSetReturningFunction(fname, args, e.position.offset), case let .function(name, fargs, _) = b else {
                throw SQLError(.undefinedFunction, "function \(fname)(\(args.map(\.1.description).joined(separator: ", "))) does not exist")
            }
            let arr = BExpr.function("srfarr_" + name.dropFirst(4), fargs, .array(t))
            // The JSON element functions name their column `value` (an OUT parameter); the
            // others' column takes the alias, as for any scalar function.
            let column = fname.hasSuffix("_elements") || fname.hasSuffix("_elements_text") ? "value" : tableName
            var cols = [ScopeColumn(table: tableName, name: alias?.columns.first ?? column, type: t, functionValue: !ordinality)]
            if ordinality {
                let n = (alias?.columns.count ?? 0) > 1 ? alias?.columns[1] ?? "ordinality" : "ordinality"
                cols.append(ScopeColumn(table: tableName, name: n, type: .int8))
            }
            return (.unnest(arr, ordinality: ordinality), cols)
        case let .function(e, _, ordinality, alias):
            guard !ordinality, case let .function(call) = e.kind, call.name.name == "generate_series",
                  call.arguments.count == 2 || call.arguments.count == 3 else {
                throw SQLError.unsupported("table functions other than generate_series")
            }
            let f = Frame(columns: [], outer: outer)
            var args: [BExpr] = []
            var ty: SQLType = .int4
            for a in call.arguments {
                let (b, t) = try bindExpr(a.value, f, agg: nil)
                guard t.isInteger || t == .unknown else { throw SQLError.unsupported("generate_series over \(t)") }
                if t == .int8 { ty = .int8 }
                args.append(.cast(b, .int8))
            }
            let name = alias?.name ?? "generate_series"
            let colName = alias?.columns.first ?? name
            return (.series(args[0], args[1], args.count > 2 ? args[2] : nil),
                    [ScopeColumn(table: name, name: colName, type: ty, functionValue: true)])
        case let .nested(inner, alias):
            var (p, c) = try bindTableRef(inner, outer: outer)
            if let a = alias {
                for i in c.indices { c[i].table = a.name; if i < a.columns.count { c[i].name = a.columns[i] } }
            }
            return (p, c)
        case let .join(left, kind, right, condition):
            let (lp, lc) = try bindTableRef(left, outer: outer)
            let bound = try bindTableRefOrLateral(right, left: lc, outer: outer)
            if let lateralPlan = bound.lateral {
                // LATERAL: a nested loop; the whole ON condition filters each combined row.
                guard kind == .inner || kind == .left || kind == .cross else {
                    throw SQLError(.invalidColumnReference, "the combining JOIN type must be INNER or LEFT for a LATERAL reference")
                }
                var on: BExpr?
                if case let .on(e) = condition { on = try bindBool(e, Frame(columns: lc + bound.1, outer: outer), nil, "JOIN/ON") }
                if case .using = condition { throw SQLError.unsupported("USING with a LATERAL item") }
                return (.lateral(kind == .left ? .left : .inner, lp, lateralPlan, on: on, rightWidth: bound.1.count), lc + bound.1)
            }
            let (rp, rc0) = (bound.0, bound.1)
            var rc = rc0
            var all = lc + rc
            var onExpr: Expr?
            var usingCols: [String] = []
            switch condition {
            case let .on(e): onExpr = e
            case let .using(names, _): usingCols = names
            case .natural: usingCols = lc.filter { !$0.hidden }.map(\.name).filter { n in rc.contains { $0.name == n && !$0.hidden } }
            case .none: break
            }
            var on: BExpr?
            var lk: [BExpr] = [], rk: [BExpr] = []
            for n in usingCols {
                guard let li = lc.lastIndex(where: { $0.name == n && !$0.hidden }),
                      let ri = rc.firstIndex(where: { $0.name == n && !$0.hidden }) else {
                    throw SQLError(.undefinedColumn, "column \"\(n)\" specified in USING clause does not exist in left table")
                }
                rc[ri].hidden = true
                let t = try unify(lc[li].type, rc[ri].type, "JOIN/USING")
                lk.append(lc[li].type == t ? .column(li) : .cast(.column(li), t))
                rk.append(rc[ri].type == t ? .column(ri) : .cast(.column(ri), t))
                if kind == .right { rc[ri].hidden = false }
            }
            if kind == .right { // right join USING: show the right side's column
                for n in usingCols { if let li = lc.lastIndex(where: { $0.name == n && !$0.hidden }) { var l = lc; l[li].hidden = true; all = l + rc } }
            }
            if !usingCols.isEmpty && kind != .right { all = lc + rc }
            if let e = onExpr {
                // Split ON into equi-keys and a residual predicate.
                var residual: [BExpr] = []
                for c in conjunctsOf(e) {
                    if case let .binary("=", a, b) = c.kind, !containsSubquery(c),
                       let (la, ta) = try? bindExpr(a, Frame(columns: lc, outer: nil), agg: nil),
                       let (rb, tb) = try? bindExpr(b, Frame(columns: rc, outer: nil), agg: nil), ta.category == tb.category, ta.category != 5 {
                        let t = ta.isNumber ? promoteNumeric(ta, tb) : ta
                        lk.append(ta == t ? la : .cast(la, t)); rk.append(tb == t ? rb : .cast(rb, t))
                    } else if case let .binary("=", b, a) = c.kind, !containsSubquery(c),
                              let (la, ta) = try? bindExpr(a, Frame(columns: lc, outer: nil), agg: nil),
                              let (rb, tb) = try? bindExpr(b, Frame(columns: rc, outer: nil), agg: nil), ta.category == tb.category, ta.category != 5 {
                        let t = ta.isNumber ? promoteNumeric(ta, tb) : ta
                        lk.append(ta == t ? la : .cast(la, t)); rk.append(tb == t ? rb : .cast(rb, t))
                    } else {
                        let (b, t) = try bindExpr(c, Frame(columns: lc + rc, outer: outer), agg: nil)
                        guard t == .bool || t == .null || t == .unknown else {
                            throw SQLError(.datatypeMismatch, "argument of JOIN/ON must be type boolean, not type \(t)")
                        }
                        residual.append(b)
                    }
                }
                if !residual.isEmpty { on = residual.dropFirst().reduce(residual[0]) { BExpr.and($0, $1) } }
            }
            let k: JoinKind = kind == .cross ? .inner : kind
            return (.join(k, lp, rp, on: on, leftKeys: lk, rightKeys: rk, leftWidth: lc.count, rightWidth: rc.count), all)
        }
    }

    /// Orders the inner joins of a FROM clause by estimated cost (`JoinOrder`), unless
    /// `join_collapse_limit` is 1 or less.
    func orderJoins(_ plan: Plan) -> Plan {
        switch plan {
        case .join, .filter(.join, _): break
        default: return plan
        }
        let limit = settings?.get("join_collapse_limit").flatMap { Int($0) } ?? 8
        if limit <= 1 { return plan }
        return JoinOrder(estimator: Estimator(stats: statistics), limit: limit).optimize(plan)
    }

    func conjunctsOf(_ e: Expr) -> [Expr] {
        if case let .and(a, b) = e.kind { return conjunctsOf(a) + conjunctsOf(b) }
        return [e]
    }

    // MARK: SELECT

    func bindSelect(_ s: Select, orderBy: [SortItem], limit: Expr?, offset: Expr?, outer: Frame?) throws -> BoundQuery {
        let savedWindow = windowContext
        windowContext = nil
        defer { windowContext = savedWindow }
        var named: [String: WindowSpec] = [:]
        for w in s.windows {
            if named[w.name] != nil { throw SQLError(SQLState("42P20"), "window \"\(w.name)\" is already defined") }
            named[w.name] = w.spec
        }
        let wctx = WindowContext(named: named)
        var conjuncts = s.whereClause.map { conjunctsOf($0) } ?? []
        let hasOuterRefsInWhere = false
        _ = hasOuterRefsInWhere
        var (plan, cols) = try bindFrom(s.from, outer: outer, conjuncts: &conjuncts)
        let frame = Frame(columns: cols, outer: outer)
        if !conjuncts.isEmpty {
            var parts: [BExpr] = []
            for c in conjuncts {
                let (b, t) = try bindExpr(c, frame, agg: nil)
                guard t == .bool || t == .null || t == .unknown else {
                    throw SQLError(.datatypeMismatch, "argument of WHERE must be type boolean, not type \(t)", position: c.position.offset)
                }
                parts.append(b)
            }
            plan = .filter(plan, parts.dropFirst().reduce(parts[0]) { BExpr.and($0, $1) })
        }
        // Expand the target list.
        var targets: [(Expr, String)] = []
        for item in s.targets {
            if case let .star(q) = item.expr.kind {
                var any = false
                for (i, c) in cols.enumerated() where !c.hidden && (q.isEmpty || c.table == q.last) {
                    var parts: [String] = [c.name]
                    if let t = c.table { parts.insert(t, at: 0) }
                    // Two columns of one name in one item (unnest(a, b), SELECT 1 AS x, 2 AS x):
                    // named by position, since their name is ambiguous.
                    if cols.filter({ $0.name == c.name && $0.table == c.table && !$0.hidden }).count > 1 {
                        parts = [Binder.starPositionMarker, String(i)]
                    }
                    targets.append((Expr(.column(parts)), c.name))
                    any = true
                }
                if !any && !q.isEmpty { throw SQLError(.undefinedTable, "missing FROM-clause entry for table \"\(q.last ?? "")\"") }
                continue
            }
            targets.append((item.expr, item.alias ?? outputName(item.expr)))
        }
        // Aggregation?
        func resolveGroupExpr(_ e: Expr) throws -> Expr {
            if case let .literal(.integer(str)) = e.kind, let n = Int(str) {
                guard n >= 1, n <= targets.count else { throw SQLError(.invalidColumnReference, "GROUP BY position \(n) is not in select list") }
                return targets[n - 1].0
            } else if case let .column(parts) = e.kind, parts.count == 1, !cols.contains(where: { $0.name == parts[0] }),
                      let t = targets.first(where: { $0.1 == parts[0] }) {
                return t.0
            }
            return e
        }
        // GROUP BY: one list of grouping sets (plain GROUP BY is a single set of every expression).
        let expandedSets = try expandGroupingSets(s.groupBy, resolveGroupExpr)
        var groupExprs: [Expr] = []
        for set in expandedSets { for e in set where !groupExprs.contains(e) { groupExprs.append(e) } }
        let groupingSets: [[Int]]? = expandedSets.count == 1 && expandedSets[0].count == groupExprs.count
            ? nil : expandedSets.map { set in set.compactMap { groupExprs.firstIndex(of: $0) } }
        let usesAgg = !s.groupBy.isEmpty || s.having != nil || targets.contains { hasAggregate($0.0) }
            || orderBy.contains { hasAggregate($0.expr) }
        var agg: AggContext?
        var exprFrame = frame
        if usesAgg {
            var gb: [BExpr] = []
            var gcols: [ScopeColumn] = []
            for g in groupExprs {
                let (b, t) = try bindExpr(g, frame, agg: nil)
                gb.append(b)
                var sc = ScopeColumn(table: nil, name: "?group?", type: t)
                if case let .column(parts) = g.kind, case let .column(i) = b {
                    sc = cols[i]
                    _ = parts
                }
                gcols.append(sc)
            }
            let gframe = Frame(columns: gcols, outer: outer)
            let ctx = AggContext(groupExprs: groupExprs, inputFrame: frame, groupFrame: gframe)
            ctx.groupSigs = gb.map { "\($0)" }.map { $0.contains("SubPlan") ? "" : $0 }
            agg = ctx
            exprFrame = gframe
            _ = gb
            var outExprs: [BExpr] = []
            var outCols: [ScopeColumn] = []
            windowContext = wctx
            for (e, name) in targets {
                let (b, t) = try bindExpr(e, gframe, agg: ctx)
                outExprs.append(b)
                outCols.append(ScopeColumn(table: nil, name: name, type: t))
            }
            windowContext = nil
            var having: BExpr?
            if let h = s.having {
                let (b, t) = try bindExpr(h, gframe, agg: ctx)
                guard t == .bool || t == .null else { throw SQLError(.datatypeMismatch, "argument of HAVING must be type boolean, not type \(t)") }
                having = b
            }
            var order: [OrderPart] = []
            windowContext = wctx
            for item in orderBy {
                if let idx = outputIndex(item.expr, outCols) { order.append(.output(idx, item)); continue }
                let (b, _) = try bindExpr(item.expr, gframe, agg: ctx)
                order.append(.expr(b, item))
            }
            let onExprs = try bindDistinctOn(s.distinct, outExprs, outCols, gframe, ctx)
            windowContext = nil
            if let groupingSets {
                plan = .groupingSets(plan, groups: gb, sets: groupingSets, aggs: ctx.aggs)
            } else {
                plan = .aggregate(plan, groups: gb, aggs: ctx.aggs)
            }
            if let having { plan = .filter(plan, having) }
            if !wctx.calls.isEmpty { plan = .window(plan, wctx.calls) }
            return try finishSelect(plan: plan, outExprs: outExprs, outCols: outCols, order: order,
                                    distinct: s.distinct, orderBy: orderBy, limit: limit, offset: offset, on: onExprs)
        }
        _ = agg
        var outExprs: [BExpr] = []
        var outCols: [ScopeColumn] = []
        windowContext = wctx
        for (e, name) in targets {
            let (b, t) = try bindExpr(e, exprFrame, agg: nil)
            outExprs.append(b)
            var c = ScopeColumn(table: nil, name: name, type: t)
            if case let .column(i) = b { c.table = cols[i].table }
            outCols.append(c)
        }
        var order: [OrderPart] = []
        for item in orderBy {
            if let idx = outputIndex(item.expr, outCols) { order.append(.output(idx, item)); continue }
            let (b, _) = try bindExpr(item.expr, exprFrame, agg: nil)
            order.append(.expr(b, item))
        }
        let onExprs = try bindDistinctOn(s.distinct, outExprs, outCols, exprFrame, nil)
        windowContext = nil
        if !wctx.calls.isEmpty { plan = .window(plan, wctx.calls) }
        return try finishSelect(plan: plan, outExprs: outExprs, outCols: outCols, order: order,
                                distinct: s.distinct, orderBy: orderBy, limit: limit, offset: offset, on: onExprs)
    }

    /// The expressions of `DISTINCT ON (...)` (output names and positions allowed, as in ORDER BY).
    func bindDistinctOn(_ d: Distinct?, _ outExprs: [BExpr], _ outCols: [ScopeColumn], _ frame: Frame, _ agg: AggContext?)
        throws -> [BExpr]
    {
        guard case let .on(exprs) = d else { return [] }
        return try exprs.map { e in
            if let i = outputIndex(e, outCols) { return outExprs[i] }
            return try bindExpr(e, frame, agg: agg).0
        }
    }

    /// Expands GROUP BY elements into grouping sets: ROLLUP (a, b) is (a, b), (a), (); CUBE is
    /// every subset; GROUPING SETS concatenates; top-level elements combine by cross product.
    func expandGroupingSets(_ elems: [GroupingElement], _ resolve: (Expr) throws -> Expr) throws -> [[Expr]] {
        func items(_ l: [Expr]) throws -> [[Expr]] {
            try l.map { e in
                if case let .row(parts, _) = e.kind { return try parts.map(resolve) }
                return [try resolve(e)]
            }
        }
        func expand(_ g: GroupingElement) throws -> [[Expr]] {
            switch g {
            case let .expr(e): return [[try resolve(e)]]
            case .empty: return [[]]
            case let .rollup(l):
                let it = try items(l)
                return (0...it.count).reversed().map { n in Array(it.prefix(n).joined()) }
            case let .cube(l):
                let it = try items(l)
                guard it.count <= 12 else { throw SQLError(SQLState("54001"), "CUBE is limited to 12 elements") }
                var out: [[Expr]] = []
                for mask in (0..<(1 << it.count)).reversed() {
                    var set: [Expr] = []
                    for (i, x) in it.enumerated() where mask & (1 << (it.count - 1 - i)) != 0 { set += x }
                    out.append(set)
                }
                return out
            case let .groupingSets(l):
                return try l.flatMap(expand)
            }
        }
        var sets: [[Expr]] = [[]]
        for g in elems {
            let e = try expand(g)
            var next: [[Expr]] = []
            for a in sets { for b in e { next.append(a + b) } }
            sets = next
            if sets.count > 4096 { throw SQLError(SQLState("54001"), "too many grouping sets (more than 4096)") }
        }
        return sets
    }

    func finishSelect(plan p0: Plan, outExprs: [BExpr], outCols: [ScopeColumn], order: [OrderPart],
                      distinct: Distinct?, orderBy: [SortItem], limit: Expr?, offset: Expr?, on: [BExpr] = []) throws -> BoundQuery {
        var plan = p0
        if !on.isEmpty {
            // Sort by ORDER BY, keep the first row of each DISTINCT ON key. As PostgreSQL, the
            // keys must be the leftmost ORDER BY expressions.
            var all = outExprs
            var keys: [SortKey] = []
            var orderSigs: [String] = []
            for part in order {
                switch part {
                case let .output(i, item):
                    keys.append(sortKey(item, i))
                    orderSigs.append("\(outExprs[i])")
                case let .expr(b, item):
                    keys.append(sortKey(item, all.count))
                    all.append(b)
                    orderSigs.append("\(b)")
                }
            }
            if !order.isEmpty {
                let leading = Set(orderSigs.prefix(on.count))
                if order.count < on.count || !on.allSatisfy({ leading.contains("\($0)") }) {
                    throw SQLError(SQLState("42P10"), "SELECT DISTINCT ON expressions must match initial ORDER BY expressions")
                }
            }
            var onIdx: [Int] = []
            for b in on {
                onIdx.append(all.count)
                all.append(b)
            }
            plan = projectWithSets(plan, all)
            if !keys.isEmpty { plan = .sort(plan, keys) }
            plan = .trim(.distinctOn(plan, onIdx), outExprs.count)
            if limit != nil || offset != nil {
                plan = .limit(plan, limit: try limit.map { try bindLimit($0) }, offset: try offset.map { try bindLimit($0) })
            }
            return BoundQuery(plan: plan, columns: outCols)
        }
        let hasExpr = order.contains { if case .expr = $0 { return true }; return false }
        if distinct != nil && hasExpr {
            throw SQLError(.invalidColumnReference, "for SELECT DISTINCT, ORDER BY expressions must appear in select list")
        }
        if hasExpr {
            var all = outExprs
            var keys: [SortKey] = []
            for part in order {
                switch part {
                case let .output(i, item): keys.append(sortKey(item, i))
                case let .expr(b, item): keys.append(sortKey(item, all.count)); all.append(b)
                }
            }
            plan = .trim(.sort(projectWithSets(plan, all), keys), outExprs.count)
        } else {
            plan = projectWithSets(plan, outExprs)
            if distinct != nil { plan = .distinct(plan) }
            if !order.isEmpty {
                plan = .sort(plan, order.map { part in
                    if case let .output(i, item) = part { return sortKey(item, i) }
                    return SortKey(index: 0, descending: false, nullsFirst: false)
                })
            }
        }
        if limit != nil || offset != nil {
            plan = .limit(plan, limit: try limit.map { try bindLimit($0) }, offset: try offset.map { try bindLimit($0) })
            plan = useVectorIndex(plan)
        }
        return BoundQuery(plan: plan, columns: outCols)
    }

    /// A projection; set-returning functions at the top of an expression become their arrays,
    /// expanded into rows by an `expandSets` node above it.
    func projectWithSets(_ plan: Plan, _ exprs: [BExpr]) -> Plan {
        var out = exprs
        var sets: [Int] = []
        for (i, e) in exprs.enumerated() {
            if case let .function(name, args, t) = e, name.hasPrefix("srf_") {
                out[i] = .function("srfarr_" + name.dropFirst(4), args, .array(t))
                sets.append(i)
            }
        }
        return sets.isEmpty ? .project(plan, exprs) : .expandSets(.project(plan, out), sets)
    }

    func outputName(_ e: Expr) -> String {
        switch e.kind {
        case let .column(parts): return parts.last ?? "?column?"
        case let .function(f): return f.name.name
        case let .cast(x, t):
            if case .literal = x.kind { return t.name.name == "bpchar" ? "bpchar" : t.name.name }
            return outputName(x)
        case .caseWhen: return "case"
        case .coalesce: return "coalesce"
        case .nullIf: return "nullif"
        case .greatest: return "greatest"
        case .least: return "least"
        case .exists: return "exists"
        case let .subquery(q):
            if case let .select(s) = q.body, s.targets.count == 1 { return s.targets[0].alias ?? outputName(s.targets[0].expr) }
            return "?column?"
        case .substring: return "substring"
        case .position: return "position"
        case .trim: return "btrim"
        case .extract: return "extract"
        case .array, .arraySubquery: return "array"
        case .row: return "row"
        case let .valueFunction(f):
            switch f {
            case .currentDate: return "current_date"
            case .currentTimestamp: return "current_timestamp"
            default: return "?column?"
            }
        default: return "?column?"
        }
    }

    func walk(_ e: Expr, _ visit: (Expr) -> Void) {
        visit(e)
        func w(_ x: Expr) { walk(x, visit) }
        switch e.kind {
        case let .unary(_, a): w(a)
        case let .binary(_, a, b), let .and(a, b), let .or(a, b), let .nullIf(a, b): w(a); w(b)
        case let .not(a), let .isTest(a, _, _), let .cast(a, _), let .collate(a, _), let .field(a, _): w(a)
        case let .isDistinctFrom(a, b, _): w(a); w(b)
        case let .between(a, l, h, _, _): w(a); w(l); w(h)
        case let .inList(a, l, _): w(a); l.forEach(w)
        case let .inSubquery(a, _, _), let .quantifiedSubquery(_, a, _, _): w(a)
        case let .pattern(_, a, p, esc, _): w(a); w(p); if let esc { w(esc) }
        case let .quantifiedArray(_, a, _, b): w(a); w(b)
        case let .function(f):
            f.arguments.forEach { w($0.value) }
        case let .caseWhen(op, whens, other):
            if let op { w(op) }
            for x in whens { w(x.condition); w(x.result) }
            if let other { w(other) }
        case let .coalesce(l), let .greatest(l), let .least(l), let .array(l): l.forEach(w)
        case let .row(l, _): l.forEach(w)
        case let .extract(_, a): w(a)
        case let .position(a, b): w(a); w(b)
        case let .substring(a, b, c): w(a); if let b { w(b) }; if let c { w(c) }
        case let .trim(_, c, a): if let c { w(c) }; w(a)
        default: break
        }
    }

    func hasAggregate(_ e: Expr) -> Bool {
        var found = false
        walk(e) { x in
            if case let .function(f) = x.kind, f.over == nil, aggregateNames.contains(f.name.name) { found = true }
        }
        return found
    }
}

func parseTypeSQL(_ s: String) throws -> TypeName {
    let e = try Parser.parseExpression(sql: "NULL::" + s)
    guard case let .cast(_, t) = e.kind else { throw SQLError(.dataCorrupted, "bad type \(s)") }
    return t
}

/// Column types by their stored text, one table per thread: every statement resolves the types
/// of the columns it touches, and parsing the text each time cost a sixth of a point select.
/// (One table behind a lock made concurrent sessions queue on it: a fifth of select-only
/// pgbench's time with 8 clients went to waiting for that lock.)
private final class ColumnTypeCache {
    var types: [String: SQLType] = [:]
}

private let columnTypeCacheKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { p in
        if let p { Unmanaged<ColumnTypeCache>.fromOpaque(p).release() }
    }
    return key
}()

extension SQLType {
    /// The type of a column from its stored type text (`ColumnDesc.typeSQL`), parsed once per thread.
    static func ofColumn(_ typeSQL: String) throws -> SQLType {
        let cache: ColumnTypeCache
        if let p = pthread_getspecific(columnTypeCacheKey) {
            cache = Unmanaged<ColumnTypeCache>.fromOpaque(p).takeUnretainedValue()
        } else {
            cache = ColumnTypeCache()
            pthread_setspecific(columnTypeCacheKey, Unmanaged.passRetained(cache).toOpaque())
        }
        if let t = cache.types[typeSQL] { return t }
        let t = try SQLType.from(try parseTypeSQL(typeSQL))
        if cache.types.count < 4096 { cache.types[typeSQL] = t }
        return t
    }
}
