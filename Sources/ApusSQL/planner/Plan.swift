import ApusCore

/// A bound, typed expression: column references resolved to row positions.
indirect enum BExpr {
    case const(Value)
    /// A column of the current row.
    case column(Int)
    /// A column of an enclosing query's current row, `level` frames up.
    case outer(level: Int, index: Int)
    case param(Int, SQLType)
    case cast(BExpr, SQLType)
    case arith(String, BExpr, BExpr, SQLType)
    case negate(BExpr, SQLType)
    case compare(String, BExpr, BExpr)
    case and(BExpr, BExpr)
    case or(BExpr, BExpr)
    case not(BExpr)
    case isNull(BExpr, negated: Bool)
    case isBool(BExpr, Bool, negated: Bool)
    case isDistinct(BExpr, BExpr, negated: Bool)
    case inList(BExpr, [BExpr], negated: Bool)
    case like(BExpr, BExpr, escape: BExpr?, caseInsensitive: Bool, negated: Bool)
    case caseWhen(operand: BExpr?, whens: [(BExpr, BExpr)], otherwise: BExpr?)
    case coalesce([BExpr])
    case nullIf(BExpr, BExpr)
    case extreme([BExpr], greatest: Bool)
    case concat(BExpr, BExpr)
    case function(String, [BExpr], SQLType)
    case scalarSubquery(SubPlan)
    case exists(SubPlan)
    case inSubquery(BExpr, SubPlan, negated: Bool)
    case quantified(String, BExpr, all: Bool, SubPlan)
    case dateArith(String, BExpr, BExpr, SQLType)
    /// The value of window call `i` of the enclosing SELECT (see `WindowContext`).
    case windowColumn(Int)
}

/// One end of a window frame, offsets bound to constant expressions.
enum WindowBound {
    case unboundedPreceding
    case preceding(BExpr)
    case currentRow
    case following(BExpr)
    case unboundedFollowing
}

/// A window frame: ROWS (physical offsets) or RANGE (peers of the current row).
struct WindowFrameSpec {
    var rows: Bool
    var start: WindowBound
    var end: WindowBound
    /// RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW: PostgreSQL's default (the whole
    /// partition when there is no ORDER BY, since every row is then a peer).
    static var defaultFrame: WindowFrameSpec { WindowFrameSpec(rows: false, start: .unboundedPreceding, end: .currentRow) }
}

/// A window function call: ranking/navigation functions by name, or an aggregate.
struct WindowCall {
    var name: String
    var args: [BExpr]
    var agg: AggCall?
    var partition: [BExpr]
    var order: [(BExpr, SortKey)]
    var frame: WindowFrameSpec
    var type: SQLType
}

/// A subquery inside an expression; uncorrelated ones are evaluated once per statement.
final class SubPlan {
    let plan: Plan
    let correlated: Bool
    var cache: [[Value]]?
    /// A correlated EXISTS run once and hashed (see `Decorrelate.swift`): its analysis, made on
    /// first use (nil inside: not decorrelated), and the key tuples it found.
    var decorrelation: Decorrelation??
    var hashedKeys: Set<[Value]>?
    /// An uncorrelated `IN (subquery)`'s values, hashed on first use (nil inside: not
    /// hashable), and whether they held a NULL.
    var inSet: Set<Value>??
    var inSawNull = false

    init(plan: Plan, correlated: Bool) {
        self.plan = plan
        self.correlated = correlated
    }
}

/// A common table expression, materialized on first use.
final class CTEBox {
    let plan: Plan
    var rows: [[Value]]?
    init(plan: Plan) { self.plan = plan }
}

/// An aggregate call.
struct AggCall {
    var name: String
    var args: [BExpr]
    var distinct: Bool
    var star: Bool
    var filter: BExpr?
    var type: SQLType
    var argType: SQLType
    var separator: BExpr?
    /// `agg(x ORDER BY ...)`: keys and their sort order.
    var order: [(BExpr, SortKey)] = []
}

/// One ORDER BY key over a plan's output columns.
struct SortKey {
    var index: Int
    var descending: Bool
    var nullsFirst: Bool
}

/// A relational operator tree; every operator yields rows of values.
indirect enum Plan {
    /// One row with no columns (SELECT without FROM).
    case one
    case values([[BExpr]])
    /// A table scan, optionally restricted to a primary-key prefix (point or prefix lookup).
    case scan(TableDesc, keyPrefix: [BExpr])
    /// Rows whose integer primary key's first column lies between the bounds (`inclusive` per
    /// side; a bound that is not an integer at run time leaves that side open).
    case scanRange(TableDesc, lower: (BExpr, Bool)?, upper: (BExpr, Bool)?)
    /// Rows of a secondary index whose key starts with `prefix`.
    case indexScan(TableDesc, IndexDesc, prefix: [BExpr])
    /// `indexScan` read from the index entries alone: rows have only the index's and the
    /// primary key's columns, the others NULL (see `IndexOnlyScan.swift`).
    case indexOnlyScan(TableDesc, IndexDesc, prefix: [BExpr])
    /// The rows nearest to a query vector through an HNSW or IVFFlat index, nearest first.
    case vectorSearch(VectorSearchSpec)
    case filter(Plan, BExpr)
    case project(Plan, [BExpr])
    case join(JoinKind, Plan, Plan, on: BExpr?, leftKeys: [BExpr], rightKeys: [BExpr], leftWidth: Int, rightWidth: Int)
    /// A LATERAL join (inner or left): the right plan runs once per left row, which its outer
    /// references (level 1) read.
    case lateral(JoinKind, Plan, Plan, on: BExpr?, rightWidth: Int)
    case aggregate(Plan, groups: [BExpr], aggs: [AggCall])
    /// GROUPING SETS / ROLLUP / CUBE: one aggregation per set (indices into `groups`); rows
    /// have every group column, NULL where the set does not group it.
    case groupingSets(Plan, groups: [BExpr], sets: [[Int]], aggs: [AggCall])
    case sort(Plan, [SortKey])
    case limit(Plan, limit: BExpr?, offset: BExpr?)
    case distinct(Plan)
    /// Keeps the first row of each distinct value of the given columns (DISTINCT ON).
    case distinctOn(Plan, [Int])
    case setOp(SetOperator, all: Bool, Plan, Plan)
    /// Keeps the first `n` columns.
    case trim(Plan, Int)
    case cte(CTEBox)
    /// WITH RECURSIVE: `base`, then `step` over the working table `work` until no new rows;
    /// UNION (not ALL) drops rows seen before. Rows are cast to the base's column types.
    case recursive(base: Plan, step: Plan, work: CTEBox, all: Bool, types: [SQLType])
    /// Appends the window calls' values to each row, in reverse call order.
    case window(Plan, [WindowCall])
    /// generate_series(start, stop[, step]).
    case series(BExpr, BExpr, BExpr?)
    /// unnest(array in text form): one row per element.
    /// The elements of an array value as rows, with their 1-based positions WITH ORDINALITY;
    /// with `spread`, each element is itself an array of the row's columns (json_each).
    case unnest(BExpr, ordinality: Bool, spread: Bool = false)
    /// Set-returning functions in the select list: the listed columns of each input row hold
    /// arrays; the row is repeated for the longest, those columns taking element i (NULL past
    /// a shorter one's end), as PostgreSQL's ProjectSet.
    case expandSets(Plan, [Int])
    /// SELECT ... FOR UPDATE/SHARE: locks the row of `table` behind each row of the input
    /// (a scan of that table, possibly filtered), dropping rows skipped by SKIP LOCKED.
    case lockRows(Plan, TableDesc, RowLockStrength, RowLockWait)
}

/// A nearest-neighbour search through a vector index: the `k = limit + offset` rows of `table`
/// satisfying `filter` nearest to `query` under the index's distance, nearest first. `fallback`
/// (the scan and filter it replaced) gives the exact answer whenever the index cannot.
struct VectorSearchSpec {
    var table: TableDesc
    var index: IndexDesc
    var query: BExpr
    var limit: BExpr?
    var offset: BExpr?
    var filter: BExpr?
    /// The `vec_*` distance function the ORDER BY uses (matching the index's operator class).
    var distance: String
    var fallback: Plan
}
