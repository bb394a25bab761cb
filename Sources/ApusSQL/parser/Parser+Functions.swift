import ApusCore

extension Parser {
    /// Parses the argument list and decorations of a call whose name is already read; the current
    /// token is `(`.
    mutating func parseFunctionCall(name: QualifiedName) throws -> FunctionCall {
        try descend()
        defer { ascend() }
        try expect(.leftParen)
        var call = FunctionCall(name: name)
        if current.isOp("*") {
            advance()
            try expect(.rightParen)
            call.isStar = true
        } else if !consume(.rightParen) {
            if consumeKeyword("distinct") {
                call.isDistinct = true
            } else {
                _ = consumeKeyword("all")
            }
            repeat {
                call.arguments.append(try parseFunctionArgument())
            } while consume(.comma)
            if try consumeKeywordPair("order", "by") {
                call.orderBy = try parseSortList()
            }
            try expect(.rightParen)
        }
        if isKeywords("within", "group") {
            index += 2
            try expect(.leftParen)
            try expectKeyword("order")
            try expectKeyword("by")
            call.withinGroup = try parseSortList()
            try expect(.rightParen)
        }
        if consumeKeyword("filter") {
            try expect(.leftParen)
            try expectKeyword("where")
            call.filter = try parseExpr()
            try expect(.rightParen)
        }
        if consumeKeyword("over") {
            if current.kind == .leftParen {
                call.over = try parseWindowSpecification()
            } else {
                call.over = WindowSpec(name: try parseColId(), isReference: true)
            }
        }
        return call
    }

    private mutating func parseFunctionArgument() throws -> FunctionArgument {
        let isVariadic = consumeKeyword("variadic")
        if isColLabel(current) && (peek().isOp("=>") || peek().isOp(":=")) {
            let name = advance().text
            advance()
            return FunctionArgument(name: name, value: try parseExpr(), isVariadic: isVariadic)
        }
        return FunctionArgument(value: try parseExpr(), isVariadic: isVariadic)
    }

    /// COALESCE, NULLIF, GREATEST, LEAST, EXTRACT, POSITION, SUBSTRING, TRIM, OVERLAY, GROUPING and
    /// the special forms ApusDB does not support (COLLATION FOR, NORMALIZE, TREAT, XML*).
    mutating func parseSpecialFunction() throws -> Expr {
        try descend()
        defer { ascend() }
        let token = advance()
        let position = SourcePosition(token.position)
        try expect(.leftParen)
        let kind: ExprKind
        switch token.text {
        case "coalesce": kind = .coalesce(try parseExprList())
        case "greatest": kind = .greatest(try parseExprList())
        case "least": kind = .least(try parseExprList())
        case "nullif":
            let first = try parseExpr()
            try expect(.comma)
            kind = .nullIf(first, try parseExpr())
        case "extract":
            let field: String
            if current.kind == .string {
                field = advance().text.lowercased()
            } else {
                field = try parseColLabel()
            }
            try expectKeyword("from")
            kind = .extract(field: field, from: try parseExpr())
        case "position":
            let needle = try parseExpr(Precedence.otherOp)
            try expectKeyword("in")
            kind = .position(needle, in: try parseExpr(Precedence.otherOp))
        case "substring":
            kind = try parseSubstringArguments(name: token)
        case "trim":
            kind = try parseTrimArguments()
        case "overlay":
            kind = try parseOverlayArguments(name: token)
        case "grouping":
            let call = FunctionCall(name: QualifiedName(["grouping"], position: position),
                                    arguments: try parseExprList().map { FunctionArgument(value: $0) })
            kind = .function(call)
        default:
            throw unsupported(token.text.uppercased(), at: token)
        }
        try expect(.rightParen)
        return Expr(kind, position: position)
    }

    /// `SUBSTRING(x FROM a FOR b)`, `(x FOR b FROM a)`, `(x FROM a)`, `(x FOR b)`, or the plain
    /// call `substring(x, a [, b])`, which stays a function call as in PostgreSQL.
    private mutating func parseSubstringArguments(name: Token) throws -> ExprKind {
        let value = try parseExpr()
        if current.kind == .comma || current.kind == .rightParen {
            var arguments = [value]
            while consume(.comma) { arguments.append(try parseExpr()) }
            let call = FunctionCall(name: QualifiedName(["substring"], position: SourcePosition(name.position)),
                                    arguments: arguments.map { FunctionArgument(value: $0) })
            return .function(call)
        }
        var from: Expr?
        var length: Expr?
        if consumeKeyword("from") {
            from = try parseExpr()
            if consumeKeyword("for") { length = try parseExpr() }
        } else if consumeKeyword("for") {
            length = try parseExpr()
            if consumeKeyword("from") { from = try parseExpr() }
        } else if isKeyword("similar") {
            throw unsupported("SUBSTRING ... SIMILAR")
        } else {
            throw syntaxError()
        }
        return .substring(value, from: from, for: length)
    }

    /// `TRIM([BOTH|LEADING|TRAILING] [chars] FROM x)`, `TRIM([side] FROM x)`, `TRIM(x [, chars])`.
    private mutating func parseTrimArguments() throws -> ExprKind {
        var side = TrimSide.both
        if consumeKeyword("both") {
            side = .both
        } else if consumeKeyword("leading") {
            side = .leading
        } else if consumeKeyword("trailing") {
            side = .trailing
        }
        if consumeKeyword("from") {
            // TRIM([side] FROM x [, chars]) is btrim(x, chars), as in PostgreSQL's trim_list.
            let from = try parseExpr()
            let characters = consume(.comma) ? try parseExpr() : nil
            return .trim(side, characters: characters, from: from)
        }
        let first = try parseExpr()
        if consumeKeyword("from") {
            return .trim(side, characters: first, from: try parseExpr())
        }
        if consume(.comma) {
            // trim(x, chars) is btrim(x, chars): the characters come second.
            return .trim(side, characters: try parseExpr(), from: first)
        }
        return .trim(side, characters: nil, from: first)
    }

    /// `OVERLAY(x PLACING y FROM a [FOR b])` or the plain call `overlay(x, y, a [, b])`.
    private mutating func parseOverlayArguments(name: Token) throws -> ExprKind {
        let value = try parseExpr()
        if consume(.comma) {
            var arguments = [value]
            arguments.append(contentsOf: try parseExprList())
            let call = FunctionCall(name: QualifiedName(["overlay"], position: SourcePosition(name.position)),
                                    arguments: arguments.map { FunctionArgument(value: $0) })
            return .function(call)
        }
        try expectKeyword("placing")
        let placing = try parseExpr()
        try expectKeyword("from")
        let from = try parseExpr()
        let length = consumeKeyword("for") ? try parseExpr() : nil
        return .overlay(value, placing: placing, from: from, for: length)
    }

    /// `(name PARTITION BY ... ORDER BY ... frame)`.
    mutating func parseWindowSpecification() throws -> WindowSpec {
        try expect(.leftParen)
        var spec = WindowSpec()
        if isColId(current) && !isKeyword("partition") && !isKeyword("order") && !isKeyword("rows")
            && !isKeyword("range") && !isKeyword("groups") {
            spec.name = advance().text
        }
        if try consumeKeywordPair("partition", "by") {
            spec.partitionBy = try parseExprList()
        }
        if try consumeKeywordPair("order", "by") {
            spec.orderBy = try parseSortList()
        }
        if isKeyword("rows") || isKeyword("range") || isKeyword("groups") {
            spec.frame = try parseWindowFrame()
        }
        try expect(.rightParen)
        return spec
    }

    private mutating func parseWindowFrame() throws -> WindowFrame {
        let unitToken = advance()
        let unit: FrameUnit = unitToken.text == "rows" ? .rows : unitToken.text == "range" ? .range : .groups
        var frame: WindowFrame
        if consumeKeyword("between") {
            let start = try parseFrameBound()
            try expectKeyword("and")
            frame = WindowFrame(unit: unit, start: start, end: try parseFrameBound())
        } else {
            frame = WindowFrame(unit: unit, start: try parseFrameBound())
        }
        if consumeKeyword("exclude") {
            if consumeKeywords("current", "row") {
                frame.exclusion = .currentRow
            } else if consumeKeyword("group") {
                frame.exclusion = .group
            } else if consumeKeyword("ties") {
                frame.exclusion = .ties
            } else if consumeKeywords("no", "others") {
                frame.exclusion = .noOthers
            } else {
                throw syntaxError()
            }
        }
        return frame
    }

    private mutating func parseFrameBound() throws -> FrameBound {
        if consumeKeywords("unbounded", "preceding") { return .unboundedPreceding }
        if consumeKeywords("unbounded", "following") { return .unboundedFollowing }
        if consumeKeywords("current", "row") { return .currentRow }
        let offset = try parseExpr()
        if consumeKeyword("preceding") { return .preceding(offset) }
        if consumeKeyword("following") { return .following(offset) }
        throw syntaxError()
    }

    /// `expr [ASC|DESC|USING op] [NULLS FIRST|LAST], ...`.
    mutating func parseSortList() throws -> [SortItem] {
        var items: [SortItem] = []
        repeat {
            var item = SortItem(try parseExpr())
            if consumeKeyword("asc") {
                item.direction = .ascending
            } else if consumeKeyword("desc") {
                item.direction = .descending
            } else if consumeKeyword("using") {
                guard current.kind == .op else { throw syntaxError() }
                item.direction = .using(advance().text)
            }
            // NULLS is NULLS_LA only before FIRST/LAST, as in PostgreSQL's lexer lookahead.
            if isKeyword("nulls") && (peek().isKeyword("first") || peek().isKeyword("last")) {
                advance()
                if consumeKeyword("first") {
                    item.nulls = .first
                } else if consumeKeyword("last") {
                    item.nulls = .last
                } else {
                    throw syntaxError()
                }
            }
            items.append(item)
        } while consume(.comma)
        return items
    }
}
