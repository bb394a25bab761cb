import ApusCore

/// Splits SQL text into tokens, following PostgreSQL's scanner (scan.l) with
/// `standard_conforming_strings = on`.
///
/// The lexer walks the UTF-8 bytes once, with no regular expressions and no `Character`
/// iteration; it keeps a running character count so every token carries PostgreSQL's 1-based
/// character position. It recognizes identifiers (unquoted ones folded to lower case, truncated
/// to 63 bytes like NAMEDATALEN), `"quoted"` identifiers, numbers, `'strings'` (with `''`,
/// continuation over newlines), `E'escapes'`, `$tag$dollar quotes$tag$`, `B''`/`X''` bit strings,
/// `$n` parameters, operators by PostgreSQL's rules (a multi-character operator ends in `+` or
/// `-` only if it also holds one of `~ ! @ # % ^ & | ` ?`), and `--` and nested `/* */` comments.
///
/// Concurrency: a value type with one owner while it runs.
struct Lexer {
    /// The longest identifier kept, in bytes (PostgreSQL's NAMEDATALEN - 1); longer ones are truncated.
    static let identifierBytesMax = 63

    private let bytes: [UInt8]
    private var index = 0
    /// The byte whose character position `cursorPosition` holds; only moves forward.
    private var cursorByte = 0
    private var cursorPosition = 1
    private var tokens: [Token] = []

    /// Lexes `sql` completely.
    /// - Throws: `ParseError` for unterminated strings, identifiers or comments, malformed
    ///   numbers, bad escapes and characters that start no token.
    static func tokenize(_ sql: String) throws -> [Token] {
        let (tokens, error) = tokenizePrefix(sql)
        if let error { throw error }
        return tokens
    }

    /// Lexes `sql` up to its first lexical error, if any.
    ///
    /// PostgreSQL's scanner runs one token ahead of the grammar, so a syntax error before an
    /// unterminated string is reported first. To match, the tokens before the error are returned
    /// followed by an eof token at the error's position; the parser reports the lexical error
    /// only when it reaches that token.
    /// - Returns: the tokens, ending with eof, and the lexical error that ended them early.
    static func tokenizePrefix(_ sql: String) -> (tokens: [Token], error: ParseError?) {
        var lexer = Lexer(bytes: Array(sql.utf8))
        let error = lexer.run()
        return (lexer.tokens, error)
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
        tokens.reserveCapacity(bytes.count / 4 + 2)
    }

    // MARK: - Positions

    /// The 1-based character position of byte `offset`; offsets must not decrease between calls.
    private mutating func position(of offset: Int) -> Int {
        precondition(offset >= cursorByte, "token positions are computed in order")
        while cursorByte < offset {
            if bytes[cursorByte] & 0xC0 != 0x80 { cursorPosition += 1 }
            cursorByte += 1
        }
        return cursorPosition
    }

    /// The character position of any byte, counting from the start (error paths only).
    private func positionFromStart(of offset: Int) -> Int {
        var position = 1
        for i in 0..<min(offset, bytes.count) where bytes[i] & 0xC0 != 0x80 { position += 1 }
        return position
    }

    private func text(_ start: Int, _ end: Int) -> String {
        String(decoding: bytes[start..<min(end, bytes.count)], as: UTF8.self)
    }

    private func error(_ message: String, at start: Int, state: SQLState = .syntaxError) -> ParseError {
        ParseError(state, message, position: positionFromStart(of: start))
    }

    /// `message at or near "text"` where text runs from `start` to the end of input, as PostgreSQL
    /// reports unterminated literals.
    private func unterminated(_ message: String, at start: Int) -> ParseError {
        error("\(message) at or near \"\(text(start, bytes.count))\"", at: start)
    }

    // MARK: - Driver

    private mutating func run() -> ParseError? {
        while true {
            do {
                try skipSpaceAndComments()
                guard index < bytes.count else {
                    let end = bytes.count
                    tokens.append(Token(kind: .eof, text: "", byteStart: end, byteEnd: end, position: position(of: end)))
                    return nil
                }
                try lexToken()
            } catch {
                let failure = error as? ParseError
                    ?? ParseError(.internalError, "lexer failed: \(error)", position: position(of: index))
                let end = bytes.count
                tokens.append(Token(kind: .eof, text: "", byteStart: end, byteEnd: end, position: failure.position))
                return failure
            }
        }
    }

    private mutating func emit(_ kind: TokenKind, _ text: String, from start: Int, category: KeywordCategory? = nil) {
        tokens.append(Token(kind: kind, text: text, category: category, byteStart: start, byteEnd: index,
                            position: position(of: start)))
    }

    private func byte(at offset: Int) -> UInt8 {
        offset < bytes.count ? bytes[offset] : 0
    }

    private mutating func lexToken() throws {
        let start = index
        let b = bytes[index]
        switch b {
        case UInt8(ascii: "\""):
            try lexQuotedIdentifier()
        case UInt8(ascii: "'"):
            index += 1
            let value = try lexQuotedBody(start: start, escapes: false)
            emit(.string, value, from: start)
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            try lexNumber()
        case UInt8(ascii: "."):
            if Self.isDigit(byte(at: index + 1)) {
                try lexNumber()
            } else {
                index += 1
                emit(.dot, ".", from: start)
            }
        case UInt8(ascii: "$"):
            try lexDollar()
        case UInt8(ascii: "("): index += 1; emit(.leftParen, "(", from: start)
        case UInt8(ascii: ")"): index += 1; emit(.rightParen, ")", from: start)
        case UInt8(ascii: "["): index += 1; emit(.leftBracket, "[", from: start)
        case UInt8(ascii: "]"): index += 1; emit(.rightBracket, "]", from: start)
        case UInt8(ascii: ","): index += 1; emit(.comma, ",", from: start)
        case UInt8(ascii: ";"): index += 1; emit(.semicolon, ";", from: start)
        case UInt8(ascii: ":"):
            if byte(at: index + 1) == UInt8(ascii: ":") {
                index += 2
                emit(.doubleColon, "::", from: start)
            } else if byte(at: index + 1) == UInt8(ascii: "=") {
                index += 2
                emit(.op, ":=", from: start)
            } else {
                index += 1
                emit(.colon, ":", from: start)
            }
        default:
            if Self.isIdentifierStart(b) {
                try lexWord()
            } else if Self.isOperatorChar(b) {
                lexOperator()
            } else {
                throw error("syntax error at or near \"\(text(start, start + Self.utf8Length(b)))\"", at: start)
            }
        }
    }

    // MARK: - Character classes

    static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

    static func isIdentifierStart(_ b: UInt8) -> Bool {
        (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || b == 95 || b >= 0x80
    }

    static func isIdentifierPart(_ b: UInt8) -> Bool {
        isIdentifierStart(b) || isDigit(b) || b == 36
    }

    /// PostgreSQL's `op_chars`: `~ ! @ # ^ & | ` ? + - * / % < > =`.
    static func isOperatorChar(_ b: UInt8) -> Bool {
        switch b {
        case 126, 33, 64, 35, 94, 38, 124, 96, 63, 43, 45, 42, 47, 37, 60, 62, 61: return true
        default: return false
        }
    }

    static func isSpace(_ b: UInt8) -> Bool {
        b == 32 || b == 9 || b == 10 || b == 13 || b == 12 || b == 11
    }

    private static func utf8Length(_ lead: UInt8) -> Int {
        lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
    }

    // MARK: - Whitespace and comments

    private mutating func skipSpaceAndComments() throws {
        while index < bytes.count {
            let b = bytes[index]
            if Self.isSpace(b) {
                index += 1
            } else if b == UInt8(ascii: "-") && byte(at: index + 1) == UInt8(ascii: "-") {
                while index < bytes.count && bytes[index] != 10 && bytes[index] != 13 { index += 1 }
            } else if b == UInt8(ascii: "/") && byte(at: index + 1) == UInt8(ascii: "*") {
                try skipBlockComment()
            } else {
                return
            }
        }
    }

    /// Skips a `/* */` comment, which nests as in PostgreSQL; the nesting depth is a counter, not recursion.
    private mutating func skipBlockComment() throws {
        let start = index
        var depth = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "/") && byte(at: index + 1) == UInt8(ascii: "*") {
                depth += 1
                index += 2
            } else if bytes[index] == UInt8(ascii: "*") && byte(at: index + 1) == UInt8(ascii: "/") {
                depth -= 1
                index += 2
                if depth == 0 { return }
            } else {
                index += 1
            }
        }
        throw unterminated("unterminated /* comment", at: start)
    }

    // MARK: - Words

    private mutating func lexWord() throws {
        let start = index
        let b = bytes[index] | 0x20
        let next = byte(at: index + 1)
        if next == UInt8(ascii: "'") {
            switch b {
            case UInt8(ascii: "e"):
                index += 2
                let value = try lexQuotedBody(start: start, escapes: true)
                emit(.string, value, from: start)
                return
            case UInt8(ascii: "n"):
                index += 2
                let value = try lexQuotedBody(start: start, escapes: false)
                emit(.string, value, from: start)
                return
            case UInt8(ascii: "b"), UInt8(ascii: "x"):
                index += 2
                let value = try lexQuotedBody(start: start, escapes: false)
                try emitBitString(value, hex: b == UInt8(ascii: "x"), from: start)
                return
            default:
                break
            }
        }
        if b == UInt8(ascii: "u") && next == UInt8(ascii: "&")
            && (byte(at: index + 2) == UInt8(ascii: "'") || byte(at: index + 2) == UInt8(ascii: "\"")) {
            throw error("feature not supported: Unicode escape strings (U&'...')", at: start,
                        state: .featureNotSupported)
        }
        while index < bytes.count && Self.isIdentifierPart(bytes[index]) { index += 1 }
        var end = index
        if end - start > Self.identifierBytesMax {
            end = start + Self.identifierBytesMax
            while end > start && bytes[end] & 0xC0 == 0x80 { end -= 1 }
        }
        // Fold ASCII letters while copying, with no intermediate array: names up to 15 bytes
        // become small strings without any allocation.
        let word = bytes.withUnsafeBufferPointer { buffer in
            String(unsafeUninitializedCapacity: end - start) { target in
                for i in start..<end {
                    let b = buffer[i]
                    target[i - start] = b >= 65 && b <= 90 ? b | 0x20 : b
                }
                return end - start
            }
        }
        emit(.identifier, word, from: start, category: Keywords.categories[word])
    }

    /// Truncates a name to `identifierBytesMax` bytes on a character boundary, as PostgreSQL does.
    private func truncateIdentifier(_ name: inout [UInt8]) {
        guard name.count > Self.identifierBytesMax else { return }
        var end = Self.identifierBytesMax
        while end > 0 && name[end] & 0xC0 == 0x80 { end -= 1 }
        name.removeSubrange(end...)
    }

    private mutating func emitBitString(_ value: String, hex: Bool, from start: Int) throws {
        for c in value.utf8 {
            let valid = hex
                ? (Self.isDigit(c) || (c | 0x20 >= UInt8(ascii: "a") && c | 0x20 <= UInt8(ascii: "f")))
                : (c == UInt8(ascii: "0") || c == UInt8(ascii: "1"))
            if !valid {
                let kind = hex ? "hexadecimal" : "binary"
                throw error("\"\(Character(Unicode.Scalar(c)))\" is not a valid \(kind) digit", at: start,
                            state: .invalidTextRepresentation)
            }
        }
        emit(hex ? .hexString : .bitString, value, from: start)
    }

    private mutating func lexQuotedIdentifier() throws {
        let start = index
        index += 1
        var name: [UInt8] = []
        while true {
            guard index < bytes.count else { throw unterminated("unterminated quoted identifier", at: start) }
            let b = bytes[index]
            index += 1
            if b == UInt8(ascii: "\"") {
                if byte(at: index) == UInt8(ascii: "\"") {
                    name.append(b)
                    index += 1
                } else {
                    break
                }
            } else {
                name.append(b)
            }
        }
        guard !name.isEmpty else {
            throw error("zero-length delimited identifier at or near \"\"\"\"", at: start)
        }
        truncateIdentifier(&name)
        emit(.quotedIdentifier, String(decoding: name, as: UTF8.self), from: start)
    }

    // MARK: - Strings

    /// Reads the body of a quoted string whose opening quote is just before `index`, including
    /// `''` escapes, continuation segments (`'a'` newline `'b'`) and, when `escapes`, backslash escapes.
    private mutating func lexQuotedBody(start: Int, escapes: Bool) throws -> String {
        var value: [UInt8] = []
        while true {
            guard index < bytes.count else { throw unterminated("unterminated quoted string", at: start) }
            let b = bytes[index]
            if b == UInt8(ascii: "'") {
                if byte(at: index + 1) == UInt8(ascii: "'") {
                    value.append(b)
                    index += 2
                    continue
                }
                index += 1
                if !continueString() { break }
            } else if b == UInt8(ascii: "\\") && escapes {
                try lexEscape(into: &value)
            } else {
                value.append(b)
                index += 1
            }
        }
        guard let string = String(validating: value, as: UTF8.self) else {
            throw error("invalid byte sequence for encoding \"UTF8\"", at: start,
                        state: ParserSQLState.characterNotInRepertoire)
        }
        return string
    }

    /// After a closing quote: whether whitespace holding a newline, then another quote, follows
    /// (SQL's string continuation); if so, consumes through that quote.
    private mutating func continueString() -> Bool {
        var i = index
        var sawNewline = false
        while i < bytes.count && Self.isSpace(bytes[i]) {
            if bytes[i] == 10 || bytes[i] == 13 { sawNewline = true }
            i += 1
        }
        guard sawNewline && i < bytes.count && bytes[i] == UInt8(ascii: "'") else { return false }
        index = i + 1
        return true
    }

    private mutating func lexEscape(into value: inout [UInt8]) throws {
        let escapeStart = index
        index += 1
        guard index < bytes.count else { return }
        let c = bytes[index]
        index += 1
        switch c {
        case UInt8(ascii: "b"): value.append(8)
        case UInt8(ascii: "f"): value.append(12)
        case UInt8(ascii: "n"): value.append(10)
        case UInt8(ascii: "r"): value.append(13)
        case UInt8(ascii: "t"): value.append(9)
        case UInt8(ascii: "0")...UInt8(ascii: "7"):
            var code = UInt32(c - 48)
            for _ in 0..<2 where index < bytes.count && bytes[index] >= 48 && bytes[index] <= 55 {
                code = code * 8 + UInt32(bytes[index] - 48)
                index += 1
            }
            guard code & 0xFF != 0 else { throw nulByte(at: escapeStart) }
            value.append(UInt8(truncatingIfNeeded: code))
        case UInt8(ascii: "x"):
            var code: UInt32 = 0
            var digits = 0
            while digits < 2, let d = Self.hexValue(byte(at: index)) {
                code = code * 16 + d
                index += 1
                digits += 1
            }
            if digits == 0 {
                value.append(c)
            } else {
                guard code != 0 else { throw nulByte(at: escapeStart) }
                value.append(UInt8(code))
            }
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let count = c == UInt8(ascii: "u") ? 4 : 8
            var code: UInt32 = 0
            for _ in 0..<count {
                guard let d = Self.hexValue(byte(at: index)) else {
                    throw error("invalid Unicode escape", at: escapeStart, state: ParserSQLState.invalidEscapeSequence)
                }
                code = code &* 16 &+ d
                index += 1
            }
            guard let scalar = Unicode.Scalar(code), code != 0 else {
                throw error("invalid Unicode escape value", at: escapeStart,
                            state: ParserSQLState.invalidEscapeSequence)
            }
            value.append(contentsOf: Array(String(Character(scalar)).utf8))
        default:
            value.append(c)
        }
    }

    private func nulByte(at offset: Int) -> ParseError {
        error("invalid byte sequence for encoding \"UTF8\": 0x00", at: offset,
              state: ParserSQLState.characterNotInRepertoire)
    }

    private static func hexValue(_ b: UInt8) -> UInt32? {
        switch b {
        case 48...57: return UInt32(b - 48)
        case 97...102: return UInt32(b - 87)
        case 65...70: return UInt32(b - 55)
        default: return nil
        }
    }

    /// `$n` parameters and `$tag$ ... $tag$` strings.
    private mutating func lexDollar() throws {
        let start = index
        if Self.isDigit(byte(at: index + 1)) {
            index += 1
            while index < bytes.count && Self.isDigit(bytes[index]) { index += 1 }
            if index < bytes.count && Self.isIdentifierPart(bytes[index]) {
                while index < bytes.count && Self.isIdentifierPart(bytes[index]) { index += 1 }
                throw error("trailing junk after parameter at or near \"\(text(start, index))\"", at: start)
            }
            emit(.parameter, text(start + 1, index), from: start)
            return
        }
        var tagEnd = index + 1
        if Self.isIdentifierStart(byte(at: tagEnd)) {
            while tagEnd < bytes.count && Self.isIdentifierPart(bytes[tagEnd]) && bytes[tagEnd] != 36 { tagEnd += 1 }
        }
        guard byte(at: tagEnd) == UInt8(ascii: "$") else {
            throw error("syntax error at or near \"$\"", at: start)
        }
        let delimiter = bytes[start...tagEnd]
        let bodyStart = tagEnd + 1
        var i = bodyStart
        while i + delimiter.count <= bytes.count {
            if bytes[i] == UInt8(ascii: "$") && bytes[i..<(i + delimiter.count)].elementsEqual(delimiter) {
                let body = bytes[bodyStart..<i]
                index = i + delimiter.count
                guard let value = String(validating: body, as: UTF8.self) else {
                    throw error("invalid byte sequence for encoding \"UTF8\"", at: start,
                                state: ParserSQLState.characterNotInRepertoire)
                }
                emit(.string, value, from: start)
                return
            }
            i += 1
        }
        throw unterminated("unterminated dollar-quoted string", at: start)
    }

    // MARK: - Numbers

    private mutating func lexNumber() throws {
        let start = index
        var isInteger = true
        while index < bytes.count && Self.isDigit(bytes[index]) { index += 1 }
        // `1..2` lexes as the integer 1 followed by `..`, as in PostgreSQL.
        if byte(at: index) == UInt8(ascii: ".") && byte(at: index + 1) != UInt8(ascii: ".") {
            isInteger = false
            index += 1
            while index < bytes.count && Self.isDigit(bytes[index]) { index += 1 }
        }
        if byte(at: index) | 0x20 == UInt8(ascii: "e") {
            var i = index + 1
            if byte(at: i) == UInt8(ascii: "+") || byte(at: i) == UInt8(ascii: "-") { i += 1 }
            if Self.isDigit(byte(at: i)) {
                isInteger = false
                index = i
                while index < bytes.count && Self.isDigit(bytes[index]) { index += 1 }
            }
        }
        if index < bytes.count && Self.isIdentifierPart(bytes[index]) {
            while index < bytes.count && Self.isIdentifierPart(bytes[index]) { index += 1 }
            throw error("trailing junk after numeric literal at or near \"\(text(start, index))\"", at: start)
        }
        emit(isInteger ? .integer : .numeric, text(start, index), from: start)
    }

    // MARK: - Operators

    /// Lexes an operator by PostgreSQL's rules: the longest run of operator characters, cut before
    /// any `--` or `/*`, then trailing `+`/`-` dropped unless the operator holds one of
    /// `~ ! @ # % ^ & | ` ?` (so `a*-1` is `*` then `-1`, while `@-` stays whole).
    private mutating func lexOperator() {
        let start = index
        var end = index
        while end < bytes.count && Self.isOperatorChar(bytes[end]) {
            if end > start {
                let pair = (bytes[end - 1], bytes[end])
                if pair == (UInt8(ascii: "-"), UInt8(ascii: "-")) || pair == (UInt8(ascii: "/"), UInt8(ascii: "*")) {
                    end -= 1
                    break
                }
            }
            end += 1
        }
        if end - start > 1 && (bytes[end - 1] == UInt8(ascii: "+") || bytes[end - 1] == UInt8(ascii: "-")) {
            let special = bytes[start..<(end - 1)].contains { b in
                b == 126 || b == 33 || b == 64 || b == 35 || b == 94 || b == 38 || b == 124 || b == 96
                    || b == 63 || b == 37
            }
            if !special {
                repeat { end -= 1 } while end - start > 1 && (bytes[end - 1] == 43 || bytes[end - 1] == 45)
            }
        }
        index = max(end, start + 1)
        var op = text(start, index)
        if op == "!=" { op = "<>" }
        emit(.op, op, from: start)
    }
}
