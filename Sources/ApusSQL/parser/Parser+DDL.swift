import ApusCore

extension Parser {
    /// Object kinds after CREATE that ApusDB recognizes but does not support.
    static let unsupportedCreateKinds: Set<String> = [
        "function", "procedure", "trigger", "type", "domain", "database", "aggregate", "operator", "rule",
        "policy", "publication", "subscription", "server", "tablespace", "collation", "conversion", "cast",
        "language", "event", "foreign", "statistics", "text", "access", "transform", "constraint",
        "default", "trusted", "procedural", "recursive",
    ]

    // MARK: - CREATE

    /// Dispatches `CREATE ...`.
    mutating func parseCreate() throws -> Statement {
        let createToken = current
        try expectKeyword("create")
        let orReplace = consumeKeywords("or", "replace")
        var temporary = false
        if consumeKeyword("temp") || consumeKeyword("temporary") {
            temporary = true
        } else if (isKeyword("local") || isKeyword("global"))
                    && (peek().isKeyword("temp") || peek().isKeyword("temporary")) {
            index += 2
            temporary = true
        }
        let unlogged = consumeKeyword("unlogged")
        let kindToken = current
        guard kindToken.kind == .identifier else { throw syntaxError() }
        if orReplace && !kindToken.isKeyword("view") {
            if Self.unsupportedCreateKinds.contains(kindToken.text) {
                throw unsupported("CREATE OR REPLACE \(kindToken.text.uppercased())", at: createToken)
            }
            throw syntaxError()
        }
        switch kindToken.text {
        case "table": return try parseCreateTable(temporary: temporary, unlogged: unlogged)
        case "unique", "index": return .createIndex(try parseCreateIndex())
        case "view": return .createView(try parseCreateView(orReplace: orReplace, temporary: temporary))
        case "materialized":
            guard !temporary, peek().isKeyword("view") else { throw syntaxError(temporary ? kindToken : peek()) }
            advance()
            return .createView(try parseCreateView(orReplace: false, temporary: false, materialized: true))
        case "schema": return .createSchema(try parseCreateSchema())
        case "sequence":
            advance()
            let ifNotExists = consumeKeywords("if", "not", "exists")
            let name = try parseQualifiedName()
            return .createSequence(CreateSequenceStatement(name: name, temporary: temporary, ifNotExists: ifNotExists,
                                                           options: try parseSequenceOptions()))
        case "extension": return .createExtension(try parseCreateExtension())
        case "role", "user", "group": return .createRole(try parseCreateRole())
        default:
            if Self.unsupportedCreateKinds.contains(kindToken.text) {
                throw unsupported("CREATE \(kindToken.text.uppercased())", at: createToken)
            }
            throw syntaxError()
        }
    }

    private mutating func parseCreateTable(temporary: Bool, unlogged: Bool) throws -> Statement {
        try expectKeyword("table")
        let ifNotExists = consumeKeywords("if", "not", "exists")
        let name = try parseQualifiedName()
        let isNameList = current.kind == .leftParen && isColId(peek())
            && (peek(2).kind == .comma || peek(2).kind == .rightParen)
        if current.kind != .leftParen || isNameList {
            let columns = isNameList ? try parseParenthesizedNames() : []
            guard isKeyword("as") else { throw syntaxError() }
            advance()
            let query = try parseQuery()
            var withData = true
            if consumeKeywords("with", "no", "data") {
                withData = false
            } else {
                _ = consumeKeywords("with", "data")
            }
            return .createTableAs(CreateTableAsStatement(name: name, temporary: temporary, ifNotExists: ifNotExists,
                                                         columns: columns, query: query, withData: withData))
        }
        try expect(.leftParen)
        var elements: [TableElement] = []
        if current.kind != .rightParen {
            repeat {
                elements.append(try parseTableElement())
            } while consume(.comma)
        }
        try expect(.rightParen)
        var statement = CreateTableStatement(name: name, temporary: temporary, unlogged: unlogged,
                                             ifNotExists: ifNotExists, elements: elements)
        if isKeyword("inherits") { throw unsupported("INHERITS") }
        if isKeywords("partition", "by") { throw unsupported("PARTITION BY") }
        if consumeKeyword("with") {
            statement.options = try parseStorageOptions()
        }
        if isKeywords("on", "commit") {
            index += 2
            if !(consumeKeywords("preserve", "rows")) { throw unsupported("ON COMMIT DELETE ROWS / DROP") }
        }
        if isKeyword("tablespace") { throw unsupported("TABLESPACE") }
        return .createTable(statement)
    }

    /// `(name = value, ...)` storage parameters (the opening word WITH already read).
    mutating func parseStorageOptions() throws -> [GenericOption] {
        try expect(.leftParen)
        var options: [GenericOption] = []
        repeat {
            var name = try parseColLabel()
            while consume(.dot) { name += "." + (try parseColLabel()) }
            var option = GenericOption(name)
            if consumeOp("=") { option.value = try parseOptionValue() }
            options.append(option)
        } while consume(.comma)
        try expect(.rightParen)
        return options
    }

    /// A value in an option list: a signed number, a string, or a word.
    mutating func parseOptionValue() throws -> OptionValue {
        let token = current
        switch token.kind {
        case .string:
            advance()
            return .string(token.text)
        case .integer, .numeric:
            advance()
            return .number(token.text)
        case .op where token.text == "-" || token.text == "+":
            advance()
            guard current.kind == .integer || current.kind == .numeric else { throw syntaxError() }
            return .number((token.text == "-" ? "-" : "") + advance().text)
        case .quotedIdentifier:
            advance()
            return .word(token.text)
        case .identifier:
            // PostgreSQL's opt_boolean_or_string: reserved words other than TRUE, FALSE and ON are not values.
            if token.category == .reserved && token.text != "true" && token.text != "false" && token.text != "on" {
                throw syntaxError()
            }
            advance()
            return .word(token.text)
        default:
            throw syntaxError()
        }
    }

    private func startsTableConstraint() -> Bool {
        isKeyword("constraint") || isKeyword("primary") || isKeyword("unique") || isKeyword("check")
            || isKeyword("foreign") || isKeyword("exclude")
    }

    private mutating func parseTableElement() throws -> TableElement {
        if isKeyword("like") { throw unsupported("CREATE TABLE ... LIKE") }
        if startsTableConstraint() { return .constraint(try parseTableConstraint()) }
        return .column(try parseColumnDefinition())
    }

    /// `name type [COLLATE c] [constraints]`.
    mutating func parseColumnDefinition() throws -> ColumnDefinition {
        let position = SourcePosition(current.position)
        let name = try parseColId()
        var column = ColumnDefinition(name: name, type: try parseTypeName(), position: position)
        while true {
            if consumeKeyword("collate") {
                column.collation = try parseQualifiedName()
                continue
            }
            let constraintPosition = SourcePosition(current.position)
            var constraintName: String?
            if consumeKeyword("constraint") { constraintName = try parseColId() }
            guard let kind = try parseColumnConstraintKind() else {
                if constraintName != nil { throw syntaxError() }
                break
            }
            column.constraints.append(ColumnConstraint(name: constraintName, kind, position: constraintPosition))
        }
        return column
    }

    private mutating func parseColumnConstraintKind() throws -> ColumnConstraintKind? {
        // Attributes of the constraint before (foreign keys take theirs in parseReference).
        if try consumeImmediateConstraintAttributes() { return try parseColumnConstraintKind() }
        if consumeKeywords("not", "null") { return .notNull }
        if consumeKeyword("null") { return .null }
        if consumeKeyword("default") { return .defaultValue(try parseExpr(Precedence.comparison)) }
        if consumeKeywords("primary", "key") { return .primaryKey }
        if consumeKeyword("unique") {
            if consumeKeywords("nulls", "not", "distinct") { throw unsupported("UNIQUE NULLS NOT DISTINCT") }
            _ = consumeKeywords("nulls", "distinct")
            return .unique
        }
        if consumeKeyword("check") {
            try expect(.leftParen)
            let check = try parseExpr()
            try expect(.rightParen)
            if isKeywords("no", "inherit") { index += 2 }
            return .check(check)
        }
        if isKeyword("references") { return .references(try parseReference()) }
        if consumeKeyword("generated") {
            var always = true
            if consumeKeyword("always") {
                always = true
            } else {
                try expectKeyword("by")
                try expectKeyword("default")
                always = false
            }
            try expectKeyword("as")
            if consumeKeyword("identity") {
                return .identity(always: always, options: try parseIdentityOptions())
            }
            guard always else { throw syntaxError() }
            try expect(.leftParen)
            let expr = try parseExpr()
            try expect(.rightParen)
            try expectKeyword("stored")
            return .generated(expr)
        }
        return nil
    }

    /// `REFERENCES t [(cols)] [MATCH ...] [ON DELETE a] [ON UPDATE a]`.
    private mutating func parseReference() throws -> ForeignKeyReference {
        try expectKeyword("references")
        var reference = ForeignKeyReference(table: try parseQualifiedName())
        if current.kind == .leftParen { reference.columns = try parseParenthesizedNames() }
        if consumeKeyword("match") {
            if consumeKeyword("full") || consumeKeyword("partial") {
                throw unsupported("MATCH FULL / MATCH PARTIAL")
            }
            try expectKeyword("simple")
        }
        while isKeyword("on") {
            advance()
            if consumeKeyword("delete") {
                reference.onDelete = try parseReferentialAction()
            } else {
                try expectKeyword("update")
                reference.onUpdate = try parseReferentialAction()
            }
        }
        var notDeferrable = false
        while true {
            let token = current
            if consumeKeyword("deferrable") {
                reference.deferrable = true
            } else if consumeKeywords("not", "deferrable") {
                notDeferrable = true
            } else if consumeKeywords("initially", "deferred") {
                reference.initiallyDeferred = true
            } else if consumeKeywords("initially", "immediate") {
                reference.initiallyDeferred = false
            } else {
                break
            }
            if (reference.deferrable && notDeferrable) || (notDeferrable && reference.initiallyDeferred) {
                throw ParseError(.syntaxError, notDeferrable && reference.initiallyDeferred
                                 ? "constraint declared INITIALLY DEFERRED must be DEFERRABLE" : "conflicting constraint properties",
                                 position: token.position)
            }
        }
        if reference.initiallyDeferred { reference.deferrable = true }
        return reference
    }

    /// Consumes `NOT DEFERRABLE` and `INITIALLY IMMEDIATE` after a primary key, unique or check
    /// constraint (what they are anyway); whether any came.
    /// - Throws: 0A000 for `DEFERRABLE` or `INITIALLY DEFERRED` there.
    private mutating func consumeImmediateConstraintAttributes() throws -> Bool {
        var any = false
        while true {
            if consumeKeywords("not", "deferrable") || consumeKeywords("initially", "immediate") {
                any = true
            } else if isKeyword("deferrable") || isKeywords("initially", "deferred") {
                throw unsupported("deferrable unique, primary key and check constraints")
            } else {
                return any
            }
        }
    }

    private mutating func parseReferentialAction() throws -> ReferentialAction {
        if consumeKeyword("cascade") { return .cascade }
        if consumeKeyword("restrict") { return .restrict }
        if consumeKeywords("no", "action") { return .noAction }
        if consumeKeywords("set", "null") { return .setNull }
        if consumeKeywords("set", "default") { return .setDefault }
        throw syntaxError()
    }

    /// `[CONSTRAINT name] PRIMARY KEY (...) | UNIQUE (...) | CHECK (...) | FOREIGN KEY (...) REFERENCES ...`.
    mutating func parseTableConstraint() throws -> TableConstraint {
        let position = SourcePosition(current.position)
        let name = consumeKeyword("constraint") ? try parseColId() : nil
        let kind: TableConstraintKind
        if consumeKeywords("primary", "key") {
            let columns = try parseParenthesizedNames()
            kind = .primaryKey(columns, include: try parseInclude())
        } else if consumeKeyword("unique") {
            if consumeKeywords("nulls", "not", "distinct") { throw unsupported("UNIQUE NULLS NOT DISTINCT") }
            _ = consumeKeywords("nulls", "distinct")
            let columns = try parseParenthesizedNames()
            kind = .unique(columns, include: try parseInclude())
        } else if consumeKeyword("check") {
            try expect(.leftParen)
            let check = try parseExpr()
            try expect(.rightParen)
            kind = .check(check)
        } else if consumeKeywords("foreign", "key") {
            let columns = try parseParenthesizedNames()
            kind = .foreignKey(columns, try parseReference())
        } else if isKeyword("exclude") {
            throw unsupported("EXCLUDE constraints")
        } else {
            throw syntaxError()
        }
        _ = try consumeImmediateConstraintAttributes()
        if isKeywords("not", "valid") { throw unsupported("NOT VALID") }
        return TableConstraint(name: name, kind, position: position)
    }

    private mutating func parseInclude() throws -> [String] {
        consumeKeyword("include") ? try parseParenthesizedNames() : []
    }

    /// `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] [name] ON [ONLY] t [USING m] (...) ...`.
    private mutating func parseCreateIndex() throws -> CreateIndexStatement {
        let unique = consumeKeyword("unique")
        try expectKeyword("index")
        let concurrently = consumeKeyword("concurrently")
        let ifNotExists = consumeKeywords("if", "not", "exists")
        var name: String?
        if !isKeyword("on") { name = try parseColId() }
        if ifNotExists && name == nil { throw syntaxError() }
        try expectKeyword("on")
        _ = consumeKeyword("only")
        let table = try parseQualifiedName()
        var method: String?
        if consumeKeyword("using") { method = try parseColId() }
        try expect(.leftParen)
        var elements: [IndexElement] = []
        repeat {
            elements.append(try parseIndexElement())
        } while consume(.comma)
        try expect(.rightParen)
        var statement = CreateIndexStatement(name: name, table: table, unique: unique, concurrently: concurrently,
                                             ifNotExists: ifNotExists, method: method, elements: elements)
        statement.include = try parseInclude()
        if consumeKeywords("nulls", "not", "distinct") { throw unsupported("NULLS NOT DISTINCT") }
        _ = consumeKeywords("nulls", "distinct")
        if consumeKeyword("with") { statement.options = try parseStorageOptions() }
        if isKeyword("tablespace") { throw unsupported("TABLESPACE") }
        if consumeKeyword("where") { statement.whereClause = try parseExpr() }
        return statement
    }

    private mutating func parseCreateView(orReplace: Bool, temporary: Bool,
                                          materialized: Bool = false) throws -> CreateViewStatement {
        try expectKeyword("view")
        let ifNotExists = materialized && consumeKeywords("if", "not", "exists")
        let name = try parseQualifiedName()
        let columns = current.kind == .leftParen ? try parseParenthesizedNames() : []
        if isKeyword("with") || isKeyword("using") { throw unsupported("view options") }
        try expectKeyword("as")
        let query = try parseQuery()
        var withNoData = false
        if materialized {
            if consumeKeywords("with", "no", "data") {
                withNoData = true
            } else {
                _ = consumeKeywords("with", "data")
            }
        } else if isKeyword("with") {
            throw unsupported("WITH CHECK OPTION")
        }
        return CreateViewStatement(name: name, orReplace: orReplace, temporary: temporary, materialized: materialized,
                                   ifNotExists: ifNotExists, withNoData: withNoData, columns: columns, query: query)
    }

    private mutating func parseCreateSchema() throws -> CreateSchemaStatement {
        try expectKeyword("schema")
        let ifNotExists = consumeKeywords("if", "not", "exists")
        var statement = CreateSchemaStatement(name: nil, ifNotExists: ifNotExists)
        if !isKeyword("authorization") { statement.name = try parseColId() }
        if consumeKeyword("authorization") { statement.authorization = try parseRoleName() }
        if statement.name == nil && statement.authorization == nil { throw syntaxError() }
        while isKeyword("create") {
            let token = current
            let element = try parseCreate()
            switch element {
            case .createTable, .createTableAs, .createView, .createIndex, .createSequence: break
            default: throw unsupported("this statement as a CREATE SCHEMA element", at: token)
            }
            statement.elements.append(element)
        }
        if isKeyword("grant") { throw unsupported("GRANT in CREATE SCHEMA") }
        if ifNotExists && !statement.elements.isEmpty { throw unsupported("CREATE SCHEMA IF NOT EXISTS with schema elements") }
        return statement
    }

    private mutating func parseCreateExtension() throws -> CreateExtensionStatement {
        try expectKeyword("extension")
        let ifNotExists = consumeKeywords("if", "not", "exists")
        var statement = CreateExtensionStatement(name: try parseColId(), ifNotExists: ifNotExists)
        _ = consumeKeyword("with")
        while true {
            if consumeKeyword("schema") {
                statement.options.append(GenericOption("schema", .word(try parseColId())))
            } else if consumeKeyword("version") {
                statement.options.append(GenericOption("version", try parseOptionValue()))
            } else if consumeKeyword("cascade") {
                statement.options.append(GenericOption("cascade"))
            } else {
                return statement
            }
        }
    }

    /// Sequence options until none follows.
    /// An identity column's `(sequence options)`, if any; `SEQUENCE NAME n` (pg_dump writes it) is
    /// accepted and dropped: the implied sequence is always `table_column_seq`.
    mutating func parseIdentityOptions() throws -> [SequenceOption] {
        guard consume(.leftParen) else { return [] }
        var options: [SequenceOption] = []
        while current.kind != .rightParen {
            if consumeKeywords("sequence", "name") {
                _ = try parseQualifiedName()
                continue
            }
            let more = try parseSequenceOptions()
            if more.isEmpty { throw syntaxError() }
            options += more
        }
        try expect(.rightParen)
        return options
    }

    mutating func parseSequenceOptions() throws -> [SequenceOption] {
        var options: [SequenceOption] = []
        while true {
            if consumeKeyword("as") {
                options.append(.asType(try parseTypeName()))
            } else if consumeKeyword("increment") {
                _ = consumeKeyword("by")
                options.append(.increment(try parseSignedInt64()))
            } else if consumeKeyword("minvalue") {
                options.append(.minValue(try parseSignedInt64()))
            } else if consumeKeyword("maxvalue") {
                options.append(.maxValue(try parseSignedInt64()))
            } else if consumeKeywords("no", "minvalue") {
                options.append(.minValue(nil))
            } else if consumeKeywords("no", "maxvalue") {
                options.append(.maxValue(nil))
            } else if consumeKeywords("no", "cycle") {
                options.append(.cycle(false))
            } else if consumeKeyword("cycle") {
                options.append(.cycle(true))
            } else if consumeKeyword("start") {
                _ = consumeKeyword("with")
                options.append(.start(try parseSignedInt64()))
            } else if consumeKeyword("restart") {
                _ = consumeKeyword("with")
                let isNumber = current.kind == .integer || current.isOp("-") || current.isOp("+")
                options.append(.restart(isNumber ? try parseSignedInt64() : nil))
            } else if consumeKeyword("cache") {
                options.append(.cache(try parseSignedInt64()))
            } else if consumeKeywords("owned", "by") {
                if consumeKeyword("none") {
                    options.append(.ownedBy(nil))
                } else {
                    options.append(.ownedBy(try parseQualifiedName()))
                }
            } else if isKeywords("sequence", "name") {
                throw unsupported("SEQUENCE NAME")
            } else {
                return options
            }
        }
    }

    // MARK: - DROP, ALTER, TRUNCATE, COMMENT

    /// `DROP kind [IF EXISTS] names [CASCADE|RESTRICT]`, and DROP ROLE.
    mutating func parseDrop() throws -> Statement {
        let dropToken = current
        try expectKeyword("drop")
        let kindToken = current
        let kind: ObjectKind
        switch kindToken.kind == .identifier ? kindToken.text : "" {
        case "table": kind = .table
        case "index": kind = .index
        case "view": kind = .view
        case "schema": kind = .schema
        case "sequence": kind = .sequence
        case "extension": kind = .extension
        case "type": kind = .type
        case "materialized":
            guard peek().isKeyword("view") else { throw syntaxError(peek()) }
            advance()
            kind = .materializedView
        case "role", "user", "group":
            advance()
            let ifExists = consumeKeywords("if", "exists")
            var names = [try parseRoleName()]
            while consume(.comma) { names.append(try parseRoleName()) }
            return .dropRole(DropRoleStatement(ifExists: ifExists, names: names))
        default:
            if kindToken.kind == .identifier && Self.unsupportedCreateKinds.contains(kindToken.text) {
                throw unsupported("DROP \(kindToken.text.uppercased())", at: dropToken)
            }
            throw syntaxError()
        }
        advance()
        let concurrently = kind == .index && consumeKeyword("concurrently")
        let ifExists = consumeKeywords("if", "exists")
        let names = try parseQualifiedNameList()
        return .drop(DropStatement(kind: kind, concurrently: concurrently, ifExists: ifExists, names: names,
                                   behavior: parseDropBehavior()))
    }

    /// `CASCADE` / `RESTRICT`, if present.
    mutating func parseDropBehavior() -> DropBehavior? {
        if consumeKeyword("cascade") { return .cascade }
        if consumeKeyword("restrict") { return .restrict }
        return nil
    }

    /// `ALTER TABLE`, `ALTER SEQUENCE`, `ALTER ROLE/USER`, `ALTER SCHEMA`.
    mutating func parseAlter() throws -> Statement {
        let alterToken = current
        try expectKeyword("alter")
        if consumeKeyword("table") {
            let ifExists = consumeKeywords("if", "exists")
            _ = consumeKeyword("only")
            let name = try parseQualifiedName()
            var actions: [AlterTableAction] = []
            repeat {
                actions.append(try parseAlterTableAction())
            } while consume(.comma)
            return .alterTable(AlterTableStatement(name: name, ifExists: ifExists, actions: actions))
        }
        if isKeyword("sequence") || isKeyword("view") || (isKeywords("materialized", "view")) {
            // ALTER SEQUENCE | [MATERIALIZED] VIEW name OWNER TO role: the relation's owner, as ALTER TABLE sets it.
            var k = 1
            if isKeyword("materialized") { k = 2 }
            if peek(k).isKeyword("if") { k += 2 }
            var probe = self
            for _ in 0..<k { probe.advance() }
            if (try? probe.parseQualifiedName()) != nil, probe.isKeywords("owner", "to") {
                for _ in 0..<k { advance() }
                let ifExists = tokens[index - 1].isKeyword("exists")
                let name = try parseQualifiedName()
                try expectKeyword("owner")
                try expectKeyword("to")
                return .alterTable(AlterTableStatement(name: name, ifExists: ifExists, actions: [.ownerTo(try parseRoleName())]))
            }
        }
        if consumeKeyword("sequence") {
            let ifExists = consumeKeywords("if", "exists")
            let name = try parseQualifiedName()
            let options = try parseSequenceOptions()
            guard !options.isEmpty else { throw syntaxError() }
            return .alterSequence(AlterSequenceStatement(name: name, ifExists: ifExists, options: options))
        }
        if consumeKeyword("role") || consumeKeyword("user") {
            return .alterRole(try parseAlterRole())
        }
        if consumeKeyword("schema") {
            let name = try parseColId()
            if consumeKeywords("rename", "to") { return .alterSchema(AlterSchemaStatement(name: name, action: .rename(try parseColId()))) }
            if consumeKeywords("owner", "to") { return .alterSchema(AlterSchemaStatement(name: name, action: .owner(try parseRoleName()))) }
            throw syntaxError()
        }
        if current.kind == .identifier {
            throw unsupported("ALTER \(current.text.uppercased())", at: alterToken)
        }
        throw syntaxError()
    }

    private mutating func parseAlterTableAction() throws -> AlterTableAction {
        if consumeKeyword("add") {
            if startsTableConstraint() { return .addConstraint(try parseTableConstraint()) }
            _ = consumeKeyword("column")
            let ifNotExists = consumeKeywords("if", "not", "exists")
            return .addColumn(try parseColumnDefinition(), ifNotExists: ifNotExists)
        }
        if consumeKeyword("drop") {
            if consumeKeyword("constraint") {
                let ifExists = consumeKeywords("if", "exists")
                let name = try parseColId()
                return .dropConstraint(name, ifExists: ifExists, behavior: parseDropBehavior())
            }
            _ = consumeKeyword("column")
            let ifExists = consumeKeywords("if", "exists")
            let name = try parseColId()
            return .dropColumn(name, ifExists: ifExists, behavior: parseDropBehavior())
        }
        if consumeKeyword("rename") {
            if consumeKeyword("to") { return .renameTable(to: try parseColId()) }
            if consumeKeyword("constraint") {
                let from = try parseColId()
                try expectKeyword("to")
                return .renameConstraint(from, to: try parseColId())
            }
            _ = consumeKeyword("column")
            let from = try parseColId()
            try expectKeyword("to")
            return .renameColumn(from, to: try parseColId())
        }
        if consumeKeywords("set", "schema") { return .setSchema(try parseColId()) }
        if consumeKeywords("owner", "to") { return .ownerTo(try parseRoleName()) }
        if consumeKeyword("alter") {
            _ = consumeKeyword("column")
            let column = try parseColId()
            if consumeKeywords("add", "generated") {
                if !consumeKeyword("always") {
                    try expectKeyword("by")
                    try expectKeyword("default")
                }
                try expectKeyword("as")
                try expectKeyword("identity")
                return .addIdentity(column: column, options: try parseIdentityOptions())
            }
            if consumeKeywords("set", "default") { return .setDefault(column: column, try parseExpr()) }
            if consumeKeywords("drop", "default") { return .dropDefault(column: column) }
            if consumeKeywords("set", "not", "null") { return .setNotNull(column: column) }
            if consumeKeywords("drop", "not", "null") { return .dropNotNull(column: column) }
            _ = consumeKeywords("set", "data")
            if consumeKeyword("type") {
                let type = try parseTypeName()
                if isKeyword("collate") { throw unsupported("ALTER COLUMN ... TYPE ... COLLATE") }
                let using = consumeKeyword("using") ? try parseExpr() : nil
                return .alterType(column: column, type, using: using)
            }
            if current.kind == .identifier { throw unsupported("ALTER COLUMN ... \(current.text.uppercased())") }
            throw syntaxError()
        }
        if current.kind == .identifier { throw unsupported("ALTER TABLE ... \(current.text.uppercased())") }
        throw syntaxError()
    }

    /// `TRUNCATE [TABLE] [ONLY] names [RESTART|CONTINUE IDENTITY] [CASCADE|RESTRICT]`.
    mutating func parseTruncate() throws -> TruncateStatement {
        try expectKeyword("truncate")
        _ = consumeKeyword("table")
        var tables: [QualifiedName] = []
        repeat {
            _ = consumeKeyword("only")
            tables.append(try parseQualifiedName())
            if current.isOp("*") { advance() }
        } while consume(.comma)
        var statement = TruncateStatement(tables: tables)
        if consumeKeywords("restart", "identity") {
            statement.restartIdentity = true
        } else {
            _ = consumeKeywords("continue", "identity")
        }
        statement.behavior = parseDropBehavior()
        return statement
    }

    /// `COMMENT ON kind name IS 'text' | NULL`.
    mutating func parseComment() throws -> CommentStatement {
        try expectKeyword("comment")
        try expectKeyword("on")
        let kindToken = current
        let kind: ObjectKind
        switch kindToken.kind == .identifier ? kindToken.text : "" {
        case "table": kind = .table
        case "column": kind = .column
        case "index": kind = .index
        case "view": kind = .view
        case "schema": kind = .schema
        case "sequence": kind = .sequence
        case "database": kind = .database
        case "extension": kind = .extension
        case "type": kind = .type
        default:
            if kindToken.kind == .identifier { throw unsupported("COMMENT ON \(kindToken.text.uppercased())") }
            throw syntaxError()
        }
        advance()
        let name = try parseQualifiedName()
        if kind == .column && name.parts.count < 2 { throw syntaxError() }
        try expectKeyword("is")
        if consumeKeyword("null") { return CommentStatement(kind: kind, name: name, comment: nil) }
        return CommentStatement(kind: kind, name: name, comment: try parseStringLiteral())
    }
}
