import ApusCore

extension Parser {
    /// `INSERT INTO t [AS alias] [(cols)] {query | DEFAULT VALUES} [ON CONFLICT ...] [RETURNING ...]`.
    mutating func parseInsert(with: WithClause?) throws -> InsertStatement {
        try expectKeyword("insert")
        try expectKeyword("into")
        let table = try parseQualifiedName()
        let alias = consumeKeyword("as") ? try parseColId() : nil
        var columns: [String] = []
        if current.kind == .leftParen && peek().kind != .leftParen && !peekStartsQuery() {
            columns = try parseParenthesizedNames()
        }
        if isKeyword("overriding") { throw unsupported("OVERRIDING ... VALUE") }
        let source: InsertSource
        if isKeyword("default") && !columns.isEmpty { throw syntaxError() }
        if try consumeKeywordPair("default", "values") {
            source = .defaultValues
        } else {
            source = .query(try parseQuery())
        }
        var statement = InsertStatement(with: with, table: table, alias: alias, columns: columns, source: source)
        if consumeKeywords("on", "conflict") {
            statement.onConflict = try parseOnConflict()
        }
        if consumeKeyword("returning") {
            statement.returning = try parseSelectItems()
        }
        return statement
    }

    /// Whether the token after the current `(` starts a query.
    private func peekStartsQuery() -> Bool {
        let next = peek()
        return next.isKeyword("select") || next.isKeyword("values") || next.isKeyword("with")
            || next.isKeyword("table")
    }

    private mutating func parseOnConflict() throws -> OnConflict {
        var target: ConflictTarget?
        if current.kind == .leftParen {
            advance()
            var elements: [IndexElement] = []
            repeat {
                elements.append(try parseIndexElement())
            } while consume(.comma)
            try expect(.rightParen)
            let predicate = consumeKeyword("where") ? try parseExpr() : nil
            target = .columns(elements, predicate: predicate)
        } else if consumeKeywords("on", "constraint") {
            target = .constraint(try parseColId())
        }
        try expectKeyword("do")
        if consumeKeyword("nothing") {
            return OnConflict(target: target, action: .nothing)
        }
        try expectKeyword("update")
        try expectKeyword("set")
        let clauses = try parseSetClauses()
        let whereClause = consumeKeyword("where") ? try parseExpr() : nil
        return OnConflict(target: target, action: .update(clauses, whereClause: whereClause))
    }

    /// `col = expr` and `(a, b) = expr`, comma-separated.
    mutating func parseSetClauses() throws -> [SetClause] {
        var clauses: [SetClause] = []
        repeat {
            let position = SourcePosition(current.position)
            if current.kind == .leftParen {
                let columns = try parseParenthesizedNames()
                guard consumeOp("=") else { throw syntaxError() }
                clauses.append(.multiple(columns: columns, value: try parseExpr(), position: position))
            } else {
                let column = try parseColId()
                if current.kind == .dot { throw unsupported("assignment to a field") }
                if current.kind == .leftBracket {
                    // `col[i] = v` is `col = array_set(col, i, v)`: the array with element i replaced
                    // (grown with NULLs when i is past the end, as PostgreSQL does).
                    guard case let .index(i) = try parseSubscript() else { throw unsupported("assignment to an array slice") }
                    if current.kind == .leftBracket { throw unsupported("assignment to an element of a multidimensional array") }
                    guard consumeOp("=") else { throw syntaxError() }
                    let value = try parseExpr()
                    let call = FunctionCall(name: QualifiedName(["array_set"]), arguments: [
                        FunctionArgument(value: Expr(.column([column]), position: position)), FunctionArgument(value: i),
                        FunctionArgument(value: value),
                    ])
                    clauses.append(.single(column: column, value: Expr(.function(call), position: position), position: position))
                    continue
                }
                guard consumeOp("=") else { throw syntaxError() }
                clauses.append(.single(column: column, value: try parseExpr(), position: position))
            }
        } while consume(.comma)
        return clauses
    }

    /// The target of UPDATE/DELETE: `[ONLY] name [[AS] alias]`; a bare alias may not be `SET`.
    private mutating func parseTargetRelation() throws -> RelationRef {
        let only = consumeKeyword("only")
        var relation = RelationRef(name: try parseQualifiedName(), only: only)
        if current.isOp("*") { advance() }
        if consumeKeyword("as") {
            relation.alias = Alias(try parseColId())
        } else if isColId(current) && !isKeyword("set") {
            relation.alias = Alias(advance().text)
        }
        return relation
    }

    /// `UPDATE t [AS a] SET ... [FROM ...] [WHERE ...] [RETURNING ...]`.
    mutating func parseUpdate(with: WithClause?) throws -> UpdateStatement {
        try expectKeyword("update")
        let table = try parseTargetRelation()
        try expectKeyword("set")
        var statement = UpdateStatement(with: with, table: table, assignments: try parseSetClauses())
        if consumeKeyword("from") {
            statement.from = try parseFromList()
        }
        if consumeKeyword("where") {
            if isKeywords("current", "of") { throw unsupported("WHERE CURRENT OF") }
            statement.whereClause = try parseExpr()
        }
        if consumeKeyword("returning") {
            statement.returning = try parseSelectItems()
        }
        return statement
    }

    /// `DELETE FROM t [AS a] [USING ...] [WHERE ...] [RETURNING ...]`.
    mutating func parseDelete(with: WithClause?) throws -> DeleteStatement {
        try expectKeyword("delete")
        try expectKeyword("from")
        var statement = DeleteStatement(with: with, table: try parseTargetRelation())
        if consumeKeyword("using") {
            statement.using = try parseFromList()
        }
        if consumeKeyword("where") {
            if isKeywords("current", "of") { throw unsupported("WHERE CURRENT OF") }
            statement.whereClause = try parseExpr()
        }
        if consumeKeyword("returning") {
            statement.returning = try parseSelectItems()
        }
        return statement
    }

    /// An index key: a column, a parenthesized expression or a function call, with collation,
    /// operator class, direction and NULLS order.
    mutating func parseIndexElement() throws -> IndexElement {
        let position = SourcePosition(current.position)
        var element: IndexElement
        if current.kind == .leftParen {
            advance()
            let expr = try parseExpr()
            try expect(.rightParen)
            element = IndexElement(.expression(expr), position: position)
        } else if (isTypeFunctionName(current) || isColId(current)) && peek().kind == .leftParen {
            element = IndexElement(.expression(try parsePostfix(try parsePrimary())), position: position)
        } else {
            element = IndexElement(.column(try parseColId()), position: position)
        }
        if consumeKeyword("collate") {
            element.collation = try parseQualifiedName()
        }
        if isColId(current) && !isKeyword("nulls") {
            element.opclass = try parseQualifiedName()
            if current.kind == .leftParen { throw unsupported("operator class parameters") }
        }
        if consumeKeyword("asc") {
            element.direction = .ascending
        } else if consumeKeyword("desc") {
            element.direction = .descending
        }
        if isKeyword("nulls") && (peek().isKeyword("first") || peek().isKeyword("last")) {
            advance()
            if consumeKeyword("first") {
                element.nulls = .first
            } else {
                try expectKeyword("last")
                element.nulls = .last
            }
        }
        return element
    }
}
