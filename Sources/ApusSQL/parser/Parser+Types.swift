import ApusCore

extension Parser {
    /// Words that start a built-in type with SQL-standard syntax; they are column-name keywords,
    /// so they are type names only where a type is expected or before a string literal.
    static let typeKeywords: Set<String> = [
        "int", "integer", "smallint", "bigint", "real", "float", "decimal", "dec", "numeric", "boolean", "char",
        "character", "nchar", "national", "varchar", "bit", "time", "timestamp", "interval",
    ]

    static let intervalFields: Set<String> = ["year", "month", "day", "hour", "minute", "second"]

    /// Parses a type name with optional modifiers and array bounds.
    mutating func parseTypeName() throws -> TypeName {
        try descend()
        defer { ascend() }
        var type: TypeName
        if let builtin = try parseBuiltinTypeName() {
            type = builtin
        } else {
            guard isTypeFunctionName(current) else { throw syntaxError() }
            let position = SourcePosition(current.position)
            var parts = [advance().text]
            while current.kind == .dot && isColLabel(peek()) {
                advance()
                parts.append(advance().text)
            }
            type = TypeName(QualifiedName(parts, position: position), modifiers: try parseTypeModifiers())
        }
        try parseArrayBounds(&type)
        return type
    }

    /// `[]`, `[n]` (repeated) or `ARRAY [n]`.
    private mutating func parseArrayBounds(_ type: inout TypeName) throws {
        if consumeKeyword("array") {
            if consume(.leftBracket) {
                type.arrayBounds.append(try parseIntegerLiteral())
                try expect(.rightBracket)
            } else {
                type.arrayBounds.append(nil)
            }
            return
        }
        while consume(.leftBracket) {
            if consume(.rightBracket) {
                type.arrayBounds.append(nil)
            } else {
                type.arrayBounds.append(try parseIntegerLiteral())
                try expect(.rightBracket)
            }
        }
    }

    /// `(expr, ...)` type modifiers, if present.
    private mutating func parseTypeModifiers() throws -> [Expr] {
        guard consume(.leftParen) else { return [] }
        let modifiers = try parseExprList()
        try expect(.rightParen)
        return modifiers
    }

    private mutating func parseOptionalPrecision() throws -> [Expr] {
        guard current.kind == .leftParen else { return [] }
        advance()
        let token = current
        let value = try parseIntegerLiteral()
        try expect(.rightParen)
        return [Expr(.literal(.integer(String(value))), position: SourcePosition(token.position))]
    }

    /// The SQL-standard type spellings, mapped to catalog names; nil (consuming nothing) when the
    /// current token starts no such type.
    mutating func parseBuiltinTypeName() throws -> TypeName? {
        let token = current
        guard token.kind == .identifier else { return nil }
        let position = SourcePosition(token.position)
        func named(_ name: String, _ modifiers: [Expr] = []) -> TypeName {
            TypeName(QualifiedName([name], position: position), modifiers: modifiers)
        }
        func one() -> [Expr] { [Expr(.literal(.integer("1")), position: position)] }
        switch token.text {
        case "int", "integer": advance(); return named("int4")
        case "smallint": advance(); return named("int2")
        case "bigint": advance(); return named("int8")
        case "real": advance(); return named("float4")
        case "boolean": advance(); return named("bool")
        case "double":
            guard peek().isKeyword("precision") else { return nil }
            index += 2
            return named("float8")
        case "float":
            advance()
            guard current.kind == .leftParen else { return named("float8") }
            advance()
            let bitsToken = current
            let bits = try parseIntegerLiteral()
            try expect(.rightParen)
            guard bits >= 1 else {
                throw ParseError(ParserSQLState.invalidParameterValue, "precision for type float must be at least 1 bit",
                                 position: bitsToken.position)
            }
            guard bits <= 53 else {
                throw ParseError(ParserSQLState.invalidParameterValue,
                                 "precision for type float must be less than 54 bits", position: bitsToken.position)
            }
            return named(bits <= 24 ? "float4" : "float8")
        case "decimal", "dec", "numeric":
            advance()
            return named("numeric", try parseTypeModifiers())
        case "char", "character", "nchar", "national":
            advance()
            if token.text == "national" {
                guard consumeKeyword("character") || consumeKeyword("char") else { throw syntaxError() }
            }
            if consumeKeyword("varying") { return named("varchar", try parseTypeModifiers()) }
            let length = try parseTypeModifiers()
            return named("bpchar", length.isEmpty ? one() : length)
        case "varchar":
            advance()
            return named("varchar", try parseTypeModifiers())
        case "bit":
            advance()
            if consumeKeyword("varying") { return named("varbit", try parseTypeModifiers()) }
            let length = try parseTypeModifiers()
            return named("bit", length.isEmpty ? one() : length)
        case "time", "timestamp":
            advance()
            let precision = try parseOptionalPrecision()
            var withZone = false
            if consumeKeywords("with", "time", "zone") {
                withZone = true
            } else {
                _ = consumeKeywords("without", "time", "zone")
            }
            return named(token.text + (withZone ? (token.text == "time" ? "tz" : "tz") : ""), precision)
        case "interval":
            advance()
            if current.kind == .identifier && Self.intervalFields.contains(current.text) {
                throw unsupported("INTERVAL field qualifiers")
            }
            return named("interval", try parseOptionalPrecision())
        default:
            return nil
        }
    }

    /// `DATE '...'`-style literals whose type is a keyword (`TIMESTAMP WITH TIME ZONE '...'`,
    /// `INTERVAL '1 day'`, `INT '1'`); nil, consuming nothing, when no string follows the type.
    mutating func parseTypedLiteralIfPresent() throws -> Expr? {
        let token = current
        guard token.kind == .identifier,
              Self.typeKeywords.contains(token.text) || (token.text == "double" && peek().isKeyword("precision"))
        else { return nil }
        let start = index
        let type: TypeName?
        do {
            type = try parseBuiltinTypeName()
        } catch {
            index = start
            return nil
        }
        guard var literalType = type, current.kind == .string else {
            index = start
            return nil
        }
        let value = advance().text
        if literalType.name.name == "interval", current.kind == .identifier,
           Self.intervalFields.contains(current.text) {
            throw unsupported("INTERVAL field qualifiers")
        }
        if token.text == "bit" || token.text == "char" || token.text == "character" || token.text == "nchar" {
            // PostgreSQL's ConstBit/ConstCharacter: a literal without a length takes the string's length.
            if peek(-2).kind != .rightParen { literalType.modifiers = [] }
        }
        return Expr(.typedLiteral(type: literalType, value: value), position: SourcePosition(token.position))
    }
}
