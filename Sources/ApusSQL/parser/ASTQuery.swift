/// A type name as written, with PostgreSQL's SQL-standard spellings mapped to their catalog
/// names: `integer`/`int` → `int4`, `bigint` → `int8`, `smallint` → `int2`, `boolean` → `bool`,
/// `real` → `float4`, `double precision` and `float(25..53)` → `float8`, `float(1..24)` → `float4`,
/// `decimal`/`dec` → `numeric`, `character varying` → `varchar`, `character`/`char` → `bpchar`
/// (with length 1 when none is given), `time with time zone` → `timetz`,
/// `timestamp with time zone` → `timestamptz`, `bit varying` → `varbit`.
///
/// Any other name (`text`, `uuid`, `jsonb`, `vector`, `pg_catalog.int4`, `"char"`) is kept as
/// written, for the binder to resolve.
public struct TypeName: Sendable, Hashable {
    /// The type's name, possibly schema-qualified.
    public var name: QualifiedName
    /// The type modifiers: `varchar(10)` → `[10]`, `numeric(10, 2)` → `[10, 2]`, `vector(3)` → `[3]`.
    public var modifiers: [Expr]
    /// One entry per array dimension, with its declared bound if any: `int[]` → `[nil]`,
    /// `int[3][4]` → `[3, 4]`, `integer ARRAY` → `[nil]`.
    public var arrayBounds: [Int?]
    /// `SETOF type` (function signatures only).
    public var isSetOf: Bool

    /// Makes a type name.
    public init(_ name: QualifiedName, modifiers: [Expr] = [], arrayBounds: [Int?] = [], isSetOf: Bool = false) {
        self.name = name
        self.modifiers = modifiers
        self.arrayBounds = arrayBounds
        self.isSetOf = isSetOf
    }

    /// Makes an unqualified type name.
    public init(_ name: String, modifiers: [Expr] = [], arrayBounds: [Int?] = []) {
        self.init(QualifiedName([name]), modifiers: modifiers, arrayBounds: arrayBounds)
    }
}

/// Sort direction of an ORDER BY item.
public enum SortDirection: Sendable, Hashable {
    /// `ASC` (the default when nothing is written).
    case ascending
    /// `DESC`.
    case descending
    /// `USING op`.
    case using(String)
}

/// Where NULLs sort.
public enum NullsOrder: Sendable, Hashable {
    /// `NULLS FIRST`.
    case first
    /// `NULLS LAST`.
    case last
}

/// One `ORDER BY` item.
public struct SortItem: Sendable, Hashable {
    /// The sort key.
    public var expr: Expr
    /// `ASC`, `DESC` or `USING op`; nil when not written (ascending).
    public var direction: SortDirection?
    /// `NULLS FIRST|LAST`; nil when not written (PostgreSQL's default: last for ascending).
    public var nulls: NullsOrder?

    /// Makes an item.
    public init(_ expr: Expr, direction: SortDirection? = nil, nulls: NullsOrder? = nil) {
        self.expr = expr
        self.direction = direction
        self.nulls = nulls
    }
}

/// The unit of a window frame.
public enum FrameUnit: Sendable, Hashable {
    /// `ROWS`.
    case rows
    /// `RANGE`.
    case range
    /// `GROUPS`.
    case groups
}

/// One end of a window frame.
public enum FrameBound: Sendable, Hashable {
    /// `UNBOUNDED PRECEDING`.
    case unboundedPreceding
    /// `offset PRECEDING`.
    case preceding(Expr)
    /// `CURRENT ROW`.
    case currentRow
    /// `offset FOLLOWING`.
    case following(Expr)
    /// `UNBOUNDED FOLLOWING`.
    case unboundedFollowing
}

/// `EXCLUDE ...` of a window frame.
public enum FrameExclusion: Sendable, Hashable {
    /// `EXCLUDE CURRENT ROW`.
    case currentRow
    /// `EXCLUDE GROUP`.
    case group
    /// `EXCLUDE TIES`.
    case ties
    /// `EXCLUDE NO OTHERS` (the default, kept when written).
    case noOthers
}

/// A window frame clause.
public struct WindowFrame: Sendable, Hashable {
    /// `ROWS`, `RANGE` or `GROUPS`.
    public var unit: FrameUnit
    /// The start bound.
    public var start: FrameBound
    /// The end bound, when written with `BETWEEN ... AND ...`.
    public var end: FrameBound?
    /// The exclusion, when written.
    public var exclusion: FrameExclusion?

    /// Makes a frame.
    public init(unit: FrameUnit, start: FrameBound, end: FrameBound? = nil, exclusion: FrameExclusion? = nil) {
        self.unit = unit
        self.start = start
        self.end = end
        self.exclusion = exclusion
    }
}

/// A window specification: `OVER name`, `OVER (base PARTITION BY ... ORDER BY ... frame)`, or a
/// `WINDOW w AS (...)` definition.
public struct WindowSpec: Sendable, Hashable {
    /// `OVER w` alone (`isReference`), or the base window `OVER (w ORDER BY ...)` refines.
    public var name: String?
    /// Whether this is `OVER name` without parentheses.
    public var isReference: Bool
    /// `PARTITION BY`.
    public var partitionBy: [Expr]
    /// `ORDER BY`.
    public var orderBy: [SortItem]
    /// The frame clause.
    public var frame: WindowFrame?

    /// Makes a specification.
    public init(name: String? = nil, isReference: Bool = false, partitionBy: [Expr] = [],
                orderBy: [SortItem] = [], frame: WindowFrame? = nil) {
        self.name = name
        self.isReference = isReference
        self.partitionBy = partitionBy
        self.orderBy = orderBy
        self.frame = frame
    }
}

/// `WINDOW name AS (spec)`.
public struct NamedWindow: Sendable, Hashable {
    /// The window's name.
    public var name: String
    /// Its definition.
    public var spec: WindowSpec

    /// Makes a definition.
    public init(name: String, spec: WindowSpec) {
        self.name = name
        self.spec = spec
    }
}

/// A full query: `[WITH ...] body [ORDER BY] [LIMIT/OFFSET/FETCH] [FOR UPDATE ...]`.
///
/// The body may be a set operation whose operands are themselves queries; ORDER BY and LIMIT
/// here apply to the whole body, as in PostgreSQL.
public struct Query: Sendable, Hashable {
    /// `WITH [RECURSIVE] ...`.
    public var with: WithClause?
    /// The SELECT, VALUES or set operation.
    public var body: QueryBody
    /// `ORDER BY`.
    public var orderBy: [SortItem]
    /// `LIMIT n` or `FETCH FIRST n ROWS`; nil for none and for `LIMIT ALL`.
    public var limit: Expr?
    /// `OFFSET n [ROWS]`.
    public var offset: Expr?
    /// `FETCH FIRST n ROWS WITH TIES`.
    public var withTies: Bool
    /// `FOR UPDATE|NO KEY UPDATE|SHARE|KEY SHARE [OF ...] [NOWAIT|SKIP LOCKED]`, in order.
    public var locking: [LockingClause]
    /// CockroachDB's `AS OF SYSTEM TIME expr` written at the end of the query.
    public var asOfSystemTime: Expr?

    /// Makes a query.
    public init(with: WithClause? = nil, body: QueryBody, orderBy: [SortItem] = [], limit: Expr? = nil,
                offset: Expr? = nil, withTies: Bool = false, locking: [LockingClause] = [],
                asOfSystemTime: Expr? = nil) {
        self.with = with
        self.body = body
        self.orderBy = orderBy
        self.limit = limit
        self.offset = offset
        self.withTies = withTies
        self.locking = locking
        self.asOfSystemTime = asOfSystemTime
    }

    /// Whether the query has nothing but its body (no WITH, ORDER BY, LIMIT, locking, AS OF).
    public var isBare: Bool {
        with == nil && orderBy.isEmpty && limit == nil && offset == nil && locking.isEmpty && asOfSystemTime == nil
    }
}

/// The set operators.
public enum SetOperator: Sendable, Hashable {
    /// `UNION`.
    case union
    /// `INTERSECT` (binds tighter than the other two).
    case intersect
    /// `EXCEPT`.
    case except
}

/// The body of a query.
public indirect enum QueryBody: Sendable, Hashable {
    /// `SELECT ...`.
    case select(Select)
    /// `VALUES (...), (...)`; every row has the same width (checked by the binder).
    case values([[Expr]])
    /// `left op [ALL] right`; `all` false for `DISTINCT` or nothing.
    case setOperation(SetOperator, all: Bool, left: QueryBody, right: QueryBody)
    /// A parenthesized query that carries its own WITH, ORDER BY, LIMIT or locking.
    case query(Query)
    /// `TABLE name`, shorthand for `SELECT * FROM name`.
    case table(QualifiedName)
}

/// `DISTINCT` or `DISTINCT ON (...)`.
public enum Distinct: Sendable, Hashable {
    /// `DISTINCT`.
    case distinct
    /// `DISTINCT ON (exprs)`.
    case on([Expr])
}

/// One item of a SELECT list or RETURNING list.
public struct SelectItem: Sendable, Hashable {
    /// The value; `.star` for `*` and `t.*`.
    public var expr: Expr
    /// The output name given with or without `AS`.
    public var alias: String?

    /// Makes an item.
    public init(_ expr: Expr, alias: String? = nil) {
        self.expr = expr
        self.alias = alias
    }
}

/// One element of GROUP BY.
public indirect enum GroupingElement: Sendable, Hashable {
    /// An expression.
    case expr(Expr)
    /// `()`: the grand total.
    case empty
    /// `ROLLUP (a, (b, c))`; parenthesized sublists are implicit rows.
    case rollup([Expr])
    /// `CUBE (a, (b, c))`.
    case cube([Expr])
    /// `GROUPING SETS (...)`.
    case groupingSets([GroupingElement])
}

/// A `SELECT` block without ORDER BY/LIMIT (those belong to `Query`).
public struct Select: Sendable, Hashable {
    /// `DISTINCT` or `DISTINCT ON`; nil for `ALL` or nothing.
    public var distinct: Distinct?
    /// The target list; may be empty (`SELECT FROM t` is valid PostgreSQL).
    public var targets: [SelectItem]
    /// `FROM` items, comma-separated (an implicit cross join).
    public var from: [TableRef]
    /// `WHERE`.
    public var whereClause: Expr?
    /// `GROUP BY`.
    public var groupBy: [GroupingElement]
    /// `GROUP BY DISTINCT`.
    public var groupByDistinct: Bool
    /// `HAVING`.
    public var having: Expr?
    /// `WINDOW name AS (...)`.
    public var windows: [NamedWindow]

    /// Makes a SELECT block.
    public init(distinct: Distinct? = nil, targets: [SelectItem], from: [TableRef] = [], whereClause: Expr? = nil,
                groupBy: [GroupingElement] = [], groupByDistinct: Bool = false, having: Expr? = nil,
                windows: [NamedWindow] = []) {
        self.distinct = distinct
        self.targets = targets
        self.from = from
        self.whereClause = whereClause
        self.groupBy = groupBy
        self.groupByDistinct = groupByDistinct
        self.having = having
        self.windows = windows
    }
}

/// `alias [(col, ...)]` after a FROM item.
public struct Alias: Sendable, Hashable {
    /// The correlation name.
    public var name: String
    /// Column aliases.
    public var columns: [String]

    /// Makes an alias.
    public init(_ name: String, columns: [String] = []) {
        self.name = name
        self.columns = columns
    }
}

/// The join types.
public enum JoinKind: Sendable, Hashable {
    /// `[INNER] JOIN`.
    case inner
    /// `LEFT [OUTER] JOIN`.
    case left
    /// `RIGHT [OUTER] JOIN`.
    case right
    /// `FULL [OUTER] JOIN`.
    case full
    /// `CROSS JOIN`.
    case cross
}

/// How a join matches rows.
public enum JoinCondition: Sendable, Hashable {
    /// `ON expr`.
    case on(Expr)
    /// `USING (a, b) [AS alias]`.
    case using([String], alias: String?)
    /// `NATURAL`.
    case natural
    /// No condition (CROSS JOIN).
    case none
}

/// A table reference by name.
public struct RelationRef: Sendable, Hashable {
    /// The table's name.
    public var name: QualifiedName
    /// `ONLY t` (no inheritance children; accepted for compatibility).
    public var only: Bool
    /// `[AS] alias [(cols)]`.
    public var alias: Alias?
    /// CockroachDB's `AS OF SYSTEM TIME expr` after this table.
    public var asOfSystemTime: Expr?

    /// Makes a reference.
    public init(name: QualifiedName, only: Bool = false, alias: Alias? = nil, asOfSystemTime: Expr? = nil) {
        self.name = name
        self.only = only
        self.alias = alias
        self.asOfSystemTime = asOfSystemTime
    }
}

/// An item of FROM (or of UPDATE ... FROM, DELETE ... USING).
public indirect enum TableRef: Sendable, Hashable {
    /// A table or view by name.
    case relation(RelationRef)
    /// `[LATERAL] (query) [AS] alias [(cols)]`.
    case subquery(Query, lateral: Bool, alias: Alias?)
    /// `[LATERAL] f(args) [WITH ORDINALITY] [AS] alias [(cols)]`, e.g. `generate_series(1, 10) AS g(i)`.
    case function(Expr, lateral: Bool, withOrdinality: Bool, alias: Alias?)
    /// `left [NATURAL] kind JOIN right [ON ... | USING (...)]`.
    case join(left: TableRef, kind: JoinKind, right: TableRef, condition: JoinCondition)
    /// A parenthesized join, possibly aliased: `(a JOIN b ON ...) AS j`.
    case nested(TableRef, alias: Alias?)
}

/// Row-locking strength of `FOR ...`.
public enum LockStrength: Sendable, Hashable {
    /// `FOR UPDATE`.
    case update
    /// `FOR NO KEY UPDATE`.
    case noKeyUpdate
    /// `FOR SHARE`.
    case share
    /// `FOR KEY SHARE`.
    case keyShare
}

/// What a locking clause does when a row is locked.
public enum LockWaitPolicy: Sendable, Hashable {
    /// Wait (the default).
    case wait
    /// `NOWAIT`.
    case noWait
    /// `SKIP LOCKED`.
    case skipLocked
}

/// `FOR UPDATE [OF t, ...] [NOWAIT | SKIP LOCKED]`.
public struct LockingClause: Sendable, Hashable {
    /// The strength.
    public var strength: LockStrength
    /// `OF` tables; empty for all.
    public var of: [QualifiedName]
    /// The wait policy.
    public var waitPolicy: LockWaitPolicy

    /// Makes a clause.
    public init(strength: LockStrength, of: [QualifiedName] = [], waitPolicy: LockWaitPolicy = .wait) {
        self.strength = strength
        self.of = of
        self.waitPolicy = waitPolicy
    }
}

/// `WITH [RECURSIVE] cte, ...`.
public struct WithClause: Sendable, Hashable {
    /// `RECURSIVE`.
    public var recursive: Bool
    /// The common table expressions, in order.
    public var ctes: [CommonTableExpr]

    /// Makes a WITH clause.
    public init(recursive: Bool, ctes: [CommonTableExpr]) {
        self.recursive = recursive
        self.ctes = ctes
    }
}

/// `name [(cols)] AS [[NOT] MATERIALIZED] (statement)`.
public struct CommonTableExpr: Sendable, Hashable {
    /// The CTE's name.
    public var name: String
    /// Column aliases.
    public var columns: [String]
    /// `MATERIALIZED` (true), `NOT MATERIALIZED` (false), or nothing.
    public var materialized: Bool?
    /// A query, or a data-modifying statement (INSERT/UPDATE/DELETE ... RETURNING).
    public var statement: Statement
    /// Where the name is.
    public var position: SourcePosition

    /// Makes a CTE.
    public init(name: String, columns: [String] = [], materialized: Bool? = nil, statement: Statement,
                position: SourcePosition = .unknown) {
        self.name = name
        self.columns = columns
        self.materialized = materialized
        self.statement = statement
        self.position = position
    }
}
