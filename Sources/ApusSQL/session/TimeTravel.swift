import ApusCore
import Foundation

/// `SELECT ... AS OF SYSTEM TIME <time>`: a read-only query of the state at a past time within
/// the garbage-collection window (`TxnCoordinator.gcWindow`).
///
/// The time is a timestamp (`'2026-12-05 10:00:00'`, a `timestamptz`), a negative interval
/// relative to now (`INTERVAL '-5 minutes'`, `'-10s'`, `'-1h30m'`), or an integer of
/// nanoseconds since 1970. The clause may follow the FROM list or the query, once.
extension SQLSession {
    /// The AS OF SYSTEM TIME expression of `q`, and `q` without it; nil when there is none.
    static func splitAsOf(_ q: Query) throws(SQLError) -> (Expr, Query)? {
        var q = q
        var found: Expr?
        func take(_ e: Expr?) throws(SQLError) {
            guard let e else { return }
            if found != nil { throw SQLError(.syntaxError, "AS OF SYSTEM TIME may appear only once") }
            found = e
        }
        try take(q.asOfSystemTime)
        q.asOfSystemTime = nil
        if case var .select(sel) = q.body {
            for i in sel.from.indices {
                if case var .relation(r) = sel.from[i] {
                    try take(r.asOfSystemTime)
                    r.asOfSystemTime = nil
                    sel.from[i] = .relation(r)
                }
            }
            q.body = .select(sel)
        }
        guard let found else { return nil }
        return (found, q)
    }

    /// The wall-clock time (ns since 1970) that an AS OF SYSTEM TIME value names.
    static func asOfWall(_ v: Value, now: Int64) throws(SQLError) -> Int64 {
        let epoch2000: Int64 = 946_684_800_000_000  // µs from 1970 to 2000
        func relative(_ months: Int64, _ days: Int64, _ micros: Int64) throws(SQLError) -> Int64 {
            let us = months * 30 * 86_400_000_000 + days * 86_400_000_000 + micros
            guard us <= 0 else { throw SQLError(.invalidParameterValue, "AS OF SYSTEM TIME: interval must not be positive") }
            return now + us * 1000
        }
        switch v {
        case let .timestamp(us), let .timestamptz(us): return (us + epoch2000) * 1000
        case let .interval(m, d, us): return try relative(m, d, us)
        case let .int(n): return n
        case let .text(s):
            let t = s.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("-") {
                if let us = shortDuration(String(t.dropFirst())) { return try relative(0, 0, -us) }
                if case let .interval(m, d, us)? = parseInterval(t) { return try relative(m, d, us) }
            }
            if let us = DateTime.parseTimestamp(t) { return (us + epoch2000) * 1000 }
            throw SQLError(.invalidDatetimeFormat, "AS OF SYSTEM TIME: value \"\(s)\" is neither a timestamp nor a negative interval")
        case .null: throw SQLError(.invalidParameterValue, "AS OF SYSTEM TIME: the time must not be NULL")
        default: throw SQLError(.datatypeMismatch, "AS OF SYSTEM TIME: expected a timestamp or an interval, got \(v)")
        }
    }

    /// `1h30m`, `10s`, `250ms`, `5m`: microseconds, or nil when the text is not of this form.
    static func shortDuration(_ s: String) -> Int64? {
        let units: [(String, Double)] = [("ms", 1e3), ("us", 1), ("µs", 1), ("ns", 1e-3), ("h", 3.6e9), ("m", 6e7), ("s", 1e6)]
        var rest = Substring(s)
        var total = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            guard !digits.isEmpty, let n = Double(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let (u, f) = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(u.count)
            total += n * f
        }
        return Int64(total.rounded())
    }

    /// Runs query `q` (whose AS OF SYSTEM TIME is `e`) in `t`, reading the past state.
    func runAsOf(_ e: Expr, _ q: Query, _ params: [Value], _ t: any KVTransaction) throws -> StatementResult {
        guard !explicit, let st = t as? StorageTransaction else {
            throw SQLError(.activeTransaction, "AS OF SYSTEM TIME is allowed only outside a transaction block")
        }
        let binder = self.binder()
        let (b, _) = try binder.bindExpr(e, Frame(columns: [], outer: nil), agg: nil)
        let value = try Executor(tx: t, params: params).eval(b, [])
        let wall = try SQLSession.asOfWall(value, now: SystemClock.wallNanos())
        if st.isMVCC {
            st.travel(at: try coordinator.mvccTimestamp(atWall: wall))
        } else {
            st.travel(to: try coordinator.snapshot(atWall: wall))
        }
        // The catalog as it was then: a table created since is unknown, one dropped since is back.
        let then = try Catalog.load(st)
        let bound = try self.binder(then).bindQuery(q, outer: nil)
        let rows = try Executor(tx: t, params: params).run(bound.plan)
        return StatementResult(columns: bound.columns.map { ResultColumn(name: $0.name, type: $0.type) }, rows: rows,
                               rowsAffected: rows.count, tag: "SELECT \(rows.count)", hasRows: true)
    }
}
