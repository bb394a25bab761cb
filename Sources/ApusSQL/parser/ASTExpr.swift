/// Where a node came from: the 1-based character offset of its first token in the query string.
///
/// Positions are excluded from equality and hashing, so two trees are equal when they say the
/// same thing, wherever their text sat; `parse(deparse(tree)) == tree` relies on this.
/// A position of 0 marks a node built by code rather than parsed.
public struct SourcePosition: Sendable, Hashable, CustomStringConvertible {
    /// The 1-based character offset, or 0 when unknown.
    public var offset: Int

    /// Makes a position.
    public init(_ offset: Int) { self.offset = offset }

    /// A position for nodes built by code.
    public static let unknown = SourcePosition(0)

    /// Always true: positions never make two nodes differ.
    public static func == (lhs: SourcePosition, rhs: SourcePosition) -> Bool { true }
    /// Contributes nothing, consistent with `==`.
    public func hash(into hasher: inout Hasher) {}
    /// `@offset`.
    public var description: String { "@\(offset)" }
}

/// A possibly qualified name (`t`, `s.t`, `db.s.t`) with the position of its first part.
///
/// Parts are stored as written after case folding: unquoted parts lower-cased, quoted parts
/// verbatim.
public struct QualifiedName: Sendable, Hashable {
    /// The parts, outermost first; never empty.
    public var parts: [String]
    /// Where the name starts.
    public var position: SourcePosition

    /// Makes a name.
    /// - Precondition: `parts` is not empty.
    public init(_ parts: [String], position: SourcePosition = .unknown) {
        precondition(!parts.isEmpty, "a name has at least one part")
        self.parts = parts
        self.position = position
    }

    /// The last part: the object's own name.
    public var name: String { parts[parts.count - 1] }
    /// The parts before the last (schema, or catalog and schema).
    public var qualifier: [String] { Array(parts.dropLast()) }
}

/// A literal constant as written; numbers keep their text so the binder picks their type
/// (int4, int8 or numeric, as PostgreSQL does by magnitude and form).
public enum Literal: Sendable, Hashable {
    /// An integer literal's digits (no sign: `-1` is unary minus applied to `1`).
    case integer(String)
    /// A decimal or floating literal's text (`1.5`, `.5`, `1e10`).
    case numeric(String)
    /// A string literal's value, whatever its quoting.
    case string(String)
    /// `B'0101'`: the binary digits.
    case bitString(String)
    /// `X'1F'`: the hexadecimal digits.
    case hexString(String)
    /// `TRUE` or `FALSE`.
    case boolean(Bool)
    /// `NULL`.
    case null
}

/// An expression node: what it is and where it starts.
public struct Expr: Sendable, Hashable {
    /// What the expression is.
    public var kind: ExprKind
    /// The position of its first token, or, for operators, of the operator (as PostgreSQL
    /// points at the operator in "operator does not exist").
    public var position: SourcePosition

    /// Makes an expression node.
    public init(_ kind: ExprKind, position: SourcePosition = .unknown) {
        self.kind = kind
        self.position = position
    }
}

/// The quantifier of `op ANY (...)` / `op ALL (...)`; `SOME` is `ANY`.
public enum Quantifier: Sendable, Hashable {
    /// `ANY` or `SOME`.
    case any
    /// `ALL`.
    case all
}

/// The pattern-matching predicates.
public enum PatternKind: Sendable, Hashable {
    /// `LIKE` (operator `~~`).
    case like
    /// `ILIKE` (operator `~~*`).
    case ilike
    /// `SIMILAR TO`.
    case similarTo
}

/// What `IS [NOT] ...` tests.
public enum IsTest: Sendable, Hashable {
    /// `IS NULL` (also `ISNULL`, and `NOTNULL` negated).
    case null
    /// `IS TRUE`.
    case `true`
    /// `IS FALSE`.
    case `false`
    /// `IS UNKNOWN`.
    case unknown
}

/// One subscript of `a[i]` or `a[lower:upper]`.
public enum Subscript: Sendable, Hashable {
    /// `[i]`.
    case index(Expr)
    /// `[lower:upper]`, either bound optional.
    case slice(lower: Expr?, upper: Expr?)
}

/// The SQL-standard value functions that take no parentheses.
public enum SQLValueFunction: Sendable, Hashable {
    /// `CURRENT_DATE`.
    case currentDate
    /// `CURRENT_TIME [(p)]`.
    case currentTime(precision: Int?)
    /// `CURRENT_TIMESTAMP [(p)]`.
    case currentTimestamp(precision: Int?)
    /// `LOCALTIME [(p)]`.
    case localTime(precision: Int?)
    /// `LOCALTIMESTAMP [(p)]`.
    case localTimestamp(precision: Int?)
    /// `CURRENT_USER`.
    case currentUser
    /// `CURRENT_ROLE`.
    case currentRole
    /// `SESSION_USER`.
    case sessionUser
    /// `USER`.
    case user
    /// `CURRENT_SCHEMA`.
    case currentSchema
    /// `CURRENT_CATALOG`.
    case currentCatalog
}

/// The side `TRIM` removes characters from.
public enum TrimSide: Sendable, Hashable {
    /// `BOTH` (the default).
    case both
    /// `LEADING`.
    case leading
    /// `TRAILING`.
    case trailing
}

/// An argument of a function call: positional or named (`name => value`, `name := value`).
public struct FunctionArgument: Sendable, Hashable {
    /// The parameter name of a named argument.
    public var name: String?
    /// The value.
    public var value: Expr
    /// Whether it was marked `VARIADIC`.
    public var isVariadic: Bool

    /// Makes an argument.
    public init(name: String? = nil, value: Expr, isVariadic: Bool = false) {
        self.name = name
        self.value = value
        self.isVariadic = isVariadic
    }
}

/// A function call with every decoration PostgreSQL allows on it.
public struct FunctionCall: Sendable, Hashable {
    /// The function name, possibly schema-qualified.
    public var name: QualifiedName
    /// The arguments; empty for `f()` and for `count(*)`.
    public var arguments: [FunctionArgument]
    /// `count(*)`: the argument is `*`.
    public var isStar: Bool
    /// `agg(DISTINCT x)`.
    public var isDistinct: Bool
    /// `agg(x ORDER BY y)`.
    public var orderBy: [SortItem]
    /// `agg(...) WITHIN GROUP (ORDER BY y)` (ordered-set aggregates).
    public var withinGroup: [SortItem]
    /// `agg(...) FILTER (WHERE cond)`.
    public var filter: Expr?
    /// `... OVER (spec)` or `... OVER name`.
    public var over: WindowSpec?

    /// Makes a call; decorations default to absent.
    public init(name: QualifiedName, arguments: [FunctionArgument] = [], isStar: Bool = false,
                isDistinct: Bool = false, orderBy: [SortItem] = [], withinGroup: [SortItem] = [],
                filter: Expr? = nil, over: WindowSpec? = nil) {
        self.name = name
        self.arguments = arguments
        self.isStar = isStar
        self.isDistinct = isDistinct
        self.orderBy = orderBy
        self.withinGroup = withinGroup
        self.filter = filter
        self.over = over
    }
}

/// One `WHEN condition THEN result` arm of a CASE.
public struct WhenClause: Sendable, Hashable {
    /// The condition, or for a simple CASE the value compared with the operand.
    public var condition: Expr
    /// The result.
    public var result: Expr

    /// Makes an arm.
    public init(condition: Expr, result: Expr) {
        self.condition = condition
        self.result = result
    }
}

/// The kinds of expression, following PostgreSQL's raw parse tree but typed.
///
/// Operators keep their spelling (`!=` arrives as `<>`); `LIKE`, `BETWEEN`, `IN`, `IS` and the
/// special SQL forms get their own cases so the binder does not re-parse operator names.
public indirect enum ExprKind: Sendable, Hashable {
    /// A column reference: `a`, `t.a`, `s.t.a`.
    case column([String])
    /// `*` or `t.*` in a target list or row constructor.
    case star(qualifier: [String])
    /// A constant.
    case literal(Literal)
    /// `$n`.
    case parameter(Int)
    /// `type 'string'`: `DATE '2020-01-01'`, `INTERVAL '1 day'`, `int4 '1'`.
    case typedLiteral(type: TypeName, value: String)
    /// A prefix operator: `-x`, `+x`, `~x`, `@x`, `|/x`.
    case unary(op: String, operand: Expr)
    /// An infix operator other than AND/OR: arithmetic, comparison, `||`, `->`, `@>`, `<->`, ...
    case binary(op: String, left: Expr, right: Expr)
    /// `a AND b`.
    case and(Expr, Expr)
    /// `a OR b`.
    case or(Expr, Expr)
    /// `NOT a`.
    case not(Expr)
    /// `x IS [NOT] NULL|TRUE|FALSE|UNKNOWN`.
    case isTest(Expr, IsTest, negated: Bool)
    /// `a IS [NOT] DISTINCT FROM b`.
    case isDistinctFrom(Expr, Expr, negated: Bool)
    /// `x [NOT] BETWEEN [SYMMETRIC] low AND high`.
    case between(Expr, low: Expr, high: Expr, negated: Bool, symmetric: Bool)
    /// `x [NOT] IN (a, b, ...)`.
    case inList(Expr, [Expr], negated: Bool)
    /// `x [NOT] IN (subquery)`.
    case inSubquery(Expr, Query, negated: Bool)
    /// `x [NOT] LIKE|ILIKE|SIMILAR TO pattern [ESCAPE e]`.
    case pattern(PatternKind, Expr, pattern: Expr, escape: Expr?, negated: Bool)
    /// `x op ANY|ALL (subquery)`.
    case quantifiedSubquery(op: String, Expr, Quantifier, Query)
    /// `x op ANY|ALL (array expression)`.
    case quantifiedArray(op: String, Expr, Quantifier, Expr)
    /// `CAST(x AS type)` and `x::type`.
    case cast(Expr, TypeName)
    /// `x COLLATE name`.
    case collate(Expr, QualifiedName)
    /// `x AT TIME ZONE zone`.
    case atTimeZone(Expr, zone: Expr)
    /// `x[i]`, `x[a:b]`, chained: `x[1][2]`.
    case subscripts(Expr, [Subscript])
    /// `(x).field`.
    case field(Expr, String)
    /// `(x).*`.
    case fieldStar(Expr)
    /// A function call.
    case function(FunctionCall)
    /// `CASE [operand] WHEN ... THEN ... [ELSE ...] END`.
    case caseWhen(operand: Expr?, whens: [WhenClause], otherwise: Expr?)
    /// `COALESCE(a, b, ...)`.
    case coalesce([Expr])
    /// `NULLIF(a, b)`.
    case nullIf(Expr, Expr)
    /// `GREATEST(a, b, ...)`.
    case greatest([Expr])
    /// `LEAST(a, b, ...)`.
    case least([Expr])
    /// `EXISTS (subquery)`.
    case exists(Query)
    /// `(subquery)` as a scalar.
    case subquery(Query)
    /// `ARRAY(subquery)`.
    case arraySubquery(Query)
    /// `ARRAY[a, b]`; nested brackets inside (`ARRAY[[1,2],[3,4]]`) are `array` elements too.
    case array([Expr])
    /// `ROW(a, b)` (explicit) or `(a, b)` (implicit); `ROW()` is explicit and empty.
    case row([Expr], explicit: Bool)
    /// `EXTRACT(field FROM x)`; the field is lower-cased (`year`, `epoch`, ...).
    case extract(field: String, from: Expr)
    /// `POSITION(substring IN string)`.
    case position(Expr, in: Expr)
    /// `SUBSTRING(x FROM a FOR b)`; the comma form `substring(x, a, b)` is a plain function call.
    case substring(Expr, from: Expr?, for: Expr?)
    /// `TRIM([side] [characters] FROM x)`; `characters` nil trims spaces.
    case trim(TrimSide, characters: Expr?, from: Expr)
    /// `OVERLAY(x PLACING y FROM a [FOR b])`.
    case overlay(Expr, placing: Expr, from: Expr, for: Expr?)
    /// `CURRENT_DATE`, `CURRENT_USER`, ...
    case valueFunction(SQLValueFunction)
    /// `DEFAULT` as a value in INSERT's VALUES or UPDATE's SET.
    case defaultValue
}
