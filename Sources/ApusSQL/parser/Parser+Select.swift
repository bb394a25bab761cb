import ApusCore

extension Parser {
    // MARK: - Queries

    /// Parses a full query: `[WITH ...] body [ORDER BY ...] [LIMIT/OFFSET/FETCH] [FOR ...]
    /// [AS OF SYSTEM TIME ...]`; a WITH clause already read may be passed in.
    mutating func parseQuery(with: WithClause? = nil) throws -> Query {
        try descend()
        defer { ascend() }
        var withClause = with
        if withClause == nil && isKeyword("with") { withClause = try parseWithClause() }
        let body = try parseSetExpression(minPrecedence: 0)
        var query = Query(with: withClause, body: body)
        try parseQueryTail(&query)
        return query
    }

    /// Continues a query whose first operand was already parsed (a parenthesized query followed
    /// by a set operator or trailing clause inside an expression's parentheses).
    mutating func parseQuery(continuing first: QueryBody) throws -> Query {
        try descend()
        defer { ascend() }
        let body = try parseSetOperations(first, minPrecedence: 0)
        var query = Query(body: body)
        try parseQueryTail(&query)
        return query
    }

    /// ORDER BY, LIMIT, OFFSET, FETCH, locking and AS OF SYSTEM TIME, in PostgreSQL's accepted orders.
    private mutating func parseQueryTail(_ query: inout Query) throws {
        if try consumeKeywordPair("order", "by") {
            query.orderBy = try parseSortList()
        }
        var sawLimit = false
        var sawOffset = false
        while true {
            if !sawLimit && isKeyword("limit") {
                let limitToken = advance()
                sawLimit = true
                if consumeKeyword("all") {
                    query.limit = nil
                } else {
                    query.limit = try parseExpr()
                    if current.kind == .comma {
                        throw syntaxError("LIMIT #,# syntax is not supported", at: limitToken)
                    }
                }
            } else if !sawOffset && isKeyword("offset") {
                advance()
                sawOffset = true
                query.offset = try parseExpr()
                if !consumeKeyword("row") { _ = consumeKeyword("rows") }
            } else if !sawLimit && isKeyword("fetch") {
                advance()
                sawLimit = true
                try parseFetchFirst(&query)
            } else if isKeyword("for") {
                try parseLockingClauses(&query)
            } else {
                break
            }
        }
        if isKeywords("as", "of", "system", "time") {
            index += 4
            query.asOfSystemTime = try parseExpr()
        }
    }

    /// `FETCH {FIRST|NEXT} [n] {ROW|ROWS} {ONLY|WITH TIES}`.
    private mutating func parseFetchFirst(_ query: inout Query) throws {
        guard consumeKeyword("first") || consumeKeyword("next") else { throw syntaxError() }
        if isKeyword("row") || isKeyword("rows") {
            query.limit = Expr(.literal(.integer("1")), position: SourcePosition(current.position))
        } else {
            query.limit = try parseExpr(Precedence.additive)
        }
        guard consumeKeyword("row") || consumeKeyword("rows") else { throw syntaxError() }
        if consumeKeywords("with", "ties") {
            query.withTies = true
        } else {
            try expectKeyword("only")
        }
    }

    private mutating func parseLockingClauses(_ query: inout Query) throws {
        while isKeyword("for") {
            advance()
            if consumeKeywords("read", "only") { continue }
            var clause: LockingClause
            if consumeKeyword("update") {
                clause = LockingClause(strength: .update)
            } else if consumeKeywords("no", "key", "update") {
                clause = LockingClause(strength: .noKeyUpdate)
            } else if consumeKeyword("share") {
                clause = LockingClause(strength: .share)
            } else if consumeKeywords("key", "share") {
                clause = LockingClause(strength: .keyShare)
            } else {
                throw syntaxError()
            }
            if consumeKeyword("of") {
                clause.of = try parseQualifiedNameList()
            }
            if consumeKeyword("nowait") {
                clause.waitPolicy = .noWait
            } else if try consumeKeywordPair("skip", "locked") {
                clause.waitPolicy = .skipLocked
            }
            query.locking.append(clause)
        }
    }

    /// `WITH [RECURSIVE] name [(cols)] AS [[NOT] MATERIALIZED] (statement), ...`.
    mutating func parseWithClause() throws -> WithClause {
        try expectKeyword("with")
        let recursive = consumeKeyword("recursive")
        var ctes: [CommonTableExpr] = []
        repeat {
            let position = SourcePosition(current.position)
            let name = try parseColId()
            let columns = current.kind == .leftParen ? try parseParenthesizedNames() : []
            try expectKeyword("as")
            var materialized: Bool?
            if consumeKeyword("materialized") {
                materialized = true
            } else if consumeKeywords("not", "materialized") {
                materialized = false
            }
            try expect(.leftParen)
            let statement: Statement
            if isKeyword("insert") || isKeyword("update") || isKeyword("delete") {
                statement = try parseStatement()
            } else {
                statement = .query(try parseQuery())
            }
            try expect(.rightParen)
            ctes.append(CommonTableExpr(name: name, columns: columns, materialized: materialized,
                                        statement: statement, position: position))
        } while consume(.comma)
        if isKeyword("search") || isKeyword("cycle") {
            throw unsupported("SEARCH and CYCLE clauses of WITH RECURSIVE")
        }
        return WithClause(recursive: recursive, ctes: ctes)
    }

    // MARK: - Set operations

    private func setOperatorPrecedence() -> (SetOperator, Int)? {
        if isKeyword("union") { return (.union, 1) }
        if isKeyword("except") { return (.except, 1) }
        if isKeyword("intersect") { return (.intersect, 2) }
        return nil
    }

    /// UNION and EXCEPT bind alike (left to right); INTERSECT binds tighter.
    private mutating func parseSetExpression(minPrecedence: Int) throws -> QueryBody {
        let first = try parseQueryPrimary()
        return try parseSetOperations(first, minPrecedence: minPrecedence)
    }

    private mutating func parseSetOperations(_ first: QueryBody, minPrecedence: Int) throws -> QueryBody {
        var left = first
        while let (op, precedence) = setOperatorPrecedence(), precedence >= minPrecedence {
            advance()
            var all = false
            if consumeKeyword("all") {
                all = true
            } else {
                _ = consumeKeyword("distinct")
            }
            try descend()
            defer { ascend() }
            let right = try parseSetExpression(minPrecedence: precedence + 1)
            left = .setOperation(op, all: all, left: left, right: right)
        }
        return left
    }

    /// SELECT, VALUES, TABLE or a parenthesized query.
    private mutating func parseQueryPrimary() throws -> QueryBody {
        let token = current
        if token.kind == .leftParen {
            advance()
            let inner = try parseQuery()
            try expect(.rightParen)
            return inner.isBare ? inner.body : .query(inner)
        }
        if token.isKeyword("select") { return .select(try parseSelect()) }
        if token.isKeyword("values") { return .values(try parseValuesRows()) }
        if token.isKeyword("table") {
            advance()
            return .table(try parseQualifiedName())
        }
        throw syntaxError()
    }

    /// `VALUES (a, b), (c, d)`.
    private mutating func parseValuesRows() throws -> [[Expr]] {
        try expectKeyword("values")
        var rows: [[Expr]] = []
        repeat {
            try expect(.leftParen)
            rows.append(try parseExprList())
            try expect(.rightParen)
        } while consume(.comma)
        return rows
    }

    // MARK: - SELECT

    /// Words that end a target list that has no items (`SELECT FROM t`, `SELECT;`).
    private static let targetListTerminators: Set<String> = [
        "from", "where", "group", "having", "window", "order", "limit", "offset", "fetch", "for", "union",
        "intersect", "except", "into",
    ]

    private mutating func parseSelect() throws -> Select {
        try expectKeyword("select")
        var select = Select(targets: [])
        if consumeKeyword("distinct") {
            if consumeKeyword("on") {
                try expect(.leftParen)
                select.distinct = .on(try parseExprList())
                try expect(.rightParen)
            } else {
                select.distinct = .distinct
            }
        } else {
            _ = consumeKeyword("all")
        }
        let token = current
        let isEmptyList = token.kind == .eof || token.kind == .semicolon || token.kind == .rightParen
            || (token.kind == .identifier && Self.targetListTerminators.contains(token.text))
        if !isEmptyList {
            select.targets = try parseSelectItems()
        }
        if isKeyword("into") { throw unsupported("SELECT INTO") }
        if consumeKeyword("from") {
            select.from = try parseFromList()
        }
        if consumeKeyword("where") {
            if isKeywords("current", "of") { throw unsupported("WHERE CURRENT OF") }
            select.whereClause = try parseExpr()
        }
        if try consumeKeywordPair("group", "by") {
            if consumeKeyword("distinct") {
                select.groupByDistinct = true
            } else {
                _ = consumeKeyword("all")
            }
            select.groupBy = try parseGroupingElements()
        }
        if consumeKeyword("having") {
            select.having = try parseExpr()
        }
        if consumeKeyword("window") {
            repeat {
                let name = try parseColId()
                try expectKeyword("as")
                select.windows.append(NamedWindow(name: name, spec: try parseWindowSpecification()))
            } while consume(.comma)
        }
        return select
    }

    /// The items of a SELECT or RETURNING list.
    mutating func parseSelectItems() throws -> [SelectItem] {
        var items: [SelectItem] = []
        repeat {
            if current.isOp("*") {
                // A bare `*` is a target-list item, not an expression, and takes no alias.
                items.append(SelectItem(Expr(.star(qualifier: []), position: SourcePosition(advance().position))))
                continue
            }
            let savedBareLabelDepth = bareLabelDepth
            bareLabelDepth = depth + 1
            let expr = try parseExpr()
            bareLabelDepth = savedBareLabelDepth
            var item = SelectItem(expr)
            if isKeywords("as", "of", "system", "time") {
                // CockroachDB's AS OF SYSTEM TIME ends the query; it is no alias.
            } else if consumeKeyword("as") {
                item.alias = try parseColLabel()
            } else if current.kind == .quotedIdentifier
                        || (current.kind == .identifier && !Keywords.requiresAS.contains(current.text)) {
                // PostgreSQL's BareColLabel: any word but the AS_LABEL keywords.
                item.alias = advance().text
            }
            items.append(item)
        } while consume(.comma)
        return items
    }

    /// GROUP BY elements: expressions, `()`, ROLLUP, CUBE and GROUPING SETS.
    private mutating func parseGroupingElements() throws -> [GroupingElement] {
        var elements: [GroupingElement] = []
        repeat {
            elements.append(try parseGroupingElement())
        } while consume(.comma)
        return elements
    }

    private mutating func parseGroupingElement() throws -> GroupingElement {
        try descend()
        defer { ascend() }
        if current.kind == .leftParen && peek().kind == .rightParen {
            index += 2
            return .empty
        }
        if isKeyword("rollup") && peek().kind == .leftParen {
            index += 2
            let items = try parseExprList()
            try expect(.rightParen)
            return .rollup(items)
        }
        if isKeyword("cube") && peek().kind == .leftParen {
            index += 2
            let items = try parseExprList()
            try expect(.rightParen)
            return .cube(items)
        }
        if isKeywords("grouping", "sets") {
            index += 2
            try expect(.leftParen)
            let elements = try parseGroupingElements()
            try expect(.rightParen)
            return .groupingSets(elements)
        }
        return .expr(try parseExpr())
    }

    // MARK: - FROM

    /// Comma-separated FROM items, each with its joins.
    mutating func parseFromList() throws -> [TableRef] {
        var items: [TableRef] = []
        repeat {
            items.append(try parseJoinedTable())
        } while consume(.comma)
        return items
    }

    /// Whether a join keyword sequence starts at the current token.
    private func startsJoin() -> Bool {
        guard current.kind == .identifier else { return false }
        switch current.text {
        case "join", "inner", "left", "right", "full", "cross", "natural": return true
        default: return false
        }
    }

    /// A FROM item followed by any number of joins, left to right.
    private mutating func parseJoinedTable() throws -> TableRef {
        var left = try parseTablePrimary()
        while startsJoin() {
            left = try parseJoin(left: left)
        }
        return left
    }

    /// One join whose left side is `left`. A qualified join's right side may itself hold joins
    /// waiting for their ON (`a JOIN b JOIN c ON x ON y`), as in PostgreSQL's grammar.
    private mutating func parseJoin(left: TableRef) throws -> TableRef {
        try descend()
        defer { ascend() }
        if consumeKeywords("cross", "join") {
            return .join(left: left, kind: .cross, right: try parseTablePrimary(), condition: .none)
        }
        let natural = consumeKeyword("natural")
        let kind: JoinKind
        if consumeKeyword("inner") {
            kind = .inner
        } else if consumeKeyword("left") {
            kind = .left
            _ = consumeKeyword("outer")
        } else if consumeKeyword("right") {
            kind = .right
            _ = consumeKeyword("outer")
        } else if consumeKeyword("full") {
            kind = .full
            _ = consumeKeyword("outer")
        } else {
            kind = .inner
        }
        try expectKeyword("join")
        if natural {
            return .join(left: left, kind: kind, right: try parseTablePrimary(), condition: .natural)
        }
        var right = try parseTablePrimary()
        while startsJoin() {
            right = try parseJoin(left: right)
        }
        if consumeKeyword("on") {
            return .join(left: left, kind: kind, right: right, condition: .on(try parseExpr()))
        }
        if consumeKeyword("using") {
            let columns = try parseParenthesizedNames()
            let alias = consumeKeyword("as") ? try parseColId() : nil
            return .join(left: left, kind: kind, right: right, condition: .using(columns, alias: alias))
        }
        throw syntaxError()
    }

    /// A table, subquery, function call or parenthesized join, with its alias.
    private mutating func parseTablePrimary() throws -> TableRef {
        try descend()
        defer { ascend() }
        let lateral = consumeKeyword("lateral")
        if current.kind == .leftParen {
            advance()
            if startsQuery() {
                let query = try parseQuery()
                try expect(.rightParen)
                return .subquery(query, lateral: lateral, alias: try parseAlias())
            }
            guard !lateral else { throw syntaxError() }
            let inner = try parseJoinedTable()
            try expect(.rightParen)
            return .nested(inner, alias: try parseAlias())
        }
        if isKeywords("rows", "from") { throw unsupported("ROWS FROM") }
        if current.category == .typeFunc && peek().kind != .leftParen { throw syntaxError(peek()) }
        let only = consumeKeyword("only")
        let isFunction = !only && (isTypeFunctionName(current) || isColId(current))
            && (peek().kind == .leftParen || (peek().kind == .dot && peek(2).kind != .leftParen
                                              && functionCallFollowsName()))
        if isFunction || (current.kind == .identifier && current.category == .colName
                          && peek().kind == .leftParen) || isValueFunctionInFrom() {
            let function = try parsePostfix(try parsePrimary())
            let withOrdinality = consumeKeywords("with", "ordinality")
            return .function(function, lateral: lateral, withOrdinality: withOrdinality, alias: try parseAlias())
        }
        guard !lateral else { throw syntaxError() }
        var relation = RelationRef(name: try parseQualifiedName(), only: only)
        if current.isOp("*") { advance() }
        if isKeyword("tablesample") { throw unsupported("TABLESAMPLE") }
        relation.alias = try parseAlias()
        if isKeywords("as", "of", "system", "time") {
            index += 4
            relation.asOfSystemTime = try parseExpr()
        }
        return .relation(relation)
    }

    /// Whether a qualified name at the current token is followed by `(` (a schema-qualified call).
    private func functionCallFollowsName() -> Bool {
        var i = 0
        while peek(i + 1).kind == .dot && isColLabel(peek(i + 2)) { i += 2 }
        return peek(i + 1).kind == .leftParen
    }

    private func isValueFunctionInFrom() -> Bool {
        current.kind == .identifier && (current.text == "current_date" || current.text == "current_timestamp"
                                        || current.text == "localtimestamp" || current.text == "current_user")
    }

    /// `[AS] alias [(col, ...)]`; not `AS OF SYSTEM TIME`.
    mutating func parseAlias() throws -> Alias? {
        if isKeywords("as", "of", "system", "time") { return nil }
        let name: String
        if consumeKeyword("as") {
            name = try parseColId()
        } else if isColId(current) {
            name = advance().text
        } else {
            return nil
        }
        var alias = Alias(name)
        if current.kind == .leftParen {
            alias.columns = try parseParenthesizedNames()
        }
        return alias
    }
}
