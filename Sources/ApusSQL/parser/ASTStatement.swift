/// One SQL statement: the parser's output, the binder's input.
///
/// Every case wraps a struct, so new clauses can be added to a statement without breaking
/// `switch` statements over `Statement`. `description` prints the statement back as canonical SQL
/// (see `Deparser`).
public indirect enum Statement: Sendable, Hashable {
    /// SELECT, VALUES, TABLE, set operations, with optional WITH.
    case query(Query)
    /// INSERT.
    case insert(InsertStatement)
    /// UPDATE.
    case update(UpdateStatement)
    /// DELETE.
    case delete(DeleteStatement)
    /// CREATE TABLE with columns.
    case createTable(CreateTableStatement)
    /// CREATE TABLE ... AS query.
    case createTableAs(CreateTableAsStatement)
    /// CREATE INDEX.
    case createIndex(CreateIndexStatement)
    /// CREATE [OR REPLACE] VIEW.
    case createView(CreateViewStatement)
    /// CREATE SCHEMA.
    case createSchema(CreateSchemaStatement)
    /// ALTER SCHEMA.
    case alterSchema(AlterSchemaStatement)
    /// CREATE SEQUENCE.
    case createSequence(CreateSequenceStatement)
    /// ALTER SEQUENCE.
    case alterSequence(AlterSequenceStatement)
    /// CREATE EXTENSION.
    case createExtension(CreateExtensionStatement)
    /// DROP TABLE/INDEX/VIEW/SCHEMA/SEQUENCE/EXTENSION.
    case drop(DropStatement)
    /// ALTER TABLE.
    case alterTable(AlterTableStatement)
    /// TRUNCATE.
    case truncate(TruncateStatement)
    /// COMMENT ON.
    case comment(CommentStatement)
    /// BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, SET TRANSACTION.
    case transaction(TransactionStatement)
    /// SET name = value, SET TIME ZONE.
    case set(SetStatement)
    /// SHOW name | ALL.
    case show(ShowStatement)
    /// RESET name | ALL.
    case reset(ResetStatement)
    /// PREPARE name [(types)] AS statement.
    case prepare(PrepareStatement)
    /// EXECUTE name [(args)].
    case execute(ExecuteStatement)
    /// DEALLOCATE [PREPARE] name | ALL.
    case deallocate(DeallocateStatement)
    /// EXPLAIN [ANALYZE] [VERBOSE] [(options)] statement.
    case explain(ExplainStatement)
    /// ANALYZE [tables].
    case analyze(AnalyzeStatement)
    /// VACUUM [(options)] [tables]: accepted, a no-op for the engine.
    case vacuum(VacuumStatement)
    /// COPY.
    case copy(CopyStatement)
    /// REFRESH MATERIALIZED VIEW.
    case refreshMaterializedView(RefreshMaterializedViewStatement)
    /// CREATE ROLE/USER/GROUP.
    case createRole(CreateRoleStatement)
    /// ALTER ROLE/USER.
    case alterRole(AlterRoleStatement)
    /// DROP ROLE/USER/GROUP.
    case dropRole(DropRoleStatement)
    /// GRANT privileges ON objects TO roles, or GRANT role TO role.
    case grant(GrantStatement)
    /// REVOKE.
    case revoke(RevokeStatement)
    /// DECLARE name CURSOR FOR query.
    case declareCursor(DeclareCursorStatement)
    /// FETCH or MOVE.
    case fetch(FetchStatement)
    /// CLOSE name | ALL.
    case closeCursor(CloseCursorStatement)
    /// UNLISTEN channel | *: the channel's name, nil for `*`.
    case unlisten(String?)
    /// DISCARD ALL | PLANS | TEMP | TEMPORARY | SEQUENCES (lower-cased).
    case discard(String)
}

/// `DECLARE name [BINARY] [ASENSITIVE | INSENSITIVE] [[NO] SCROLL] CURSOR [{WITH | WITHOUT} HOLD] FOR query`.
public struct DeclareCursorStatement: Sendable, Hashable {
    /// The cursor's name.
    public var name: String
    /// BINARY: rows go out in binary format on the wire.
    public var binary: Bool
    /// SCROLL (true), NO SCROLL (false), or neither (nil: scrolling allowed, as PostgreSQL does for plans that can).
    public var scroll: Bool?
    /// WITH HOLD: the cursor outlives the transaction that commits it.
    public var hold: Bool
    /// The query.
    public var query: Query

    /// Makes the statement.
    public init(name: String, binary: Bool = false, scroll: Bool? = nil, hold: Bool = false, query: Query) {
        self.name = name
        self.binary = binary
        self.scroll = scroll
        self.hold = hold
        self.query = query
    }
}

/// Where FETCH and MOVE go.
public enum FetchDirection: Sendable, Hashable {
    /// NEXT, FORWARD, FORWARD n, n (n may be 0 or negative), ALL, FORWARD ALL: `nil` count means ALL.
    case forward(Int64?)
    /// PRIOR, BACKWARD, BACKWARD n, BACKWARD ALL: `nil` count means ALL.
    case backward(Int64?)
    /// FIRST (1), LAST (-1), ABSOLUTE n.
    case absolute(Int64)
    /// RELATIVE n.
    case relative(Int64)
}

/// `FETCH [direction] [FROM | IN] name` and `MOVE [direction] [FROM | IN] name`.
public struct FetchStatement: Sendable, Hashable {
    /// MOVE: position the cursor without returning rows.
    public var move: Bool
    /// The direction and count.
    public var direction: FetchDirection
    /// The cursor's name.
    public var name: String

    /// Makes the statement.
    public init(move: Bool = false, direction: FetchDirection = .forward(1), name: String) {
        self.move = move
        self.direction = direction
        self.name = name
    }
}

/// `CLOSE name | ALL`.
public struct CloseCursorStatement: Sendable, Hashable {
    /// The cursor's name; nil for ALL.
    public var name: String?

    /// Makes the statement.
    public init(name: String?) { self.name = name }
}

/// The value of an option in `WITH (...)`, COPY, EXPLAIN, VACUUM and SET lists.
public enum OptionValue: Sendable, Hashable {
    /// A number as written, with a leading `-` when negative.
    case number(String)
    /// A string literal.
    case string(String)
    /// A bare word: an identifier or keyword (`on`, `csv`, `true`), lower-cased unless quoted.
    case word(String)
}

/// `name [value]` or `name = value` in an option list.
public struct GenericOption: Sendable, Hashable {
    /// The option name, lower-cased; dotted for namespaced storage parameters (`toast.x`).
    public var name: String
    /// The value, if given.
    public var value: OptionValue?

    /// Makes an option.
    public init(_ name: String, _ value: OptionValue? = nil) {
        self.name = name
        self.value = value
    }
}

/// `SET column = value` or `SET (a, b) = (row or subquery)` in UPDATE and ON CONFLICT DO UPDATE.
public enum SetClause: Sendable, Hashable {
    /// `column = value`; the value may be `.defaultValue`.
    case single(column: String, value: Expr, position: SourcePosition)
    /// `(a, b) = (x, y)`, `(a, b) = ROW(...)` or `(a, b) = (subquery)`.
    case multiple(columns: [String], value: Expr, position: SourcePosition)
}

/// Where INSERT's rows come from.
public enum InsertSource: Sendable, Hashable {
    /// `VALUES (...)` or a query.
    case query(Query)
    /// `DEFAULT VALUES`.
    case defaultValues
}

/// The target of `ON CONFLICT`.
public enum ConflictTarget: Sendable, Hashable {
    /// `(col, (expr), ...) [WHERE predicate]`: matches a unique index.
    case columns([IndexElement], predicate: Expr?)
    /// `ON CONSTRAINT name`.
    case constraint(String)
}

/// What `ON CONFLICT` does.
public enum ConflictAction: Sendable, Hashable {
    /// `DO NOTHING`.
    case nothing
    /// `DO UPDATE SET ... [WHERE ...]`.
    case update([SetClause], whereClause: Expr?)
}

/// `ON CONFLICT [target] DO ...`.
public struct OnConflict: Sendable, Hashable {
    /// The conflict target; required for DO UPDATE (checked by the binder, as in PostgreSQL's analyzer).
    public var target: ConflictTarget?
    /// The action.
    public var action: ConflictAction

    /// Makes the clause.
    public init(target: ConflictTarget?, action: ConflictAction) {
        self.target = target
        self.action = action
    }
}

/// `[WITH ...] INSERT INTO t [AS alias] [(cols)] source [ON CONFLICT ...] [RETURNING ...]`.
public struct InsertStatement: Sendable, Hashable {
    /// The WITH clause.
    public var with: WithClause?
    /// The target table.
    public var table: QualifiedName
    /// `AS alias`.
    public var alias: String?
    /// The target columns; empty for all, in order.
    public var columns: [String]
    /// The rows.
    public var source: InsertSource
    /// `ON CONFLICT`.
    public var onConflict: OnConflict?
    /// `RETURNING`.
    public var returning: [SelectItem]

    /// Makes the statement.
    public init(with: WithClause? = nil, table: QualifiedName, alias: String? = nil, columns: [String] = [],
                source: InsertSource, onConflict: OnConflict? = nil, returning: [SelectItem] = []) {
        self.with = with
        self.table = table
        self.alias = alias
        self.columns = columns
        self.source = source
        self.onConflict = onConflict
        self.returning = returning
    }
}

/// `[WITH ...] UPDATE [ONLY] t [[AS] alias] SET ... [FROM ...] [WHERE ...] [RETURNING ...]`.
public struct UpdateStatement: Sendable, Hashable {
    /// The WITH clause.
    public var with: WithClause?
    /// The target table and its alias.
    public var table: RelationRef
    /// The assignments, in order.
    public var assignments: [SetClause]
    /// `FROM` items.
    public var from: [TableRef]
    /// `WHERE`.
    public var whereClause: Expr?
    /// `RETURNING`.
    public var returning: [SelectItem]

    /// Makes the statement.
    public init(with: WithClause? = nil, table: RelationRef, assignments: [SetClause], from: [TableRef] = [],
                whereClause: Expr? = nil, returning: [SelectItem] = []) {
        self.with = with
        self.table = table
        self.assignments = assignments
        self.from = from
        self.whereClause = whereClause
        self.returning = returning
    }
}

/// `[WITH ...] DELETE FROM [ONLY] t [[AS] alias] [USING ...] [WHERE ...] [RETURNING ...]`.
public struct DeleteStatement: Sendable, Hashable {
    /// The WITH clause.
    public var with: WithClause?
    /// The target table and its alias.
    public var table: RelationRef
    /// `USING` items.
    public var using: [TableRef]
    /// `WHERE`.
    public var whereClause: Expr?
    /// `RETURNING`.
    public var returning: [SelectItem]

    /// Makes the statement.
    public init(with: WithClause? = nil, table: RelationRef, using: [TableRef] = [], whereClause: Expr? = nil,
                returning: [SelectItem] = []) {
        self.with = with
        self.table = table
        self.using = using
        self.whereClause = whereClause
        self.returning = returning
    }
}

/// Transaction isolation levels.
public enum IsolationLevel: Sendable, Hashable {
    /// `SERIALIZABLE`.
    case serializable
    /// `REPEATABLE READ`.
    case repeatableRead
    /// `READ COMMITTED`.
    case readCommitted
    /// `READ UNCOMMITTED`.
    case readUncommitted
}

/// One transaction mode of BEGIN or SET TRANSACTION.
public enum TransactionMode: Sendable, Hashable {
    /// `ISOLATION LEVEL ...`.
    case isolation(IsolationLevel)
    /// `READ ONLY` (true) or `READ WRITE` (false).
    case readOnly(Bool)
    /// `DEFERRABLE` (true) or `NOT DEFERRABLE` (false).
    case deferrable(Bool)
}

/// Transaction control.
public enum TransactionStatement: Sendable, Hashable {
    /// `BEGIN [WORK|TRANSACTION] [modes]`, `START TRANSACTION [modes]`.
    case begin([TransactionMode])
    /// `COMMIT`, `END`; `chain` for `AND CHAIN`.
    case commit(chain: Bool)
    /// `ROLLBACK`, `ABORT`; `chain` for `AND CHAIN`.
    case rollback(chain: Bool)
    /// `SAVEPOINT name`.
    case savepoint(String)
    /// `RELEASE [SAVEPOINT] name`.
    case release(String)
    /// `ROLLBACK [WORK|TRANSACTION] TO [SAVEPOINT] name`.
    case rollbackTo(String)
    /// `SET TRANSACTION modes`.
    case setTransaction([TransactionMode])
    /// SET CONSTRAINTS {ALL | name, ...} {DEFERRED | IMMEDIATE}; `names` nil for ALL.
    case setConstraints(names: [String]?, deferred: Bool)
}

/// `SET [SESSION|LOCAL] name {TO|=} value, ... | DEFAULT`; `SET TIME ZONE x` sets `timezone`.
public struct SetStatement: Sendable, Hashable {
    /// `SET LOCAL`: until the end of the transaction.
    public var isLocal: Bool
    /// The parameter name, lower-cased (dotted for custom parameters).
    public var name: String
    /// The values; empty means `DEFAULT` (`SET TIME ZONE LOCAL` also resets to the default).
    public var values: [OptionValue]

    /// Makes the statement.
    public init(isLocal: Bool = false, name: String, values: [OptionValue]) {
        self.isLocal = isLocal
        self.name = name
        self.values = values
    }
}

/// `SHOW name`, `SHOW ALL`.
public struct ShowStatement: Sendable, Hashable {
    /// The parameter, lower-cased; nil for `ALL`.
    public var name: String?

    /// Makes the statement.
    public init(name: String?) { self.name = name }
}

/// `RESET name`, `RESET ALL`.
public struct ResetStatement: Sendable, Hashable {
    /// The parameter, lower-cased; nil for `ALL`.
    public var name: String?

    /// Makes the statement.
    public init(name: String?) { self.name = name }
}

/// `PREPARE name [(types)] AS statement`.
public struct PrepareStatement: Sendable, Hashable {
    /// The prepared statement's name.
    public var name: String
    /// Declared parameter types.
    public var parameterTypes: [TypeName]
    /// The statement (a query or DML).
    public var statement: Statement

    /// Makes the statement.
    public init(name: String, parameterTypes: [TypeName] = [], statement: Statement) {
        self.name = name
        self.parameterTypes = parameterTypes
        self.statement = statement
    }
}

/// `EXECUTE name [(args)]`.
public struct ExecuteStatement: Sendable, Hashable {
    /// The prepared statement's name.
    public var name: String
    /// The argument values.
    public var arguments: [Expr]

    /// Makes the statement.
    public init(name: String, arguments: [Expr] = []) {
        self.name = name
        self.arguments = arguments
    }
}

/// `DEALLOCATE [PREPARE] name | ALL`.
public struct DeallocateStatement: Sendable, Hashable {
    /// The name; nil for `ALL`.
    public var name: String?

    /// Makes the statement.
    public init(name: String?) { self.name = name }
}

/// `EXPLAIN [ANALYZE] [VERBOSE] statement` or `EXPLAIN (option [value], ...) statement`.
///
/// The old keyword form is normalized into options: `EXPLAIN ANALYZE VERBOSE x` has the options
/// `analyze` and `verbose`, like `EXPLAIN (ANALYZE, VERBOSE) x`.
public struct ExplainStatement: Sendable, Hashable {
    /// Options, lower-cased, in order.
    public var options: [GenericOption]
    /// The explained statement.
    public var statement: Statement

    /// Makes the statement.
    public init(options: [GenericOption] = [], statement: Statement) {
        self.options = options
        self.statement = statement
    }
}

/// `ANALYZE [VERBOSE] [table [(cols)], ...]`.
public struct AnalyzeStatement: Sendable, Hashable {
    /// `VERBOSE`.
    public var verbose: Bool
    /// The tables; empty for all.
    public var tables: [QualifiedName]

    /// Makes the statement.
    public init(verbose: Bool = false, tables: [QualifiedName] = []) {
        self.verbose = verbose
        self.tables = tables
    }
}

/// `VACUUM [(options)] [tables]`, accepted for compatibility.
public struct VacuumStatement: Sendable, Hashable {
    /// Options, including the old keyword forms (`FULL`, `FREEZE`, `VERBOSE`, `ANALYZE`).
    public var options: [GenericOption]
    /// The tables; empty for all.
    public var tables: [QualifiedName]

    /// Makes the statement.
    public init(options: [GenericOption] = [], tables: [QualifiedName] = []) {
        self.options = options
        self.tables = tables
    }
}

/// What COPY reads or writes.
public enum CopySource: Sendable, Hashable {
    /// `table [(cols)]`.
    case table(QualifiedName, columns: [String])
    /// `(query)` (COPY TO only).
    case query(Statement)
}

/// Where COPY's data goes or comes from.
public enum CopyEndpoint: Sendable, Hashable {
    /// `STDIN` / `STDOUT`: the client, over the COPY sub-protocol.
    case client
    /// `'file name'` on the server.
    case file(String)
    /// `PROGRAM 'command'`.
    case program(String)
}

/// `COPY source FROM|TO endpoint [WITH] (options)`; old-style options (`CSV HEADER`) are
/// normalized into the generic list (`format csv`, `header`).
public struct CopyStatement: Sendable, Hashable {
    /// The table or query.
    public var source: CopySource
    /// `FROM` (true) or `TO` (false).
    public var isFrom: Bool
    /// The data endpoint.
    public var endpoint: CopyEndpoint
    /// Options, lower-cased names.
    public var options: [GenericOption]
    /// `WHERE` filter of COPY FROM.
    public var whereClause: Expr?

    /// Makes the statement.
    public init(source: CopySource, isFrom: Bool, endpoint: CopyEndpoint, options: [GenericOption] = [],
                whereClause: Expr? = nil) {
        self.source = source
        self.isFrom = isFrom
        self.endpoint = endpoint
        self.options = options
        self.whereClause = whereClause
    }
}

/// `REFRESH MATERIALIZED VIEW [CONCURRENTLY] name [WITH [NO] DATA]`.
public struct RefreshMaterializedViewStatement: Sendable, Hashable {
    public var name: QualifiedName
    public var concurrently: Bool
    /// False for `WITH NO DATA`: the view is emptied and left unpopulated.
    public var withData: Bool

    public init(name: QualifiedName, concurrently: Bool = false, withData: Bool = true) {
        self.name = name
        self.concurrently = concurrently
        self.withData = withData
    }
}
