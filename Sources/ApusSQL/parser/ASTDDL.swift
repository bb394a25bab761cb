/// `ON DELETE` / `ON UPDATE` actions of a foreign key.
public enum ReferentialAction: Sendable, Hashable {
    /// `NO ACTION` (the default).
    case noAction
    /// `RESTRICT`.
    case restrict
    /// `CASCADE`.
    case cascade
    /// `SET NULL`.
    case setNull
    /// `SET DEFAULT`.
    case setDefault
}

/// `REFERENCES table [(cols)] [ON DELETE a] [ON UPDATE a]`.
public struct ForeignKeyReference: Sendable, Hashable {
    /// The referenced table.
    public var table: QualifiedName
    /// The referenced columns; empty for the primary key.
    public var columns: [String]
    /// `ON DELETE`.
    public var onDelete: ReferentialAction?
    /// `ON UPDATE`.
    public var onUpdate: ReferentialAction?
    /// `DEFERRABLE`: checks may wait until commit (`SET CONSTRAINTS`).
    public var deferrable = false
    /// `INITIALLY DEFERRED`: checks wait until commit unless `SET CONSTRAINTS ... IMMEDIATE`.
    public var initiallyDeferred = false

    /// Makes a reference.
    public init(table: QualifiedName, columns: [String] = [], onDelete: ReferentialAction? = nil,
                onUpdate: ReferentialAction? = nil) {
        self.table = table
        self.columns = columns
        self.onDelete = onDelete
        self.onUpdate = onUpdate
    }
}

/// One option of CREATE/ALTER SEQUENCE or of an identity column.
public enum SequenceOption: Sendable, Hashable {
    /// `AS type`.
    case asType(TypeName)
    /// `INCREMENT [BY] n`.
    case increment(Int64)
    /// `MINVALUE n`; nil for `NO MINVALUE`.
    case minValue(Int64?)
    /// `MAXVALUE n`; nil for `NO MAXVALUE`.
    case maxValue(Int64?)
    /// `START [WITH] n`.
    case start(Int64)
    /// `RESTART [[WITH] n]` (ALTER only).
    case restart(Int64?)
    /// `CACHE n`.
    case cache(Int64)
    /// `CYCLE` (true) or `NO CYCLE` (false).
    case cycle(Bool)
    /// `OWNED BY table.column`; nil for `OWNED BY NONE`.
    case ownedBy(QualifiedName?)
}

/// What a column constraint says.
public enum ColumnConstraintKind: Sendable, Hashable {
    /// `NOT NULL`.
    case notNull
    /// `NULL`.
    case null
    /// `DEFAULT expr`.
    case defaultValue(Expr)
    /// `PRIMARY KEY`.
    case primaryKey
    /// `UNIQUE`.
    case unique
    /// `CHECK (expr)`.
    case check(Expr)
    /// `REFERENCES ...`.
    case references(ForeignKeyReference)
    /// `GENERATED {ALWAYS|BY DEFAULT} AS IDENTITY [(options)]`.
    case identity(always: Bool, options: [SequenceOption])
    /// `GENERATED ALWAYS AS (expr) STORED`.
    case generated(Expr)
}

/// `[CONSTRAINT name] kind` on a column.
public struct ColumnConstraint: Sendable, Hashable {
    /// The constraint's name.
    public var name: String?
    /// The constraint.
    public var kind: ColumnConstraintKind
    /// Where it starts.
    public var position: SourcePosition

    /// Makes a constraint.
    public init(name: String? = nil, _ kind: ColumnConstraintKind, position: SourcePosition = .unknown) {
        self.name = name
        self.kind = kind
        self.position = position
    }
}

/// A column definition in CREATE TABLE or ALTER TABLE ADD COLUMN.
public struct ColumnDefinition: Sendable, Hashable {
    /// The column's name.
    public var name: String
    /// Its type.
    public var type: TypeName
    /// `COLLATE name`.
    public var collation: QualifiedName?
    /// Its constraints, in order.
    public var constraints: [ColumnConstraint]
    /// Where the name is.
    public var position: SourcePosition

    /// Makes a definition.
    public init(name: String, type: TypeName, collation: QualifiedName? = nil, constraints: [ColumnConstraint] = [],
                position: SourcePosition = .unknown) {
        self.name = name
        self.type = type
        self.collation = collation
        self.constraints = constraints
        self.position = position
    }
}

/// What a table constraint says.
public enum TableConstraintKind: Sendable, Hashable {
    /// `PRIMARY KEY (cols) [INCLUDE (cols)]`.
    case primaryKey([String], include: [String])
    /// `UNIQUE [NULLS [NOT] DISTINCT] (cols) [INCLUDE (cols)]`.
    case unique([String], include: [String])
    /// `CHECK (expr)`.
    case check(Expr)
    /// `FOREIGN KEY (cols) REFERENCES ...`.
    case foreignKey([String], ForeignKeyReference)
}

/// `[CONSTRAINT name] kind` in a table's element list or ALTER TABLE ADD.
public struct TableConstraint: Sendable, Hashable {
    /// The constraint's name.
    public var name: String?
    /// The constraint.
    public var kind: TableConstraintKind
    /// Where it starts.
    public var position: SourcePosition

    /// Makes a constraint.
    public init(name: String? = nil, _ kind: TableConstraintKind, position: SourcePosition = .unknown) {
        self.name = name
        self.kind = kind
        self.position = position
    }
}

/// An element of CREATE TABLE's parenthesized list.
public enum TableElement: Sendable, Hashable {
    /// A column.
    case column(ColumnDefinition)
    /// A table constraint.
    case constraint(TableConstraint)
}

/// `CREATE [TEMP] TABLE [IF NOT EXISTS] name (elements) [WITH (params)]`.
public struct CreateTableStatement: Sendable, Hashable {
    /// The table's name.
    public var name: QualifiedName
    /// `TEMP` / `TEMPORARY`.
    public var temporary: Bool
    /// `UNLOGGED` (accepted).
    public var unlogged: Bool
    /// `IF NOT EXISTS`.
    public var ifNotExists: Bool
    /// Columns and table constraints in order.
    public var elements: [TableElement]
    /// `WITH (storage parameters)`.
    public var options: [GenericOption]

    /// Makes the statement.
    public init(name: QualifiedName, temporary: Bool = false, unlogged: Bool = false, ifNotExists: Bool = false,
                elements: [TableElement], options: [GenericOption] = []) {
        self.name = name
        self.temporary = temporary
        self.unlogged = unlogged
        self.ifNotExists = ifNotExists
        self.elements = elements
        self.options = options
    }
}

/// `CREATE [TEMP] TABLE [IF NOT EXISTS] name [(cols)] AS query [WITH [NO] DATA]`.
public struct CreateTableAsStatement: Sendable, Hashable {
    /// The table's name.
    public var name: QualifiedName
    /// `TEMP` / `TEMPORARY`.
    public var temporary: Bool
    /// `IF NOT EXISTS`.
    public var ifNotExists: Bool
    /// Column names overriding the query's.
    public var columns: [String]
    /// The query.
    public var query: Query
    /// `WITH DATA` (the default) or `WITH NO DATA`.
    public var withData: Bool

    /// Makes the statement.
    public init(name: QualifiedName, temporary: Bool = false, ifNotExists: Bool = false, columns: [String] = [],
                query: Query, withData: Bool = true) {
        self.name = name
        self.temporary = temporary
        self.ifNotExists = ifNotExists
        self.columns = columns
        self.query = query
        self.withData = withData
    }
}

/// The key of an index element: a column name or a parenthesized expression.
public enum IndexKey: Sendable, Hashable {
    /// A column.
    case column(String)
    /// An expression (`(lower(email))`, or a bare function call).
    case expression(Expr)
}

/// One element of an index's key list.
public struct IndexElement: Sendable, Hashable {
    /// The key.
    public var key: IndexKey
    /// `COLLATE name`.
    public var collation: QualifiedName?
    /// The operator class (`vector_l2_ops`).
    public var opclass: QualifiedName?
    /// `ASC` / `DESC`.
    public var direction: SortDirection?
    /// `NULLS FIRST|LAST`.
    public var nulls: NullsOrder?
    /// Where the element starts.
    public var position: SourcePosition

    /// Makes an element.
    public init(_ key: IndexKey, collation: QualifiedName? = nil, opclass: QualifiedName? = nil,
                direction: SortDirection? = nil, nulls: NullsOrder? = nil, position: SourcePosition = .unknown) {
        self.key = key
        self.collation = collation
        self.opclass = opclass
        self.direction = direction
        self.nulls = nulls
        self.position = position
    }
}

/// `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] [name] ON [ONLY] table [USING method]
/// (elements) [INCLUDE (cols)] [WITH (params)] [WHERE predicate]`.
public struct CreateIndexStatement: Sendable, Hashable {
    /// The index's name; nil lets the system choose.
    public var name: String?
    /// The indexed table.
    public var table: QualifiedName
    /// `UNIQUE`.
    public var unique: Bool
    /// `CONCURRENTLY`.
    public var concurrently: Bool
    /// `IF NOT EXISTS`.
    public var ifNotExists: Bool
    /// `USING method` (`btree`, `hash`, `gin`, `hnsw`, `ivfflat`), lower-cased.
    public var method: String?
    /// The key elements.
    public var elements: [IndexElement]
    /// `INCLUDE (cols)`.
    public var include: [String]
    /// `WITH (params)`.
    public var options: [GenericOption]
    /// `WHERE predicate` of a partial index.
    public var whereClause: Expr?

    /// Makes the statement.
    public init(name: String?, table: QualifiedName, unique: Bool = false, concurrently: Bool = false,
                ifNotExists: Bool = false, method: String? = nil, elements: [IndexElement], include: [String] = [],
                options: [GenericOption] = [], whereClause: Expr? = nil) {
        self.name = name
        self.table = table
        self.unique = unique
        self.concurrently = concurrently
        self.ifNotExists = ifNotExists
        self.method = method
        self.elements = elements
        self.include = include
        self.options = options
        self.whereClause = whereClause
    }
}

/// `CREATE [OR REPLACE] [TEMP] VIEW name [(cols)] AS query` and
/// `CREATE MATERIALIZED VIEW [IF NOT EXISTS] name [(cols)] AS query [WITH [NO] DATA]`.
public struct CreateViewStatement: Sendable, Hashable {
    /// The view's name.
    public var name: QualifiedName
    /// `OR REPLACE`.
    public var orReplace: Bool
    /// `TEMP`.
    public var temporary: Bool
    /// `MATERIALIZED`: the result is stored and refreshed on demand.
    public var materialized: Bool
    /// `IF NOT EXISTS` (materialized views only).
    public var ifNotExists: Bool
    /// `WITH NO DATA` (materialized views only): created unpopulated.
    public var withNoData: Bool
    /// Column names.
    public var columns: [String]
    /// The defining query.
    public var query: Query

    /// Makes the statement.
    public init(name: QualifiedName, orReplace: Bool = false, temporary: Bool = false, materialized: Bool = false,
                ifNotExists: Bool = false, withNoData: Bool = false, columns: [String] = [], query: Query) {
        self.name = name
        self.orReplace = orReplace
        self.temporary = temporary
        self.materialized = materialized
        self.ifNotExists = ifNotExists
        self.withNoData = withNoData
        self.columns = columns
        self.query = query
    }
}

/// `CREATE SCHEMA [IF NOT EXISTS] name [AUTHORIZATION role] [elements]`.
public struct CreateSchemaStatement: Sendable, Hashable {
    /// The schema's name; nil when only `AUTHORIZATION role` names it.
    public var name: String?
    /// `IF NOT EXISTS`.
    public var ifNotExists: Bool
    /// `AUTHORIZATION role`.
    public var authorization: String?
    /// Schema elements: CREATE TABLE, VIEW, INDEX and SEQUENCE statements made in the new schema.
    public var elements: [Statement]

    /// Makes the statement.
    public init(name: String?, ifNotExists: Bool = false, authorization: String? = nil, elements: [Statement] = []) {
        self.name = name
        self.ifNotExists = ifNotExists
        self.authorization = authorization
        self.elements = elements
    }
}

/// `ALTER SCHEMA name RENAME TO new | OWNER TO role`.
public struct AlterSchemaStatement: Sendable, Hashable {
    /// What ALTER SCHEMA does.
    public enum Action: Sendable, Hashable {
        /// `RENAME TO new`.
        case rename(String)
        /// `OWNER TO role`.
        case owner(String)
    }

    /// The schema's name.
    public var name: String
    /// The change.
    public var action: Action

    /// Makes the statement.
    public init(name: String, action: Action) {
        self.name = name
        self.action = action
    }
}

/// `CREATE [TEMP] SEQUENCE [IF NOT EXISTS] name [options]`.
public struct CreateSequenceStatement: Sendable, Hashable {
    /// The sequence's name.
    public var name: QualifiedName
    /// `TEMP`.
    public var temporary: Bool
    /// `IF NOT EXISTS`.
    public var ifNotExists: Bool
    /// Options in order.
    public var options: [SequenceOption]

    /// Makes the statement.
    public init(name: QualifiedName, temporary: Bool = false, ifNotExists: Bool = false,
                options: [SequenceOption] = []) {
        self.name = name
        self.temporary = temporary
        self.ifNotExists = ifNotExists
        self.options = options
    }
}

/// `ALTER SEQUENCE [IF EXISTS] name options`.
public struct AlterSequenceStatement: Sendable, Hashable {
    /// The sequence's name.
    public var name: QualifiedName
    /// `IF EXISTS`.
    public var ifExists: Bool
    /// Options in order.
    public var options: [SequenceOption]

    /// Makes the statement.
    public init(name: QualifiedName, ifExists: Bool = false, options: [SequenceOption]) {
        self.name = name
        self.ifExists = ifExists
        self.options = options
    }
}

/// `CREATE EXTENSION [IF NOT EXISTS] name [WITH] [SCHEMA s] [VERSION v] [CASCADE]`.
public struct CreateExtensionStatement: Sendable, Hashable {
    /// The extension's name.
    public var name: String
    /// `IF NOT EXISTS`.
    public var ifNotExists: Bool
    /// `SCHEMA s`, `VERSION v`, `CASCADE` as options.
    public var options: [GenericOption]

    /// Makes the statement.
    public init(name: String, ifNotExists: Bool = false, options: [GenericOption] = []) {
        self.name = name
        self.ifNotExists = ifNotExists
        self.options = options
    }
}

/// The kinds of object DROP, COMMENT ON and GRANT name.
public enum ObjectKind: String, Sendable, Hashable {
    /// TABLE.
    case table = "TABLE"
    /// INDEX.
    case index = "INDEX"
    /// VIEW.
    case view = "VIEW"
    /// MATERIALIZED VIEW.
    case materializedView = "MATERIALIZED VIEW"
    /// SCHEMA.
    case schema = "SCHEMA"
    /// SEQUENCE.
    case sequence = "SEQUENCE"
    /// EXTENSION.
    case `extension` = "EXTENSION"
    /// COLUMN (COMMENT ON only).
    case column = "COLUMN"
    /// DATABASE (COMMENT ON and GRANT).
    case database = "DATABASE"
    /// FUNCTION (GRANT only).
    case function = "FUNCTION"
    /// TYPE.
    case type = "TYPE"
}

/// `CASCADE` or `RESTRICT`.
public enum DropBehavior: Sendable, Hashable {
    /// `CASCADE`.
    case cascade
    /// `RESTRICT`.
    case restrict
}

/// `DROP kind [CONCURRENTLY] [IF EXISTS] names [CASCADE|RESTRICT]`.
public struct DropStatement: Sendable, Hashable {
    /// The kind of object.
    public var kind: ObjectKind
    /// `CONCURRENTLY` (indexes).
    public var concurrently: Bool
    /// `IF EXISTS`.
    public var ifExists: Bool
    /// The objects.
    public var names: [QualifiedName]
    /// `CASCADE` / `RESTRICT`.
    public var behavior: DropBehavior?

    /// Makes the statement.
    public init(kind: ObjectKind, concurrently: Bool = false, ifExists: Bool = false, names: [QualifiedName],
                behavior: DropBehavior? = nil) {
        self.kind = kind
        self.concurrently = concurrently
        self.ifExists = ifExists
        self.names = names
        self.behavior = behavior
    }
}

/// One action of ALTER TABLE.
public enum AlterTableAction: Sendable, Hashable {
    /// `ADD [COLUMN] [IF NOT EXISTS] definition`.
    case addColumn(ColumnDefinition, ifNotExists: Bool)
    /// `DROP [COLUMN] [IF EXISTS] name [CASCADE|RESTRICT]`.
    case dropColumn(String, ifExists: Bool, behavior: DropBehavior?)
    /// `RENAME [COLUMN] a TO b`.
    case renameColumn(String, to: String)
    /// `RENAME TO name`.
    case renameTable(to: String)
    /// `RENAME CONSTRAINT a TO b`.
    case renameConstraint(String, to: String)
    /// `ALTER [COLUMN] c SET DEFAULT expr`.
    case setDefault(column: String, Expr)
    /// `ALTER [COLUMN] c DROP DEFAULT`.
    case dropDefault(column: String)
    /// `ALTER [COLUMN] c SET NOT NULL`.
    case setNotNull(column: String)
    /// `ALTER [COLUMN] c DROP NOT NULL`.
    case dropNotNull(column: String)
    /// `ALTER [COLUMN] c [SET DATA] TYPE t [COLLATE c] [USING expr]`.
    case alterType(column: String, TypeName, using: Expr?)
    /// `ADD table_constraint`.
    case addConstraint(TableConstraint)
    /// `DROP CONSTRAINT [IF EXISTS] name [CASCADE|RESTRICT]`.
    case dropConstraint(String, ifExists: Bool, behavior: DropBehavior?)
    /// `SET SCHEMA name`.
    case setSchema(String)
    /// `OWNER TO role` (also ALTER SEQUENCE / ALTER VIEW ... OWNER TO, which parse to this).
    case ownerTo(String)
    /// `ALTER [COLUMN] c ADD GENERATED {ALWAYS | BY DEFAULT} AS IDENTITY [(options)]` (pg_dump's form).
    case addIdentity(column: String, options: [SequenceOption])
}

/// `ALTER TABLE [IF EXISTS] [ONLY] name action, ...`.
public struct AlterTableStatement: Sendable, Hashable {
    /// The table.
    public var name: QualifiedName
    /// `IF EXISTS`.
    public var ifExists: Bool
    /// The actions, in order.
    public var actions: [AlterTableAction]

    /// Makes the statement.
    public init(name: QualifiedName, ifExists: Bool = false, actions: [AlterTableAction]) {
        self.name = name
        self.ifExists = ifExists
        self.actions = actions
    }
}

/// `TRUNCATE [TABLE] names [RESTART|CONTINUE IDENTITY] [CASCADE|RESTRICT]`.
public struct TruncateStatement: Sendable, Hashable {
    /// The tables.
    public var tables: [QualifiedName]
    /// `RESTART IDENTITY`.
    public var restartIdentity: Bool
    /// `CASCADE` / `RESTRICT`.
    public var behavior: DropBehavior?

    /// Makes the statement.
    public init(tables: [QualifiedName], restartIdentity: Bool = false, behavior: DropBehavior? = nil) {
        self.tables = tables
        self.restartIdentity = restartIdentity
        self.behavior = behavior
    }
}

/// `COMMENT ON kind name IS 'text' | NULL`.
public struct CommentStatement: Sendable, Hashable {
    /// The kind of object.
    public var kind: ObjectKind
    /// The object (for COLUMN, `table.column`).
    public var name: QualifiedName
    /// The comment; nil for `NULL` (removes it).
    public var comment: String?

    /// Makes the statement.
    public init(kind: ObjectKind, name: QualifiedName, comment: String?) {
        self.kind = kind
        self.name = name
        self.comment = comment
    }
}

/// A role attribute of CREATE/ALTER ROLE.
public enum RoleOption: Sendable, Hashable {
    /// `LOGIN` / `NOLOGIN`, `SUPERUSER` / `NOSUPERUSER`, `CREATEDB`, `CREATEROLE`, `INHERIT`,
    /// `REPLICATION`, `BYPASSRLS` and their `NO` forms: the lower-cased attribute and whether it is on.
    case flag(String, Bool)
    /// `[ENCRYPTED] PASSWORD 'x'`; nil for `PASSWORD NULL`.
    case password(String?)
    /// `CONNECTION LIMIT n`.
    case connectionLimit(Int64)
    /// `VALID UNTIL 'timestamp'`.
    case validUntil(String)
    /// `IN ROLE roles`.
    case inRole([String])
    /// `ROLE roles` (members).
    case role([String])
    /// `ADMIN roles`.
    case admin([String])
}

/// `CREATE ROLE|USER|GROUP name [WITH] options`; USER implies LOGIN (kept as written in `isUser`).
public struct CreateRoleStatement: Sendable, Hashable {
    /// The role's name.
    public var name: String
    /// Written as `CREATE USER` (LOGIN by default).
    public var isUser: Bool
    /// Attributes in order.
    public var options: [RoleOption]

    /// Makes the statement.
    public init(name: String, isUser: Bool = false, options: [RoleOption] = []) {
        self.name = name
        self.isUser = isUser
        self.options = options
    }
}

/// `ALTER ROLE|USER name [WITH] options` or `ALTER ROLE name RENAME TO new`.
public struct AlterRoleStatement: Sendable, Hashable {
    /// The role's name.
    public var name: String
    /// Attributes to change.
    public var options: [RoleOption]
    /// `RENAME TO`.
    public var renameTo: String?

    /// Makes the statement.
    public init(name: String, options: [RoleOption] = [], renameTo: String? = nil) {
        self.name = name
        self.options = options
        self.renameTo = renameTo
    }
}

/// `DROP ROLE|USER|GROUP [IF EXISTS] names`.
public struct DropRoleStatement: Sendable, Hashable {
    /// `IF EXISTS`.
    public var ifExists: Bool
    /// The roles.
    public var names: [String]

    /// Makes the statement.
    public init(ifExists: Bool = false, names: [String]) {
        self.ifExists = ifExists
        self.names = names
    }
}

/// A privilege with optional column list: `SELECT (a, b)`.
public struct Privilege: Sendable, Hashable {
    /// The privilege, lower-cased (`select`, `insert`, `update`, `delete`, `truncate`, `references`,
    /// `trigger`, `usage`, `create`, `connect`, `temporary`, `execute`).
    public var name: String
    /// Columns it is limited to.
    public var columns: [String]

    /// Makes a privilege.
    public init(_ name: String, columns: [String] = []) {
        self.name = name
        self.columns = columns
    }
}

/// What GRANT and REVOKE act on.
public enum GrantTarget: Sendable, Hashable {
    /// `privileges ON [kind] objects`; `privileges` empty means `ALL [PRIVILEGES]`.
    case objects(privileges: [Privilege], kind: ObjectKind, names: [QualifiedName])
    /// `privileges ON ALL TABLES|SEQUENCES IN SCHEMA schemas`.
    case allInSchema(privileges: [Privilege], kind: ObjectKind, schemas: [String])
    /// Role membership: `GRANT role, ... TO ...`.
    case roles([String])
}

/// `GRANT target TO grantees [WITH GRANT|ADMIN OPTION]`.
public struct GrantStatement: Sendable, Hashable {
    /// What is granted.
    public var target: GrantTarget
    /// The receiving roles (`PUBLIC` is the word `public`).
    public var grantees: [String]
    /// `WITH GRANT OPTION` or, for roles, `WITH ADMIN OPTION`.
    public var withGrantOption: Bool

    /// Makes the statement.
    public init(target: GrantTarget, grantees: [String], withGrantOption: Bool = false) {
        self.target = target
        self.grantees = grantees
        self.withGrantOption = withGrantOption
    }
}

/// `REVOKE [GRANT OPTION FOR] target FROM grantees [CASCADE|RESTRICT]`.
public struct RevokeStatement: Sendable, Hashable {
    /// What is revoked.
    public var target: GrantTarget
    /// The roles losing it.
    public var grantees: [String]
    /// `GRANT OPTION FOR` / `ADMIN OPTION FOR`: only the option is revoked.
    public var grantOptionOnly: Bool
    /// `CASCADE` / `RESTRICT`.
    public var behavior: DropBehavior?

    /// Makes the statement.
    public init(target: GrantTarget, grantees: [String], grantOptionOnly: Bool = false,
                behavior: DropBehavior? = nil) {
        self.target = target
        self.grantees = grantees
        self.grantOptionOnly = grantOptionOnly
        self.behavior = behavior
    }
}
