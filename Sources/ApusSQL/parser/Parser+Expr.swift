import ApusCore

/// Binding strengths of PostgreSQL's operator table (gram.y's precedence declarations), lowest
/// first. Postfix subscripts, `::` casts and `.` field selection bind tighter than all of these
/// and are handled by `parsePostfix`.
enum Precedence {
    static let or = 1
    static let and = 2
    static let not = 3
    /// `IS ...`, `ISNULL`, `NOTNULL` (non-associative).
    static let isTest = 4
    /// `< > = <= >= <>` (non-associative).
    static let comparison = 5
    /// `BETWEEN IN LIKE ILIKE SIMILAR` (non-associative).
    static let pattern = 6
    /// Any other operator, including `||`, `~`, `@>`, `->`, `<->` (left-associative).
    static let otherOp = 7
    static let additive = 8
    static let multiplicative = 9
    static let exponent = 10
    static let atTimeZone = 11
    static let collate = 12
    /// Prefix `-` and `+`.
    static let unary = 13
}

extension Parser {
    /// The operators that are their own tokens in PostgreSQL and so never prefix operators.
    static let nonPrefixOperators: Set<String> = ["*", "/", "%", "^", "<", ">", "=", "<=", ">=", "<>", "=>", ":="]

    static let comparisonOperators: Set<String> = ["=", "<", ">", "<=", ">=", "<>"]

    /// The precedence of the infix operator at the current token, if there is one.
    func infixPrecedence() -> Int? {
        let token = current
        switch token.kind {
        case .op:
            switch token.text {
            case "=", "<", ">", "<=", ">=", "<>": return Precedence.comparison
            case "+", "-": return Precedence.additive
            case "*", "/", "%": return Precedence.multiplicative
            case "^": return Precedence.exponent
            case "=>", ":=": return nil
            default: return Precedence.otherOp
            }
        case .identifier:
            // A keyword operator is an operator only when what follows can continue it; otherwise
            // it is a bare column label (`SELECT count(*) or FROM t` names the column "or"), as
            // PostgreSQL's grammar decides with the token after the keyword.
            // Elsewhere the keyword is an operator, and a bad continuation fails at the next token.
            let gated = depth == bareLabelDepth
            switch token.text {
            case "or": return !gated || canStartExpression(peek()) ? Precedence.or : nil
            case "and": return !gated || canStartExpression(peek()) ? Precedence.and : nil
            case "is": return !gated || (Self.isContinuations.contains(peek().text) && peek().kind == .identifier)
                ? Precedence.isTest : nil
            case "isnull", "notnull": return Precedence.isTest
            case "between":
                let next = peek()
                return !gated || canStartExpression(next) || next.isKeyword("symmetric")
                    || next.isKeyword("asymmetric") ? Precedence.pattern : nil
            case "in": return !gated || peek().kind == .leftParen ? Precedence.pattern : nil
            case "like", "ilike":
                let next = peek()
                let quantified = (next.isKeyword("any") || next.isKeyword("some") || next.isKeyword("all"))
                    && peek(2).kind == .leftParen
                return !gated || canStartExpression(next) || quantified ? Precedence.pattern : nil
            case "similar": return !gated || peek().isKeyword("to") ? Precedence.pattern : nil
            case "not":
                let next = peek()
                guard next.kind == .identifier else { return nil }
                switch next.text {
                case "between", "in", "like", "ilike", "similar": return Precedence.pattern
                default: return nil
                }
            case "at":
                return peek().isKeyword("time") && peek(2).isKeyword("zone") ? Precedence.atTimeZone : nil
            case "collate": return !gated || isColId(peek()) ? Precedence.collate : nil
            // `OPERATOR(schema.op)`: a qualified operator, with the generic operators' precedence.
            case "operator": return peek().kind == .leftParen ? Precedence.otherOp : nil
            default: return nil
            }
        default:
            return nil
        }
    }

    /// The words that may follow IS.
    static let isContinuations: Set<String> = [
        "not", "null", "true", "false", "unknown", "distinct", "document", "normalized", "json", "of", "nfc", "nfd",
        "nfkc", "nfkd",
    ]

    /// Reserved words that begin expressions.
    static let expressionReservedWords: Set<String> = [
        "case", "cast", "not", "null", "true", "false", "array", "default", "current_date", "current_time",
        "current_timestamp", "localtime", "localtimestamp", "current_user", "current_role", "session_user", "user",
        "current_catalog",
    ]

    /// Whether `token` can begin an operand.
    func canStartExpression(_ token: Token) -> Bool {
        switch token.kind {
        case .integer, .numeric, .string, .bitString, .hexString, .parameter, .leftParen, .quotedIdentifier:
            return true
        case .op:
            return !Self.nonPrefixOperators.contains(token.text)
        case .identifier:
            return token.category != .reserved || Self.expressionReservedWords.contains(token.text)
        default:
            return false
        }
    }

    /// Parses an expression (PostgreSQL's a_expr) whose infix operators bind at least `minPrecedence`.
    mutating func parseExpr(_ minPrecedence: Int = 0) throws -> Expr {
        try descend()
        defer { ascend() }
        var left = try parseUnary()
        var lastNonAssociative = 0
        while let precedence = infixPrecedence(), precedence >= minPrecedence {
            let opToken = current
            let isNonAssociative = precedence == Precedence.isTest || precedence == Precedence.comparison
                || precedence == Precedence.pattern
            if isNonAssociative && precedence == lastNonAssociative { throw syntaxError(opToken) }
            left = try parseInfix(left, precedence: precedence)
            lastNonAssociative = isNonAssociative ? precedence : 0
        }
        return left
    }

    /// Parses the operator at the current token and its right operand.
    private mutating func parseInfix(_ left: Expr, precedence: Int) throws -> Expr {
        let opToken = current
        let position = SourcePosition(opToken.position)
        switch precedence {
        case Precedence.or:
            advance()
            return Expr(.or(left, try parseExpr(Precedence.or + 1)), position: position)
        case Precedence.and:
            advance()
            return Expr(.and(left, try parseExpr(Precedence.and + 1)), position: position)
        case Precedence.isTest:
            return try parseIsTest(left)
        case Precedence.pattern:
            return try parsePatternPredicate(left)
        case Precedence.atTimeZone:
            index += 3
            let zone = try parseExpr(Precedence.atTimeZone + 1)
            return Expr(.atTimeZone(left, zone: zone), position: position)
        case Precedence.collate:
            advance()
            return Expr(.collate(left, try parseQualifiedName()), position: position)
        default:
            advance()
            var op = opToken.text
            if opToken.kind == .identifier && opToken.text == "operator" { op = try parseQualifiedOperator() }
            if let quantifier = quantifierAhead() {
                return try parseQuantified(left, op: op, quantifier: quantifier, position: position)
            }
            let right = try parseExpr(precedence + 1)
            return Expr(.binary(op: op, left: left, right: right), position: position)
        }
    }

    /// The rest of `OPERATOR ( [schema .] op )` after the keyword: the operator. Only
    /// `pg_catalog` operators exist, so the schema is checked and dropped.
    mutating func parseQualifiedOperator() throws -> String {
        try expect(.leftParen)
        while current.kind == .identifier || current.kind == .quotedIdentifier, peek().kind == .dot {
            guard current.text == "pg_catalog" else {
                throw ParseError(.undefinedFunction, "operator does not exist: \(current.text).\(peek(2).text)",
                                 position: current.position)
            }
            index += 2
        }
        guard current.kind == .op else { throw syntaxError(current) }
        let op = current.text
        advance()
        try expect(.rightParen)
        return op
    }

    /// `ANY`, `SOME` or `ALL` at the current token (reserved words, so after an operator they can
    /// only be quantifiers; a missing `(` fails at the next token).
    private func quantifierAhead() -> Quantifier? {
        if isKeyword("any") || isKeyword("some") { return .any }
        if isKeyword("all") { return .all }
        return nil
    }

    private mutating func parseQuantified(_ left: Expr, op: String, quantifier: Quantifier,
                                          position: SourcePosition) throws -> Expr {
        advance()
        try expect(.leftParen)
        switch try parseSubqueryOrExprList() {
        case .query(let query):
            return Expr(.quantifiedSubquery(op: op, left, quantifier, query), position: position)
        case .list(let items):
            guard items.count == 1 else { throw syntaxError() }
            return Expr(.quantifiedArray(op: op, left, quantifier, items[0]), position: position)
        }
    }

    /// `IS [NOT] NULL|TRUE|FALSE|UNKNOWN|DISTINCT FROM x`, `ISNULL`, `NOTNULL`.
    private mutating func parseIsTest(_ left: Expr) throws -> Expr {
        let position = SourcePosition(current.position)
        if consumeKeyword("isnull") { return Expr(.isTest(left, .null, negated: false), position: position) }
        if consumeKeyword("notnull") { return Expr(.isTest(left, .null, negated: true), position: position) }
        try expectKeyword("is")
        let negated = consumeKeyword("not")
        let word = current
        guard word.kind == .identifier else { throw syntaxError() }
        switch word.text {
        case "null": advance(); return Expr(.isTest(left, .null, negated: negated), position: position)
        case "true": advance(); return Expr(.isTest(left, .true, negated: negated), position: position)
        case "false": advance(); return Expr(.isTest(left, .false, negated: negated), position: position)
        case "unknown": advance(); return Expr(.isTest(left, .unknown, negated: negated), position: position)
        case "distinct":
            advance()
            try expectKeyword("from")
            let right = try parseExpr(Precedence.isTest + 1)
            return Expr(.isDistinctFrom(left, right, negated: negated), position: position)
        case "document", "normalized", "json", "nfc", "nfd", "nfkc", "nfkd", "of":
            throw unsupported("IS \(word.text.uppercased())", at: word)
        default:
            throw syntaxError()
        }
    }

    /// `[NOT] BETWEEN`, `[NOT] IN`, `[NOT] LIKE|ILIKE|SIMILAR TO`.
    private mutating func parsePatternPredicate(_ left: Expr) throws -> Expr {
        let position = SourcePosition(current.position)
        let negated = consumeKeyword("not")
        let word = advance()
        switch word.text {
        case "between":
            let symmetric = consumeKeyword("symmetric")
            if !symmetric { _ = consumeKeyword("asymmetric") }
            let low = try parseExpr(Precedence.otherOp)
            try expectKeyword("and")
            let high = try parseExpr(Precedence.otherOp)
            return Expr(.between(left, low: low, high: high, negated: negated, symmetric: symmetric), position: position)
        case "in":
            try expect(.leftParen)
            switch try parseSubqueryOrExprList() {
            case .query(let query):
                return Expr(.inSubquery(left, query, negated: negated), position: position)
            case .list(let items):
                return Expr(.inList(left, items, negated: negated), position: position)
            }
        default:
            let kind: PatternKind
            switch word.text {
            case "like": kind = .like
            case "ilike": kind = .ilike
            default:
                try expectKeyword("to")
                kind = .similarTo
            }
            if let quantifier = quantifierAhead() {
                // `x [NOT] LIKE ANY (...)` is the operator ~~ (or !~~, ~~*, !~~*) applied with ANY/ALL.
                guard kind != .similarTo else { throw syntaxError() }
                let op = (negated ? "!" : "") + (kind == .like ? "~~" : "~~*")
                return try parseQuantified(left, op: op, quantifier: quantifier, position: position)
            }
            let pattern = try parseExpr(Precedence.otherOp)
            let escape = consumeKeyword("escape") ? try parseExpr(Precedence.otherOp) : nil
            return Expr(.pattern(kind, left, pattern: pattern, escape: escape, negated: negated), position: position)
        }
    }

    /// Prefix operators (`NOT`, `-`, `+`, `~`, `@`, ...) and then a primary with its postfixes.
    private mutating func parseUnary() throws -> Expr {
        let token = current
        let position = SourcePosition(token.position)
        if token.isKeyword("not") {
            advance()
            return Expr(.not(try parseExpr(Precedence.not)), position: position)
        }
        guard token.kind == .op, !Self.nonPrefixOperators.contains(token.text) else {
            let primary = try parsePrimary()
            // PostgreSQL allows subscripts and field selection only on column references,
            // parameters and parenthesized expressions: `1.x`, `f(x)[1]`, `ARRAY[1][1]` are errors.
            var allowsIndirection = token.kind == .leftParen || token.kind == .parameter
            if case .column = primary.kind { allowsIndirection = true }
            return try parsePostfix(primary, allowsIndirection: allowsIndirection)
        }
        advance()
        if token.text == "-" || token.text == "+" {
            let operand = try parseExpr(Precedence.unary)
            if token.text == "-", case .literal(let literal) = operand.kind {
                // PostgreSQL folds a minus into a numeric constant (doNegate), so -2147483648 is an int4.
                switch literal {
                case .integer(let digits) where !digits.hasPrefix("-"):
                    return Expr(.literal(.integer("-" + digits)), position: position)
                case .numeric(let digits) where !digits.hasPrefix("-"):
                    return Expr(.literal(.numeric("-" + digits)), position: position)
                default: break
                }
            }
            return Expr(.unary(op: token.text, operand: operand), position: position)
        }
        let operand = try parseExpr(Precedence.otherOp + 1)
        return Expr(.unary(op: token.text, operand: operand), position: position)
    }

    /// `[ ]` subscripts and slices, `::type` casts and `.field` selection after a primary.
    mutating func parsePostfix(_ primary: Expr, allowsIndirection: Bool = false) throws -> Expr {
        var expr = primary
        var allowsIndirection = allowsIndirection
        while true {
            let position = SourcePosition(current.position)
            switch current.kind {
            case .doubleColon:
                advance()
                expr = Expr(.cast(expr, try parseTypeName()), position: position)
                allowsIndirection = false
            case .leftBracket where !allowsIndirection, .dot where !allowsIndirection:
                return expr
            case .leftBracket:
                var subscripts: [Subscript] = []
                while current.kind == .leftBracket {
                    subscripts.append(try parseSubscript())
                }
                if case .subscripts(let base, let earlier) = expr.kind {
                    expr = Expr(.subscripts(base, earlier + subscripts), position: expr.position)
                } else {
                    expr = Expr(.subscripts(expr, subscripts), position: position)
                }
            case .dot:
                advance()
                if current.isOp("*") {
                    advance()
                    expr = Expr(.fieldStar(expr), position: position)
                } else {
                    expr = Expr(.field(expr, try parseColLabel()), position: position)
                }
            default:
                return expr
            }
        }
    }

    mutating func parseSubscript() throws -> Subscript {
        try expect(.leftBracket)
        var lower: Expr?
        if current.kind != .colon { lower = try parseExpr() }
        if consume(.colon) {
            let upper = current.kind == .rightBracket ? nil : try parseExpr()
            try expect(.rightBracket)
            return .slice(lower: lower, upper: upper)
        }
        try expect(.rightBracket)
        guard let index = lower else { throw syntaxError() }
        return .index(index)
    }

    /// `expr, expr, ...` (at least one).
    mutating func parseExprList() throws -> [Expr] {
        var list = [try parseExpr()]
        while consume(.comma) { list.append(try parseExpr()) }
        return list
    }

    /// Whether the current token starts a query inside parentheses already consumed: SELECT,
    /// VALUES, WITH, TABLE, or parentheses around one of those.
    func startsQuery() -> Bool {
        var i = 0
        while peek(i).kind == .leftParen { i += 1 }
        let token = peek(i)
        return token.isKeyword("select") || token.isKeyword("values") || token.isKeyword("with")
            || token.isKeyword("table")
    }

    // MARK: - Primary expressions

    /// PostgreSQL's c_expr: constants, names, calls, parenthesized expressions and special forms.
    mutating func parsePrimary() throws -> Expr {
        let token = current
        let position = SourcePosition(token.position)
        switch token.kind {
        case .integer:
            advance()
            return Expr(.literal(.integer(token.text)), position: position)
        case .numeric:
            advance()
            return Expr(.literal(.numeric(token.text)), position: position)
        case .string:
            advance()
            return Expr(.literal(.string(token.text)), position: position)
        case .bitString:
            advance()
            return Expr(.literal(.bitString(token.text)), position: position)
        case .hexString:
            advance()
            return Expr(.literal(.hexString(token.text)), position: position)
        case .parameter:
            advance()
            guard let number = Int(token.text), number >= 1, number <= 65_535 else {
                throw syntaxError("there is no parameter $\(token.text)", at: token)
            }
            return Expr(.parameter(number), position: position)
        case .leftParen:
            return try parseParenthesizedExpr()
        case .leftBracket:
            // `[1, 2]` only appears inside ARRAY[...]; parseArrayElements handles it there.
            throw syntaxError()
        case .identifier:
            return try parseWordExpr()
        case .quotedIdentifier:
            return try parseNameExpr()
        default:
            throw syntaxError()
        }
    }

    /// `( ... )`: a scalar subquery, a parenthesized expression or an implicit row `(a, b)`;
    /// also a parenthesized query continued by set operations (`((SELECT 1) UNION SELECT 2)`).
    private mutating func parseParenthesizedExpr() throws -> Expr {
        let position = SourcePosition(current.position)
        try expect(.leftParen)
        switch try parseSubqueryOrExprList() {
        case .query(let query):
            return Expr(.subquery(query), position: position)
        case .list(let items):
            guard items.count > 1 else { return items[0] }
            return Expr(.row(items, explicit: false), position: position)
        }
    }

    /// The contents of parentheses that may hold a query or a list of expressions.
    enum SubqueryOrList {
        case query(Query)
        case list([Expr])
    }

    /// Parses what follows `(` up to and including `)`: a query (`SELECT ...`, or a parenthesized
    /// query followed by set operations or ORDER BY/LIMIT), or an expression list. A list of one
    /// parenthesized query, as in `x IN ((SELECT 1))`, is a query, as in PostgreSQL's grammar.
    /// No backtracking: a leading `(` is parsed as an expression first, and a scalar subquery
    /// followed by UNION or ORDER BY continues as a query.
    mutating func parseSubqueryOrExprList() throws -> SubqueryOrList {
        if startsQueryDirectly() {
            let query = try parseQuery()
            try expect(.rightParen)
            return .query(query)
        }
        let first = try parseExpr()
        if case .subquery(let inner) = first.kind {
            if startsQueryContinuation() {
                let query = try parseQuery(continuing: .query(inner))
                try expect(.rightParen)
                return .query(query)
            }
            if consume(.rightParen) { return .query(inner) }
        }
        var items = [first]
        while consume(.comma) { items.append(try parseExpr()) }
        try expect(.rightParen)
        return .list(items)
    }

    /// Whether the current token is SELECT, VALUES, WITH or TABLE.
    func startsQueryDirectly() -> Bool {
        let token = current
        return token.isKeyword("select") || token.isKeyword("values") || token.isKeyword("with")
            || token.isKeyword("table")
    }

    /// Whether a set operator or a query's trailing clause follows (after a parenthesized query).
    func startsQueryContinuation() -> Bool {
        let token = current
        guard token.kind == .identifier else { return false }
        switch token.text {
        case "union", "intersect", "except", "order", "limit", "offset", "fetch": return true
        case "for": return true
        default: return false
        }
    }

    /// Expressions that start with a word: keywords with special syntax, typed literals, function
    /// calls and column references.
    private mutating func parseWordExpr() throws -> Expr {
        let token = current
        // Fast path: a word that is no keyword (most column and function names) can only be a
        // name or a typed literal such as `date '...'`; `double precision` is the one
        // uncategorized keyword that starts special syntax.
        if token.category == nil && token.text != "double" { return try parseNameExpr() }
        let position = SourcePosition(token.position)
        let next = peek()
        switch token.text {
        case "true": advance(); return Expr(.literal(.boolean(true)), position: position)
        case "false": advance(); return Expr(.literal(.boolean(false)), position: position)
        case "null": advance(); return Expr(.literal(.null), position: position)
        case "default": advance(); return Expr(.defaultValue, position: position)
        case "case": return try parseCase()
        case "cast":
            advance()
            try expect(.leftParen)
            let value = try parseExpr()
            try expectKeyword("as")
            let type = try parseTypeName()
            try expect(.rightParen)
            return Expr(.cast(value, type), position: position)
        case "exists":
            guard next.kind == .leftParen else { break }
            advance()
            advance()
            let query = try parseQuery()
            try expect(.rightParen)
            return Expr(.exists(query), position: position)
        case "array":
            return try parseArrayConstructor()
        case "row":
            guard next.kind == .leftParen else { break }
            advance()
            advance()
            let items = current.kind == .rightParen ? [] : try parseExprList()
            try expect(.rightParen)
            return Expr(.row(items, explicit: true), position: position)
        case "current_date", "current_time", "current_timestamp", "localtime", "localtimestamp", "current_user",
             "current_role", "session_user", "user", "current_catalog", "current_schema":
            if token.text == "current_schema" && next.kind == .leftParen { break }
            return try parseValueFunction()
        case "coalesce", "greatest", "least", "nullif", "extract", "position", "substring", "trim", "overlay",
             "grouping", "collation", "normalize", "treat", "xmlconcat", "xmlelement", "xmlexists", "xmlforest",
             "xmlparse", "xmlpi", "xmlroot", "xmlserialize":
            if next.kind == .leftParen { return try parseSpecialFunction() }
        default:
            break
        }
        if let typed = try parseTypedLiteralIfPresent() { return typed }
        switch token.category {
        case .reserved?:
            throw syntaxError()
        case .typeFunc?:
            // `left(...)` is a call and `like 'x'` a typed literal; anything else fails at the
            // next token, where PostgreSQL's grammar notices.
            guard next.kind == .leftParen || next.kind == .string else { throw syntaxError(next) }
            return try parseNameExpr()
        default:
            return try parseNameExpr()
        }
    }

    /// A column reference or a function call, starting at a name.
    private mutating func parseNameExpr() throws -> Expr {
        let position = SourcePosition(current.position)
        var parts = [advance().text]
        while current.kind == .dot {
            let next = peek()
            if next.isOp("*") {
                index += 2
                return Expr(.star(qualifier: parts), position: position)
            }
            guard isColLabel(next) else { break }
            advance()
            parts.append(advance().text)
        }
        if current.kind == .leftParen {
            let name = QualifiedName(parts, position: position)
            let call = try parseFunctionCall(name: name)
            if current.kind == .string, call.over == nil, call.filter == nil, !call.isStar, !call.isDistinct,
               call.orderBy.isEmpty, call.withinGroup.isEmpty, call.arguments.allSatisfy({ $0.name == nil }) {
                // `name(modifiers) 'literal'`, e.g. `bpchar(3) 'abc'` or `vector(3) '[1,2,3]'`.
                let value = advance().text
                let type = TypeName(name, modifiers: call.arguments.map(\.value))
                return Expr(.typedLiteral(type: type, value: value), position: position)
            }
            return Expr(.function(call), position: position)
        }
        if current.kind == .string {
            // `type 'literal'` needs a type or function name: a column-name keyword such as
            // `between` is neither unless qualified.
            if parts.count == 1 && peek(-1).kind == .identifier && peek(-1).category == .colName {
                throw syntaxError()
            }
            let value = advance().text
            return Expr(.typedLiteral(type: TypeName(QualifiedName(parts, position: position)), value: value),
                        position: position)
        }
        return Expr(.column(parts), position: position)
    }

    /// `CASE [operand] WHEN ... THEN ... [ELSE ...] END`.
    private mutating func parseCase() throws -> Expr {
        let position = SourcePosition(current.position)
        try expectKeyword("case")
        let operand = isKeyword("when") ? nil : try parseExpr()
        var whens: [WhenClause] = []
        while consumeKeyword("when") {
            let condition = try parseExpr()
            try expectKeyword("then")
            whens.append(WhenClause(condition: condition, result: try parseExpr()))
        }
        guard !whens.isEmpty else { throw syntaxError() }
        let otherwise = consumeKeyword("else") ? try parseExpr() : nil
        try expectKeyword("end")
        return Expr(.caseWhen(operand: operand, whens: whens, otherwise: otherwise), position: position)
    }

    /// `ARRAY[...]` or `ARRAY(subquery)`.
    private mutating func parseArrayConstructor() throws -> Expr {
        let position = SourcePosition(current.position)
        try expectKeyword("array")
        if consume(.leftParen) {
            let query = try parseQuery()
            try expect(.rightParen)
            return Expr(.arraySubquery(query), position: position)
        }
        return try parseArrayElements(position: position)
    }

    /// `[a, b]` or `[[...], [...]]` after ARRAY; nested brackets recurse through `descend()`.
    private mutating func parseArrayElements(position: SourcePosition) throws -> Expr {
        try descend()
        defer { ascend() }
        try expect(.leftBracket)
        var items: [Expr] = []
        if current.kind != .rightBracket {
            repeat {
                if current.kind == .leftBracket {
                    items.append(try parseArrayElements(position: SourcePosition(current.position)))
                } else {
                    items.append(try parseExpr())
                }
            } while consume(.comma)
        }
        try expect(.rightBracket)
        return Expr(.array(items), position: position)
    }

    /// CURRENT_DATE, CURRENT_TIMESTAMP(p), CURRENT_USER, ...
    private mutating func parseValueFunction() throws -> Expr {
        let token = advance()
        let position = SourcePosition(token.position)
        func precision(_ parser: inout Parser) throws -> Int? {
            guard parser.current.kind == .leftParen else { return nil }
            parser.advance()
            let value = try parser.parseIntegerLiteral()
            try parser.expect(.rightParen)
            return value
        }
        let function: SQLValueFunction
        switch token.text {
        case "current_date": function = .currentDate
        case "current_time": function = .currentTime(precision: try precision(&self))
        case "current_timestamp": function = .currentTimestamp(precision: try precision(&self))
        case "localtime": function = .localTime(precision: try precision(&self))
        case "localtimestamp": function = .localTimestamp(precision: try precision(&self))
        case "current_user": function = .currentUser
        case "current_role": function = .currentRole
        case "session_user": function = .sessionUser
        case "user": function = .user
        case "current_catalog": function = .currentCatalog
        case "current_schema": function = .currentSchema
        default: throw unsupported(token.text.uppercased(), at: token)
        }
        return Expr(.valueFunction(function), position: position)
    }
}
