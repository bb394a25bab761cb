import ApusCore
import Foundation

/// Rows, loops and time of one plan node in EXPLAIN ANALYZE, with its children in plan order.
final class ProfileNode {
    var rows = 0
    var loops = 0
    var nanos: UInt64 = 0
    var children: [ProfileNode] = []
    /// The next child slot within the current invocation.
    var counter = 0
    let staticChildren: Int
    init(staticChildren: Int) { self.staticChildren = staticChildren }
}

extension Executor {
    /// Runs `plan` as a child of the current profile node, recording its rows and time. A child
    /// is matched to its slot by invocation order (a node runs its inputs in plan order; the
    /// step of a recursive query runs repeatedly in its last slot).
    func runProfiled(_ plan: Plan) throws -> [[Value]] {
        guard let parent = profile else { return try runNode(plan) }
        let slot = min(parent.counter, max(parent.staticChildren - 1, 0))
        parent.counter += 1
        while parent.children.count <= slot { parent.children.append(ProfileNode(staticChildren: Explain.children(plan).count)) }
        let node = parent.children[slot]
        node.counter = 0
        profile = node
        defer { profile = parent }
        let start = DispatchTime.now().uptimeNanoseconds
        let rows = try runNode(plan)
        node.nanos += DispatchTime.now().uptimeNanoseconds - start
        node.loops += 1
        node.rows += rows.count
        return rows
    }
}

/// EXPLAIN's text: PostgreSQL's format, with estimated rows per node instead of costs (none
/// with COSTS OFF), and with ANALYZE the actual rows, loops and time per node.
enum Explain {
    /// Whether some part of `p` runs batch-at-a-time (as `Executor.run` decides it: an
    /// aggregation's streamed input, or a streamed filter, projection or join).
    static func runsBatches(_ p: Plan) -> Bool {
        switch p {
        case let .aggregate(input, _, _) where Executor.streams(input) && Executor.batches(input): return true
        case .filter, .project, .join: if Executor.streams(p) && Executor.batches(p) { return true }
        default: break
        }
        return children(p).contains(where: runsBatches)
    }

    /// An EXPLAIN option's Boolean value: on when given without one.
    static func flag(_ o: GenericOption) -> Bool {
        if case let .word(w)? = o.value { return SQLSession.boolean(w) != false }
        return true
    }

    /// A node's inputs, in the order the executor runs them.
    static func children(_ p: Plan) -> [Plan] {
        switch p {
        case .one, .values, .scan, .scanRange, .indexScan, .indexOnlyScan, .vectorSearch, .cte, .series, .unnest: return []
        case let .filter(c, _), let .project(c, _), let .aggregate(c, _, _), let .sort(c, _), let .limit(c, _, _),
            let .distinct(c), let .distinctOn(c, _), let .trim(c, _), let .window(c, _), let .groupingSets(c, _, _, _),
            let .lockRows(c, _, _, _), let .expandSets(c, _):
            return [c]
        case let .join(_, l, r, _, _, _, _, _), let .lateral(_, l, r, _, _): return [l, r]
        case let .setOp(_, _, l, r): return [l, r]
        case let .recursive(base, step, _, _, _): return [base, step]
        }
    }

    /// The node's title, or nil for nodes PostgreSQL does not show (projections).
    static func title(_ p: Plan) -> String? {
        switch p {
        case .one: return "Result"
        case .values: return "Values Scan on \"*VALUES*\""
        case let .scan(t, prefix):
            if t.viewSQL != nil { return "Subquery Scan on \(t.name)" }
            return prefix.isEmpty ? "Seq Scan on \(t.name)" : "Index Scan using \(t.name)_pkey on \(t.name)"
        case let .indexScan(t, idx, _): return "Index Scan using \(idx.name) on \(t.name)"
        case let .indexOnlyScan(t, idx, _): return "Index Only Scan using \(idx.name) on \(t.name)"
        case let .vectorSearch(v): return "Index Scan using \(v.index.name) on \(v.table.name)"
        case let .scanRange(t, _, _): return "Index Scan using \(t.name)_pkey on \(t.name)"
        case .filter: return nil
        case .project, .trim: return nil
        case let .join(kind, _, _, _, lk, _, _, _):
            let k: String = switch kind {
            case .inner, .cross: ""
            case .left: " Left"
            case .right: " Right"
            case .full: " Full"
            }
            return lk.isEmpty ? "Nested Loop\(k == "" ? "" : k + " Join")" : "Hash\(k) Join"
        case let .lateral(kind, _, _, _, _): return kind == .left ? "Nested Loop Left Join" : "Nested Loop"
        case let .aggregate(_, groups, _): return groups.isEmpty ? "Aggregate" : "HashAggregate"
        case .groupingSets: return "MixedAggregate"
        case .sort: return "Sort"
        case .limit: return "Limit"
        case .distinct: return "HashAggregate"
        case .distinctOn: return "Unique"
        case let .setOp(op, all, _, _):
            switch op {
            case .union: return all ? "Append" : "HashAggregate"
            case .intersect: return all ? "HashSetOp Intersect All" : "HashSetOp Intersect"
            case .except: return all ? "HashSetOp Except All" : "HashSetOp Except"
            }
        case .cte: return "CTE Scan"
        case .recursive: return "Recursive Union"
        case .window: return "WindowAgg"
        case .series: return "Function Scan on generate_series"
        case .unnest: return "Function Scan on unnest"
        case .expandSets: return "ProjectSet"
        case .lockRows: return "LockRows"
        }
    }

    /// Extra lines under a node (`Filter: ...` on the scan it applies to).
    static func details(_ p: Plan) -> [String] {
        switch p {
        case let .aggregate(_, groups, _) where !groups.isEmpty: return ["Group Key: \(groups.count) column\(groups.count == 1 ? "" : "s")"]
        case let .sort(_, keys): return ["Sort Key: \(keys.count) column\(keys.count == 1 ? "" : "s")"]
        case let .scan(_, prefix) where !prefix.isEmpty: return ["Index Cond: primary key prefix of \(prefix.count) column\(prefix.count == 1 ? "" : "s")"]
        case .scanRange: return ["Index Cond: primary key range"]
        case let .vectorSearch(v):
            let op = ["vec_l2_distance": "<->", "vec_cosine_distance": "<=>", "vec_negative_inner_product": "<#>"][v.distance] ?? "?"
            let col = v.table.columns[v.index.columns[0]].name
            return ["Order By: (\(col) \(op) $query)"] + (v.filter == nil ? [] : ["Filter: WHERE clause, checked during the index walk"])
        case let .indexScan(_, idx, prefix), let .indexOnlyScan(_, idx, prefix):
            return ["Index Cond: \(prefix.count) of \(idx.columns.count) key column\(idx.columns.count == 1 ? "" : "s")"]
        default: return []
        }
    }

    /// The plan's lines; with `estimator` (COSTS on, the default), each node's estimated rows
    /// as `(rows=N)`.
    static func render(_ plan: Plan, profile: ProfileNode?, estimator: Estimator? = nil) -> [String] {
        var lines: [String] = []
        func ms(_ n: UInt64) -> String { String(format: "%.3f", Double(n) / 1e6) }
        func walk(
            _ p: Plan, _ prof: ProfileNode?, _ level: Int, _ pendingFilter: Bool, _ shown: Plan? = nil,
            limited: Bool = false, scanTitle: String? = nil
        ) {
            let kids = children(p)
            // A sort of rows read in order does not run: the scan below reads in order (an
            // index other than the primary key only under a LIMIT).
            if case let .sort(inner, keys) = p, let (leaf, _) = Executor.scanKeys(inner, keys) {
                var title: String?
                if let reverse = Executor.primaryKeyOrder(inner, keys), let t = Executor.scannedTable(leaf) {
                    title = "Index Scan\(reverse ? " Backward" : "") using \(t.name)_pkey on \(t.name)"
                } else if limited, let o = Executor.indexOrder(inner, keys) {
                    title = "Index Scan\(keys[0].descending ? " Backward" : "") using \(o.index.name) on \(o.table.name)"
                }
                if let title {
                    walk(inner, prof?.children.first, level, pendingFilter, shown, scanTitle: title)
                    return
                }
            }
            var title = title(p)
            if let scanTitle {
                switch p {
                case .scan, .scanRange, .indexScan, .indexOnlyScan: title = scanTitle
                default: break
                }
            }
            guard let title else {
                // Hidden node: its input takes its place (a filter shows under that input).
                var filter = pendingFilter
                var top = shown
                if case .filter = p { filter = true; if top == nil { top = p } }
                if let c = kids.first {
                    walk(c, prof?.children.first, level, filter, top, limited: limited && !filter, scanTitle: scanTitle)
                }
                return
            }
            let indent = level == 0 ? "" : String(repeating: " ", count: (level - 1) * 6 + 2) + "->  "
            var line = indent + title
            if let estimator {
                // A hidden filter above this node is what PostgreSQL shows as this node's rows.
                line += "  (rows=\(Int(max(estimator.rows(shown ?? p), 1).rounded())))"
            }
            if let prof {
                let perLoop = prof.loops > 0 ? prof.nanos / UInt64(prof.loops) : 0
                let rows = prof.loops > 0 ? prof.rows / prof.loops : 0
                line += " (actual time=\(ms(perLoop)) rows=\(rows) loops=\(prof.loops))"
            }
            lines.append(line)
            let detailIndent = String(repeating: " ", count: level == 0 ? 2 : (level - 1) * 6 + 8)
            if pendingFilter { lines.append(detailIndent + "Filter: (condition)") }
            for d in details(p) { lines.append(detailIndent + d) }
            var limitedChild = false
            if case .limit(_, .some, _) = p { limitedChild = true }
            for (i, c) in kids.enumerated() {
                walk(c, prof.flatMap { i < $0.children.count ? $0.children[i] : nil }, level + 1, false, limited: limitedChild)
            }
        }
        walk(plan, profile, 0, false)
        return lines
    }
}

extension SQLSession {
    func explain(_ e: ExplainStatement, _ params: [Value], _ t: any KVTransaction) throws -> StatementResult {
        var analyze = false
        var costs = true
        var verbose = false
        for o in e.options {
            switch o.name {
            case "analyze":
                analyze = Explain.flag(o)
            case "costs":
                costs = Explain.flag(o)
            case "verbose":
                verbose = Explain.flag(o)
            case "buffers", "timing", "summary", "format", "settings", "wal": continue
            default: throw SQLError(.syntaxError, "unrecognized EXPLAIN option \"\(o.name)\"")
            }
        }
        guard case let .query(q) = e.statement else { throw SQLError.unsupported("EXPLAIN of statements other than queries") }
        let start = DispatchTime.now().uptimeNanoseconds
        let binder = queryBinder(settable: false)
        let b = try binder.bindQuery(q, outer: nil)
        let plan = binder.indexOnly(b.plan)
        let planned = DispatchTime.now().uptimeNanoseconds
        var lines: [String]
        if analyze {
            let ex = Executor(tx: t, params: params)
            let root = ProfileNode(staticChildren: 1)
            ex.profile = root
            _ = try ex.run(plan)
            let done = DispatchTime.now().uptimeNanoseconds
            lines = Explain.render(plan, profile: root.children.first, estimator: costs ? Estimator(stats: statistics) : nil)
            lines.append(String(format: "Planning Time: %.3f ms", Double(planned - start) / 1e6))
            lines.append(String(format: "Execution Time: %.3f ms", Double(done - planned) / 1e6))
        } else {
            lines = Explain.render(plan, profile: nil, estimator: costs ? Estimator(stats: statistics) : nil)
            if verbose {
                let batches = Executor(tx: t, params: params).batchExecution && Explain.runsBatches(plan)
                lines.append("Execution: " + (batches ? "batches of columns" : "rows"))
            }
        }
        return StatementResult(
            columns: [ResultColumn(name: "QUERY PLAN", type: .text)], rows: lines.map { [.text($0)] },
            rowsAffected: lines.count, tag: "EXPLAIN", hasRows: true)
    }
}
