import ApusCore

extension Parser {
    // MARK: - Transactions

    /// BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK, ABORT, SAVEPOINT, RELEASE, ROLLBACK TO.
    mutating func parseTransaction() throws -> TransactionStatement {
        let token = advance()
        switch token.text {
        case "begin":
            _ = consumeKeyword("work") || consumeKeyword("transaction")
            return .begin(try parseTransactionModes())
        case "start":
            try expectKeyword("transaction")
            return .begin(try parseTransactionModes())
        case "commit", "end":
            if token.text == "commit" && isKeyword("prepared") { throw unsupported("COMMIT PREPARED", at: token) }
            _ = consumeKeyword("work") || consumeKeyword("transaction")
            return .commit(chain: try parseChain())
        case "rollback", "abort":
            if token.text == "rollback" && isKeyword("prepared") {
                throw unsupported("ROLLBACK PREPARED", at: token)
            }
            _ = consumeKeyword("work") || consumeKeyword("transaction")
            if token.text == "rollback" && consumeKeyword("to") {
                _ = consumeKeyword("savepoint")
                return .rollbackTo(try parseColId())
            }
            return .rollback(chain: try parseChain())
        case "savepoint":
            return .savepoint(try parseColId())
        default:
            _ = consumeKeyword("savepoint")
            return .release(try parseColId())
        }
    }

    private mutating func parseChain() throws -> Bool {
        guard consumeKeyword("and") else { return false }
        let chain = !consumeKeyword("no")
        try expectKeyword("chain")
        return chain
    }

    /// Transaction modes separated by commas or spaces.
    mutating func parseTransactionModes() throws -> [TransactionMode] {
        var modes: [TransactionMode] = []
        while true {
            if try consumeKeywordPair("isolation", "level") {
                if consumeKeyword("serializable") {
                    modes.append(.isolation(.serializable))
                } else if consumeKeywords("repeatable", "read") {
                    modes.append(.isolation(.repeatableRead))
                } else if consumeKeywords("read", "committed") {
                    modes.append(.isolation(.readCommitted))
                } else if consumeKeywords("read", "uncommitted") {
                    modes.append(.isolation(.readUncommitted))
                } else {
                    throw syntaxError()
                }
            } else if consumeKeywords("read", "only") {
                modes.append(.readOnly(true))
            } else if consumeKeywords("read", "write") {
                modes.append(.readOnly(false))
            } else if consumeKeyword("deferrable") {
                modes.append(.deferrable(true))
            } else if consumeKeywords("not", "deferrable") {
                modes.append(.deferrable(false))
            } else {
                return modes
            }
            _ = consume(.comma)
        }
    }

    // MARK: - SET, SHOW, RESET

    /// A dotted configuration parameter name.
    private mutating func parseSettingName() throws -> String {
        var name = try parseColId()
        while consume(.dot) { name += "." + (try parseColLabel()) }
        return name
    }

    /// `SET [SESSION|LOCAL] ...`.
    mutating func parseSet() throws -> Statement {
        let setToken = current
        try expectKeyword("set")
        var isLocal = false
        if isKeyword("local") && !peek().isOp("=") && !peek().isKeyword("to") {
            advance()
            isLocal = true
        } else if isKeyword("session") && !peek().isOp("=") && !peek().isKeyword("to") {
            advance()
            if isKeyword("characteristics") { throw unsupported("SET SESSION CHARACTERISTICS", at: setToken) }
            if isKeyword("authorization") { throw unsupported("SET SESSION AUTHORIZATION", at: setToken) }
        }
        if consumeKeyword("constraints") {
            var names: [String]?
            if !consumeKeyword("all") {
                var list: [String] = []
                repeat { list.append(try parseQualifiedName().name) } while consume(.comma)
                names = list
            }
            if consumeKeyword("deferred") { return .transaction(.setConstraints(names: names, deferred: true)) }
            try expectKeyword("immediate")
            return .transaction(.setConstraints(names: names, deferred: false))
        }
        if consumeKeyword("transaction") {
            if isKeyword("snapshot") { throw unsupported("SET TRANSACTION SNAPSHOT", at: setToken) }
            let modes = try parseTransactionModes()
            guard !modes.isEmpty else { throw syntaxError() }
            return .transaction(.setTransaction(modes))
        }
        if consumeKeywords("time", "zone") {
            if consumeKeyword("local") || consumeKeyword("default") {
                return .set(SetStatement(isLocal: isLocal, name: "timezone", values: []))
            }
            if isKeyword("interval") { throw unsupported("SET TIME ZONE INTERVAL") }
            return .set(SetStatement(isLocal: isLocal, name: "timezone", values: [try parseOptionValue()]))
        }
        if isKeyword("role") && !peek().isOp("=") && !peek().isKeyword("to") {
            throw unsupported("SET ROLE", at: setToken)
        }
        if consumeKeyword("schema") {
            return .set(SetStatement(isLocal: isLocal, name: "search_path", values: [.string(try parseStringLiteral())]))
        }
        if consumeKeyword("names") {
            return .set(SetStatement(isLocal: isLocal, name: "client_encoding",
                                     values: current.kind == .string ? [.string(advance().text)] : []))
        }
        let name = try parseSettingName()
        guard consumeKeyword("to") || consumeOp("=") else { throw syntaxError() }
        if consumeKeyword("default") { return .set(SetStatement(isLocal: isLocal, name: name, values: [])) }
        var values = [try parseOptionValue()]
        while consume(.comma) { values.append(try parseOptionValue()) }
        return .set(SetStatement(isLocal: isLocal, name: name, values: values))
    }

    /// `SHOW name | ALL | TIME ZONE | TRANSACTION ISOLATION LEVEL`.
    mutating func parseShow() throws -> ShowStatement {
        try expectKeyword("show")
        if consumeKeyword("all") { return ShowStatement(name: nil) }
        if consumeKeywords("time", "zone") { return ShowStatement(name: "timezone") }
        if consumeKeywords("transaction", "isolation", "level") { return ShowStatement(name: "transaction_isolation") }
        if consumeKeywords("session", "authorization") { return ShowStatement(name: "session_authorization") }
        return ShowStatement(name: try parseSettingName())
    }

    /// `RESET name | ALL | TIME ZONE`.
    mutating func parseReset() throws -> ResetStatement {
        try expectKeyword("reset")
        if consumeKeyword("all") { return ResetStatement(name: nil) }
        if consumeKeywords("time", "zone") { return ResetStatement(name: "timezone") }
        if consumeKeywords("session", "authorization") { return ResetStatement(name: "session_authorization") }
        return ResetStatement(name: try parseSettingName())
    }

    // MARK: - Prepared statements and EXPLAIN

    /// `PREPARE name [(types)] AS statement`.
    mutating func parsePrepare() throws -> Statement {
        let prepareToken = current
        try expectKeyword("prepare")
        if isKeyword("transaction") { throw unsupported("PREPARE TRANSACTION", at: prepareToken) }
        let name = try parseColId()
        var types: [TypeName] = []
        if consume(.leftParen) {
            repeat {
                types.append(try parseTypeName())
            } while consume(.comma)
            try expect(.rightParen)
        }
        try expectKeyword("as")
        return .prepare(PrepareStatement(name: name, parameterTypes: types, statement: try parsePreparableStatement()))
    }

    /// A statement that PREPARE, EXPLAIN and COPY (query) accept: a query or DML.
    private mutating func parsePreparableStatement() throws -> Statement {
        let token = current
        if token.kind == .leftParen { return .query(try parseQuery()) }
        let word = token.kind == .identifier ? token.text : ""
        switch word {
        case "select", "values", "table", "with", "insert", "update", "delete": return try parseStatement()
        default: throw syntaxError()
        }
    }

    /// `EXECUTE name [(args)]`.
    mutating func parseExecute() throws -> ExecuteStatement {
        try expectKeyword("execute")
        let name = try parseColId()
        var arguments: [Expr] = []
        if consume(.leftParen) {
            arguments = try parseExprList()
            try expect(.rightParen)
        }
        return ExecuteStatement(name: name, arguments: arguments)
    }

    /// `DEALLOCATE [PREPARE] name | ALL`.
    mutating func parseDeallocate() throws -> DeallocateStatement {
        try expectKeyword("deallocate")
        _ = consumeKeyword("prepare")
        if consumeKeyword("all") { return DeallocateStatement(name: nil) }
        return DeallocateStatement(name: try parseColId())
    }

    /// `EXPLAIN [ANALYZE] [VERBOSE] statement` or `EXPLAIN (options) statement`.
    mutating func parseExplain() throws -> ExplainStatement {
        try expectKeyword("explain")
        var options: [GenericOption] = []
        if current.kind == .leftParen && !peekStartsQueryAfterParen() {
            options = try parseParenthesizedOptions()
        } else {
            if consumeKeyword("analyze") || consumeKeyword("analyse") { options.append(GenericOption("analyze")) }
            if consumeKeyword("verbose") { options.append(GenericOption("verbose")) }
        }
        let statement: Statement
        if isKeyword("create") && (peek().isKeyword("table") || peek().isKeyword("materialized")) {
            statement = try parseStatement()
        } else if isKeyword("execute") {
            statement = .execute(try parseExecute())
        } else {
            statement = try parsePreparableStatement()
        }
        return ExplainStatement(options: options, statement: statement)
    }

    private func peekStartsQueryAfterParen() -> Bool {
        var i = 1
        while peek(i).kind == .leftParen { i += 1 }
        let token = peek(i)
        return token.isKeyword("select") || token.isKeyword("values") || token.isKeyword("with")
            || token.isKeyword("table")
    }

    /// `(name [value], ...)` for EXPLAIN, COPY and VACUUM; names lower-cased.
    mutating func parseParenthesizedOptions() throws -> [GenericOption] {
        try expect(.leftParen)
        var options: [GenericOption] = []
        repeat {
            var option = GenericOption(try parseColLabel())
            if current.kind != .comma && current.kind != .rightParen {
                if current.kind == .leftParen || current.isOp("*") {
                    throw unsupported("option \(option.name.uppercased()) with a column list")
                }
                option.value = try parseOptionValue()
            }
            options.append(option)
        } while consume(.comma)
        try expect(.rightParen)
        return options
    }

    // MARK: - Maintenance

    /// `ANALYZE [VERBOSE] [table, ...]`.
    mutating func parseAnalyze() throws -> AnalyzeStatement {
        advance()
        var statement = AnalyzeStatement()
        if current.kind == .leftParen { throw unsupported("ANALYZE options") }
        statement.verbose = consumeKeyword("verbose")
        if isColId(current) {
            statement.tables = try parseTablesWithoutColumns()
        }
        return statement
    }

    private mutating func parseTablesWithoutColumns() throws -> [QualifiedName] {
        var tables: [QualifiedName] = []
        repeat {
            tables.append(try parseQualifiedName())
            if current.kind == .leftParen { throw unsupported("column lists in ANALYZE and VACUUM") }
        } while consume(.comma)
        return tables
    }

    /// `VACUUM [FULL] [FREEZE] [VERBOSE] [ANALYZE] [tables]` or `VACUUM (options) [tables]`.
    mutating func parseVacuum() throws -> VacuumStatement {
        try expectKeyword("vacuum")
        var statement = VacuumStatement()
        if current.kind == .leftParen {
            statement.options = try parseParenthesizedOptions()
        } else {
            for word in ["full", "freeze", "verbose", "analyze"] where consumeKeyword(word) {
                statement.options.append(GenericOption(word))
            }
        }
        if isColId(current) {
            statement.tables = try parseTablesWithoutColumns()
        }
        return statement
    }

    // MARK: - COPY

    /// `COPY table [(cols)] FROM|TO endpoint [[WITH] (options) | old-style options] [WHERE ...]`,
    /// `COPY (query) TO endpoint ...`.
    mutating func parseCopy() throws -> CopyStatement {
        try expectKeyword("copy")
        let source: CopySource
        if consume(.leftParen) {
            source = .query(try parsePreparableStatement())
            try expect(.rightParen)
        } else {
            let table = try parseQualifiedName()
            source = .table(table, columns: current.kind == .leftParen ? try parseParenthesizedNames() : [])
        }
        let isFrom: Bool
        if consumeKeyword("from") {
            isFrom = true
        } else {
            try expectKeyword("to")
            isFrom = false
        }
        if case .query = source, isFrom { throw syntaxError(peek(-1)) }
        let endpoint: CopyEndpoint
        if consumeKeyword("stdin") || consumeKeyword("stdout") {
            endpoint = .client
        } else if consumeKeyword("program") {
            endpoint = .program(try parseStringLiteral())
        } else {
            endpoint = .file(try parseStringLiteral())
        }
        var statement = CopyStatement(source: source, isFrom: isFrom, endpoint: endpoint)
        let hasWith = consumeKeyword("with")
        if current.kind == .leftParen {
            statement.options = try parseParenthesizedOptions()
        } else {
            statement.options = try parseOldCopyOptions()
            if hasWith && statement.options.isEmpty { throw syntaxError() }
        }
        if consumeKeyword("where") {
            guard isFrom else { throw syntaxError(peek(-1)) }
            statement.whereClause = try parseExpr()
        }
        return statement
    }

    /// PostgreSQL's pre-9.0 COPY options, normalized into the generic form.
    private mutating func parseOldCopyOptions() throws -> [GenericOption] {
        var options: [GenericOption] = []
        while true {
            if consumeKeyword("binary") {
                options.append(GenericOption("format", .word("binary")))
            } else if consumeKeyword("csv") {
                options.append(GenericOption("format", .word("csv")))
            } else if consumeKeyword("header") {
                options.append(GenericOption("header"))
            } else if let word = ["delimiter", "null", "quote", "escape", "encoding"].first(where: { isKeyword($0) }) {
                advance()
                _ = consumeKeyword("as")
                options.append(GenericOption(word, .string(try parseStringLiteral())))
            } else if isKeyword("force") || isKeyword("oids") || isKeyword("freeze") {
                throw unsupported("COPY option \(current.text.uppercased())")
            } else {
                return options
            }
        }
    }

    // MARK: - Roles and privileges

    /// A role name: an identifier, or CURRENT_USER / SESSION_USER / PUBLIC as words.
    mutating func parseRoleName() throws -> String {
        if current.kind == .identifier
            && (current.text == "current_user" || current.text == "session_user" || current.text == "current_role") {
            return advance().text
        }
        return try parseColId()
    }

    private mutating func parseRoleNames() throws -> [String] {
        var names = [try parseRoleName()]
        while consume(.comma) { names.append(try parseRoleName()) }
        return names
    }

    /// `CREATE ROLE|USER|GROUP name [WITH] options`.
    mutating func parseCreateRole() throws -> CreateRoleStatement {
        let kind = advance()
        let name = try parseRoleName()
        _ = consumeKeyword("with")
        return CreateRoleStatement(name: name, isUser: kind.text == "user", options: try parseRoleOptions())
    }

    /// `ALTER ROLE name [WITH] options | RENAME TO name` (ROLE/USER already read).
    mutating func parseAlterRole() throws -> AlterRoleStatement {
        let name = try parseRoleName()
        if consumeKeywords("rename", "to") { return AlterRoleStatement(name: name, renameTo: try parseRoleName()) }
        if isKeyword("set") || isKeyword("reset") || isKeyword("in") {
            throw unsupported("ALTER ROLE ... \(current.text.uppercased())")
        }
        _ = consumeKeyword("with")
        return AlterRoleStatement(name: name, options: try parseRoleOptions())
    }

    private static let roleFlags: Set<String> = [
        "superuser", "createdb", "createrole", "inherit", "login", "replication", "bypassrls",
    ]

    private mutating func parseRoleOptions() throws -> [RoleOption] {
        var options: [RoleOption] = []
        while current.kind == .identifier {
            let word = current.text
            if Self.roleFlags.contains(word) {
                advance()
                options.append(.flag(word, true))
            } else if word.hasPrefix("no") && Self.roleFlags.contains(String(word.dropFirst(2))) {
                advance()
                options.append(.flag(String(word.dropFirst(2)), false))
            } else if word == "password" || (word == "encrypted" && peek().isKeyword("password")) {
                if word == "encrypted" { advance() }
                advance()
                options.append(.password(consumeKeyword("null") ? nil : try parseStringLiteral()))
            } else if consumeKeywords("connection", "limit") {
                options.append(.connectionLimit(try parseSignedInt64()))
            } else if consumeKeywords("valid", "until") {
                options.append(.validUntil(try parseStringLiteral()))
            } else if consumeKeywords("in", "role") || consumeKeywords("in", "group") {
                options.append(.inRole(try parseRoleNames()))
            } else if word == "role" || word == "user" {
                advance()
                options.append(.role(try parseRoleNames()))
            } else if consumeKeyword("admin") {
                options.append(.admin(try parseRoleNames()))
            } else {
                break
            }
        }
        return options
    }

    /// GRANT.
    mutating func parseGrant() throws -> GrantStatement {
        try expectKeyword("grant")
        let target = try parseGrantTarget()
        try expectKeyword("to")
        let grantees = try parseGrantees()
        var withOption = false
        if consumeKeyword("with") {
            if consumeKeyword("grant") || consumeKeyword("admin") {
                try expectKeyword("option")
                withOption = true
            } else {
                throw syntaxError()
            }
        }
        if isKeywords("granted", "by") { throw unsupported("GRANTED BY") }
        return GrantStatement(target: target, grantees: grantees, withGrantOption: withOption)
    }

    /// REVOKE.
    mutating func parseRevoke() throws -> RevokeStatement {
        try expectKeyword("revoke")
        var optionOnly = false
        if isKeywords("grant", "option") || isKeywords("admin", "option") {
            index += 2
            try expectKeyword("for")
            optionOnly = true
        }
        let target = try parseGrantTarget()
        try expectKeyword("from")
        let grantees = try parseGrantees()
        if isKeywords("granted", "by") { throw unsupported("GRANTED BY") }
        return RevokeStatement(target: target, grantees: grantees, grantOptionOnly: optionOnly,
                               behavior: parseDropBehavior())
    }

    private mutating func parseGrantees() throws -> [String] {
        var names: [String] = []
        repeat {
            _ = consumeKeyword("group")
            names.append(try parseRoleName())
        } while consume(.comma)
        return names
    }

    /// Privileges ON objects, or a list of roles (membership).
    private mutating func parseGrantTarget() throws -> GrantTarget {
        var privileges: [Privilege] = []
        if consumeKeyword("all") {
            _ = consumeKeyword("privileges")
            if current.kind == .leftParen { throw unsupported("column privileges on ALL") }
        } else {
            repeat {
                // PostgreSQL's privilege: SELECT, REFERENCES, CREATE or a ColId.
                guard isColId(current) || isKeyword("select") || isKeyword("references") || isKeyword("create")
                else { throw syntaxError() }
                var privilege = Privilege(advance().text)
                if current.kind == .leftParen { privilege.columns = try parseParenthesizedNames() }
                privileges.append(privilege)
            } while consume(.comma)
            if !isKeyword("on") {
                // GRANT role, ... TO ...: the "privileges" were role names.
                guard privileges.allSatisfy({ $0.columns.isEmpty }) else { throw syntaxError() }
                return .roles(privileges.map(\.name))
            }
        }
        try expectKeyword("on")
        if consumeKeyword("all") {
            let kind: ObjectKind
            if consumeKeyword("tables") {
                kind = .table
            } else if consumeKeyword("sequences") {
                kind = .sequence
            } else if consumeKeyword("functions") {
                kind = .function
            } else {
                throw syntaxError()
            }
            try expectKeyword("in")
            try expectKeyword("schema")
            var schemas = [try parseColId()]
            while consume(.comma) { schemas.append(try parseColId()) }
            return .allInSchema(privileges: privileges, kind: kind, schemas: schemas)
        }
        var kind = ObjectKind.table
        if consumeKeyword("table") {
            kind = .table
        } else if consumeKeyword("sequence") {
            kind = .sequence
        } else if consumeKeyword("schema") {
            kind = .schema
        } else if consumeKeyword("database") {
            kind = .database
        } else if consumeKeyword("function") || consumeKeyword("procedure") || consumeKeyword("routine") {
            throw unsupported("privileges on functions")
        } else if isKeyword("type") || isKeyword("domain") || isKeyword("language") || isKeyword("tablespace")
                    || isKeywords("foreign", "data") || isKeywords("large", "object") {
            throw unsupported("privileges on \(current.text.uppercased())")
        }
        return .objects(privileges: privileges, kind: kind, names: try parseQualifiedNameList())
    }
}

// MARK: - Cursors

extension Parser {
    /// `DECLARE name [BINARY] [ASENSITIVE | INSENSITIVE] [[NO] SCROLL] CURSOR [{WITH | WITHOUT} HOLD] FOR query`.
    mutating func parseDeclareCursor() throws -> DeclareCursorStatement {
        try expectKeyword("declare")
        let name = try parseColId()
        var binary = false, scroll: Bool?
        while true {
            if consumeKeyword("binary") {
                binary = true
            } else if consumeKeyword("asensitive") || consumeKeyword("insensitive") {
                continue
            } else if consumeKeywords("no", "scroll") {
                scroll = false
            } else if consumeKeyword("scroll") {
                scroll = true
            } else {
                break
            }
        }
        try expectKeyword("cursor")
        var hold = false
        if consumeKeywords("with", "hold") {
            hold = true
        } else if consumeKeywords("without", "hold") {
            hold = false
        }
        try expectKeyword("for")
        guard current.kind == .leftParen || isKeyword("select") || isKeyword("values") || isKeyword("table") || isKeyword("with")
        else { throw syntaxError() }
        let query = try parseQuery()
        if isKeywords("for", "update") || isKeywords("for", "share") { throw unsupported("DECLARE CURSOR ... FOR UPDATE") }
        return DeclareCursorStatement(name: name, binary: binary, scroll: scroll, hold: hold, query: query)
    }

    /// `FETCH | MOVE [direction] [FROM | IN] name`.
    mutating func parseFetch() throws -> FetchStatement {
        let move = isKeyword("move")
        advance()
        func count(_ p: inout Parser) throws -> Int64 {
            let negative = p.consumeOp("-")
            if !negative { _ = p.consumeOp("+") }
            guard p.current.kind == .integer, let v = Int64(p.current.text) else { throw p.syntaxError() }
            p.advance()
            return negative ? -v : v
        }
        func startsCount(_ p: Parser) -> Bool {
            p.current.kind == .integer || ((p.current.isOp("-") || p.current.isOp("+")) && p.peek().kind == .integer)
        }
        var direction = FetchDirection.forward(1)
        if consumeKeyword("next") {
            direction = .forward(1)
        } else if consumeKeyword("prior") {
            direction = .backward(1)
        } else if consumeKeyword("first") {
            direction = .absolute(1)
        } else if consumeKeyword("last") {
            direction = .absolute(-1)
        } else if consumeKeyword("absolute") {
            direction = .absolute(try count(&self))
        } else if consumeKeyword("relative") {
            direction = .relative(try count(&self))
        } else if consumeKeyword("all") {
            direction = .forward(nil)
        } else if consumeKeyword("forward") {
            if consumeKeyword("all") { direction = .forward(nil) } else if startsCount(self) { direction = .forward(try count(&self)) }
        } else if consumeKeyword("backward") {
            if consumeKeyword("all") { direction = .backward(nil) } else if startsCount(self) { direction = .backward(try count(&self)) }
        } else if startsCount(self) {
            direction = .forward(try count(&self))
        }
        if !consumeKeyword("from") { _ = consumeKeyword("in") }
        return FetchStatement(move: move, direction: direction, name: try parseColId())
    }

    /// `CLOSE name | ALL`.
    mutating func parseCloseCursor() throws -> CloseCursorStatement {
        try expectKeyword("close")
        if consumeKeyword("all") { return CloseCursorStatement(name: nil) }
        return CloseCursorStatement(name: try parseColId())
    }
}
