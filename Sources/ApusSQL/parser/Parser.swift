import ApusCore

/// Parses a script of PostgreSQL-dialect SQL into statements.
///
/// - Parameter sql: the query string; statements are separated by `;` (quotes, dollar quotes and
///   comments are respected), and empty statements are skipped.
/// - Returns: the statements in order.
/// - Throws: `ParseError` at the first error, with its SQLSTATE and 1-based character position.
///
/// ```swift
/// let statements = try parse(sql: "SELECT a FROM t WHERE b = 1; COMMIT")
/// print(statements[0])   // SELECT a FROM t WHERE (b = 1)
/// ```
public func parse(sql: String) throws -> [Statement] {
    try Parser.parse(sql: sql)
}

/// The hand-written recursive-descent parser for PostgreSQL's dialect.
///
/// The grammar follows PostgreSQL 15's gram.y: the same keyword categories decide where a word
/// may be a name, the same precedence table orders operators, and errors use its wording
/// (`syntax error at or near "x"`, `syntax error at end of input`) and its positions (1-based
/// character offsets into the whole string). Recognized statements that ApusDB does not
/// implement (LISTEN, NOTIFY, DO, CALL, CREATE FUNCTION, ...) fail with 0A000 rather than 42601.
///
/// Every recursive descent (expressions, subqueries, parenthesized joins, nested statements)
/// goes through `descend()`, which counts depth against `ParserLimits.depthMax`, so no input
/// can overflow the stack.
///
/// Concurrency: a value with one owner; each call of `parse(sql:)` makes its own.
public struct Parser {
    var tokens: [Token]
    var index = 0
    var depth = 0
    /// The depth of a select item's top-level expression, where a keyword operator not followed
    /// by its continuation is a bare column label instead; -1 outside target lists.
    var bareLabelDepth = -1
    /// The lexical error that cut the token stream short; reported when the parser reaches it.
    var lexError: ParseError?
    let limits: ParserLimits
    let sql: String

    /// Parses a script; see the free function `parse(sql:)`.
    /// - Parameters:
    ///   - sql: the query string.
    ///   - limits: the bounds to enforce; must pass `validate()`.
    /// - Throws: `ParseError`; 54000 when `sql` is longer than `limits.sqlBytesMax`.
    public static func parse(sql: String, limits: ParserLimits = ParserLimits()) throws -> [Statement] {
        try limits.validate()
        guard sql.utf8.count <= limits.sqlBytesMax else {
            throw ParseError(.programLimitExceeded,
                             "statement is too long: \(sql.utf8.count) bytes exceeds the limit of \(limits.sqlBytesMax)",
                             position: 1)
        }
        let (tokens, lexError) = Lexer.tokenizePrefix(sql)
        var parser = Parser(tokens: tokens, limits: limits, sql: sql)
        parser.lexError = lexError
        guard parser.tokens.count > tokensOnCallerStackMax else { return try parser.parseScript() }
        var result: Result<[Statement], any Error> = .failure(
            ParseError(.outOfMemory, "could not start a parser thread", position: 1))
        let stackBytes = LargeStack.bytesBase + limits.depthMax * LargeStack.bytesPerLevel
        _ = LargeStack.run(stackBytes: stackBytes) {
            result = Result { try parser.parseScript() }
        }
        return try result.get()
    }

    /// Inputs with at most this many tokens are parsed on the caller's stack: they cannot nest
    /// deeper than this many levels, about 2.5 MiB of stack in a debug build (less than the
    /// 8 MiB threads get on Linux). Longer inputs run on a thread sized for `depthMax`
    /// (`LargeStack`).
    static let tokensOnCallerStackMax = 256

    /// Parses a script that must hold exactly one statement.
    /// - Throws: `ParseError`; 42601 when there is no statement or more than one.
    public static func parseStatement(sql: String, limits: ParserLimits = ParserLimits()) throws -> Statement {
        let statements = try parse(sql: sql, limits: limits)
        guard statements.count == 1 else {
            throw ParseError(.syntaxError, "expected exactly one statement, found \(statements.count)", position: 1)
        }
        return statements[0]
    }

    /// Parses one expression (for DEFAULT and CHECK texts stored in the catalog, and for tests).
    /// - Throws: `ParseError` when the text is not exactly one expression.
    public static func parseExpression(sql: String, limits: ParserLimits = ParserLimits()) throws -> Expr {
        try limits.validate()
        guard sql.utf8.count <= limits.sqlBytesMax else {
            throw ParseError(.programLimitExceeded, "expression is too long", position: 1)
        }
        let (tokens, lexError) = Lexer.tokenizePrefix(sql)
        var parser = Parser(tokens: tokens, limits: limits, sql: sql)
        parser.lexError = lexError
        var result: Result<Expr, any Error> = .failure(
            ParseError(.outOfMemory, "could not start a parser thread", position: 1))
        let body = {
            result = Result {
                let expr = try parser.parseExpr()
                guard parser.current.kind == .eof else { throw parser.syntaxError() }
                if let lexError = parser.lexError { throw lexError }
                return expr
            }
        }
        if parser.tokens.count > tokensOnCallerStackMax {
            _ = LargeStack.run(stackBytes: LargeStack.bytesBase + limits.depthMax * LargeStack.bytesPerLevel, body)
        } else {
            body()
        }
        return try result.get()
    }

    init(tokens: [Token], limits: ParserLimits, sql: String) {
        precondition(tokens.last?.kind == .eof, "the token stream ends with eof")
        self.tokens = tokens
        self.limits = limits
        self.sql = sql
    }

    // MARK: - Script

    mutating func parseScript() throws -> [Statement] {
        var statements: [Statement] = []
        while current.kind != .eof {
            if consume(.semicolon) { continue }
            statements.append(try parseStatement())
            guard current.kind == .semicolon || current.kind == .eof else { throw syntaxError() }
        }
        if let lexError { throw lexError }
        return statements
    }

    // MARK: - Token access

    /// The current token; the eof token once input is exhausted.
    var current: Token { tokens[index] }

    /// The token `offset` places ahead, or eof.
    func peek(_ offset: Int = 1) -> Token {
        let i = index + offset
        return i < tokens.count ? tokens[i] : tokens[tokens.count - 1]
    }

    /// Moves past the current token (never past eof) and returns it.
    @discardableResult
    mutating func advance() -> Token {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    /// Whether the current token is the unquoted keyword `word`.
    func isKeyword(_ word: String) -> Bool { current.isKeyword(word) }

    /// Whether the current and next tokens are the unquoted keywords `first`, `second`.
    /// (Fixed-arity forms avoid the array a variadic call allocates on every probe.)
    func isKeywords(_ first: String, _ second: String) -> Bool {
        current.isKeyword(first) && peek().isKeyword(second)
    }

    /// Whether the next three tokens are the given keywords.
    func isKeywords(_ first: String, _ second: String, _ third: String) -> Bool {
        current.isKeyword(first) && peek().isKeyword(second) && peek(2).isKeyword(third)
    }

    /// Whether the next four tokens are the given keywords.
    func isKeywords(_ first: String, _ second: String, _ third: String, _ fourth: String) -> Bool {
        current.isKeyword(first) && peek().isKeyword(second) && peek(2).isKeyword(third)
            && peek(3).isKeyword(fourth)
    }

    /// Consumes the keywords `first`, `second` if both come next.
    mutating func consumeKeywords(_ first: String, _ second: String) -> Bool {
        guard isKeywords(first, second) else { return false }
        index += 2
        return true
    }

    /// Consumes three keywords if they all come next.
    mutating func consumeKeywords(_ first: String, _ second: String, _ third: String) -> Bool {
        guard isKeywords(first, second, third) else { return false }
        index += 3
        return true
    }

    /// Whether the current and following tokens are the unquoted keywords `words`.
    func isKeywords(_ words: String...) -> Bool {
        for (i, word) in words.enumerated() where !peek(i).isKeyword(word) { return false }
        return true
    }

    /// Consumes the keyword `word` if it is current.
    mutating func consumeKeyword(_ word: String) -> Bool {
        guard isKeyword(word) else { return false }
        advance()
        return true
    }

    /// Consumes the keywords `words` if they all come next; otherwise consumes nothing.
    mutating func consumeKeywords(_ words: String...) -> Bool {
        for (i, word) in words.enumerated() where !peek(i).isKeyword(word) { return false }
        index += words.count
        return true
    }

    /// Consumes `first` and then requires `second` (ORDER BY, GROUP BY): when `first` can only
    /// start that pair, the error belongs at the token after it, as PostgreSQL reports it.
    mutating func consumeKeywordPair(_ first: String, _ second: String) throws -> Bool {
        guard consumeKeyword(first) else { return false }
        try expectKeyword(second)
        return true
    }

    /// Consumes the keyword `word` or fails with a syntax error at the current token.
    mutating func expectKeyword(_ word: String) throws {
        guard consumeKeyword(word) else { throw syntaxError() }
    }

    /// Consumes a token of `kind` if it is current.
    mutating func consume(_ kind: TokenKind) -> Bool {
        guard current.kind == kind else { return false }
        advance()
        return true
    }

    /// Consumes a token of `kind` or fails with a syntax error.
    @discardableResult
    mutating func expect(_ kind: TokenKind) throws -> Token {
        guard current.kind == kind else { throw syntaxError() }
        return advance()
    }

    /// Consumes the operator `symbol` if it is current.
    mutating func consumeOp(_ symbol: String) -> Bool {
        guard current.isOp(symbol) else { return false }
        advance()
        return true
    }

    // MARK: - Errors

    /// The source text of a token as written.
    func rawText(_ token: Token) -> String {
        let utf8 = sql.utf8
        let start = utf8.index(utf8.startIndex, offsetBy: token.byteStart)
        let end = utf8.index(utf8.startIndex, offsetBy: token.byteEnd)
        return String(decoding: utf8[start..<end], as: UTF8.self)
    }

    /// PostgreSQL's `syntax error at or near "x"` (or `at end of input`) at `token`, default current.
    func syntaxError(_ token: Token? = nil) -> ParseError {
        let token = token ?? current
        if token.kind == .eof {
            return lexError ?? ParseError(.syntaxError, "syntax error at end of input", position: token.position)
        }
        return ParseError(.syntaxError, "syntax error at or near \"\(rawText(token))\"", position: token.position)
    }

    /// A 42601 error with a specific message at `token` (default current).
    func syntaxError(_ message: String, at token: Token? = nil) -> ParseError {
        let token = token ?? current
        if token.kind == .eof, let lexError { return lexError }
        return ParseError(.syntaxError, message, position: token.position)
    }

    /// The 0A000 error for recognized syntax ApusDB does not support.
    func unsupported(_ feature: String, at token: Token? = nil) -> ParseError {
        ParseError(.featureNotSupported, "feature not supported: \(feature)", position: (token ?? current).position)
    }

    /// Enters one level of nesting; callers pair it with `defer { ascend() }`.
    /// - Throws: 54001 when nesting would exceed `limits.depthMax`.
    mutating func descend() throws {
        guard depth < limits.depthMax else {
            throw ParseError(ParserSQLState.statementTooComplex,
                             "stack depth limit exceeded: nesting is deeper than \(limits.depthMax) levels",
                             position: current.position)
        }
        depth += 1
    }

    /// Leaves one level of nesting.
    mutating func ascend() {
        precondition(depth > 0, "ascend pairs with descend")
        depth -= 1
    }

    // MARK: - Names

    /// PostgreSQL's ColId: an identifier, an unreserved or a column-name keyword.
    func isColId(_ token: Token) -> Bool {
        token.kind == .quotedIdentifier || (token.kind == .identifier && (token.category == nil || token.category == .colName))
    }

    /// PostgreSQL's type_function_name: an identifier, an unreserved or a type/function keyword.
    func isTypeFunctionName(_ token: Token) -> Bool {
        token.kind == .quotedIdentifier
            || (token.kind == .identifier && (token.category == nil || token.category == .typeFunc))
    }

    /// PostgreSQL's ColLabel: any identifier or keyword.
    func isColLabel(_ token: Token) -> Bool {
        token.kind == .quotedIdentifier || token.kind == .identifier
    }

    /// Consumes a ColId.
    mutating func parseColId() throws -> String {
        guard isColId(current) else { throw syntaxError() }
        return advance().text
    }

    /// Consumes a ColLabel.
    mutating func parseColLabel() throws -> String {
        guard isColLabel(current) else { throw syntaxError() }
        return advance().text
    }

    /// A possibly qualified name: `ColId ('.' ColLabel)*`.
    mutating func parseQualifiedName() throws -> QualifiedName {
        let position = SourcePosition(current.position)
        var parts = [try parseColId()]
        while current.kind == .dot && isColLabel(peek()) {
            advance()
            parts.append(advance().text)
        }
        return QualifiedName(parts, position: position)
    }

    /// `(name, name, ...)`.
    mutating func parseParenthesizedNames() throws -> [String] {
        try expect(.leftParen)
        var names = [try parseColId()]
        while consume(.comma) { names.append(try parseColId()) }
        try expect(.rightParen)
        return names
    }

    /// `name, name, ...` of qualified names.
    mutating func parseQualifiedNameList() throws -> [QualifiedName] {
        var names = [try parseQualifiedName()]
        while consume(.comma) { names.append(try parseQualifiedName()) }
        return names
    }

    /// A non-negative integer literal that fits `Int`.
    mutating func parseIntegerLiteral() throws -> Int {
        guard current.kind == .integer, let value = Int(current.text) else { throw syntaxError() }
        advance()
        return value
    }

    /// A possibly signed integer constant that fits `Int64` (sequence options and the like).
    mutating func parseSignedInt64() throws -> Int64 {
        let negative = consumeOp("-")
        if !negative { _ = consumeOp("+") }
        guard current.kind == .integer else { throw syntaxError() }
        let token = advance()
        guard let value = Int64((negative ? "-" : "") + token.text) else {
            throw ParseError(.numericValueOutOfRange, "value \"\(token.text)\" is out of range for type bigint",
                             position: token.position)
        }
        return value
    }

    /// A string literal's value.
    mutating func parseStringLiteral() throws -> String {
        guard current.kind == .string else { throw syntaxError() }
        return advance().text
    }

    // MARK: - Statements

    /// Parses one statement, dispatching on its first keyword.
    mutating func parseStatement() throws -> Statement {
        try descend()
        defer { ascend() }
        let token = current
        if token.kind == .leftParen { return .query(try parseQuery()) }
        guard token.kind == .identifier else { throw syntaxError() }
        switch token.text {
        case "select", "values", "table", "with":
            return try parseWithPrefixedStatement()
        case "insert": return .insert(try parseInsert(with: nil))
        case "update": return .update(try parseUpdate(with: nil))
        case "delete": return .delete(try parseDelete(with: nil))
        case "create": return try parseCreate()
        case "drop": return try parseDrop()
        case "alter": return try parseAlter()
        case "truncate": return .truncate(try parseTruncate())
        case "comment": return .comment(try parseComment())
        case "begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release":
            return .transaction(try parseTransaction())
        case "set": return try parseSet()
        case "show": return .show(try parseShow())
        case "reset": return .reset(try parseReset())
        case "prepare": return try parsePrepare()
        case "execute": return .execute(try parseExecute())
        case "deallocate": return .deallocate(try parseDeallocate())
        case "explain": return .explain(try parseExplain())
        case "analyze", "analyse": return .analyze(try parseAnalyze())
        case "vacuum": return .vacuum(try parseVacuum())
        case "copy": return .copy(try parseCopy())
        case "grant": return .grant(try parseGrant())
        case "revoke": return .revoke(try parseRevoke())
        case "declare": return .declareCursor(try parseDeclareCursor())
        case "fetch", "move": return .fetch(try parseFetch())
        case "close": return .closeCursor(try parseCloseCursor())
        case "unlisten":
            advance()
            if consumeOp("*") { return .unlisten(nil) }
            return .unlisten(try parseColId())
        case "discard":
            advance()
            let what = current.kind == .identifier ? current.text : ""
            guard ["all", "plans", "temp", "temporary", "sequences"].contains(what) else { throw syntaxError() }
            advance()
            return .discard(what == "temporary" ? "temp" : what)
        case "refresh" where peek().kind == .identifier && peek().text == "materialized":
            advance()
            advance()
            try expectKeyword("view")
            let concurrently = consumeKeyword("concurrently")
            let name = try parseQualifiedName()
            var withData = true
            if consumeKeyword("with") {
                withData = !consumeKeyword("no")
                try expectKeyword("data")
            }
            return .refreshMaterializedView(RefreshMaterializedViewStatement(name: name, concurrently: concurrently, withData: withData))
        case "listen", "notify", "do", "call", "lock", "cluster", "reindex", "checkpoint",
             "load", "refresh", "security", "import", "reassign":
            throw unsupported(token.text.uppercased())
        default:
            throw syntaxError()
        }
    }

    /// A statement that may start with WITH: a query, or INSERT/UPDATE/DELETE after WITH.
    mutating func parseWithPrefixedStatement() throws -> Statement {
        guard isKeyword("with") else { return .query(try parseQuery()) }
        let with = try parseWithClause()
        let word = current.kind == .identifier ? current.text : ""
        switch word {
        case "insert": return .insert(try parseInsert(with: with))
        case "update": return .update(try parseUpdate(with: with))
        case "delete": return .delete(try parseDelete(with: with))
        default: return .query(try parseQuery(with: with))
        }
    }
}
