import ApusCore

/// An error raised while lexing or parsing SQL text.
///
/// It carries what PostgreSQL's ErrorResponse carries for a parse failure: a SQLSTATE (42601 for
/// syntax errors, 0A000 for recognized but unsupported statements, 54000/54001 at the parser's
/// limits, 22xxx for malformed literals), a primary message in PostgreSQL's wording
/// (`syntax error at or near "x"`, `syntax error at end of input`, ...) and the position: the
/// 1-based character (not byte) offset into the whole query string, as the `P` field reports it.
///
/// Concurrency: a value type, freely `Sendable`.
public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The SQLSTATE the client sees.
    public let sqlState: SQLState
    /// The primary message, without the `ERROR:` prefix.
    public let message: String
    /// The 1-based character offset into the query string where the error was found; one past the
    /// last character for errors at the end of input.
    public let position: Int

    /// Makes an error.
    /// - Precondition: `position >= 1`.
    public init(_ sqlState: SQLState, _ message: String, position: Int) {
        precondition(position >= 1, "positions are 1-based")
        self.sqlState = sqlState
        self.message = message
        self.position = position
    }

    /// `ERROR:  message (SQLSTATE xxxxx) at position n`, for logs and test output.
    public var description: String { "ERROR: \(message) (SQLSTATE \(sqlState)) at position \(position)" }
}

/// SQLSTATE codes the parser raises besides `SQLState.syntaxError`; kept here because ApusCore's
/// list is owned by another layer.
enum ParserSQLState {
    /// 54001: statement too complex (nesting deeper than `ParserLimits.depthMax`).
    static let statementTooComplex = SQLState("54001")
    /// 22021: character_not_in_repertoire (a string escape produced invalid UTF-8).
    static let characterNotInRepertoire = SQLState("22021")
    /// 22025: invalid_escape_sequence.
    static let invalidEscapeSequence = SQLState("22025")
    /// 22023: invalid_parameter_value (a limit or a type modifier out of its range).
    static let invalidParameterValue = SQLState("22023")
}

/// The bounds the parser enforces, so that no input can exhaust memory or the stack.
///
/// Concurrency: a value type.
public struct ParserLimits: Sendable, Equatable {
    /// The longest query string accepted, in UTF-8 bytes. Longer input fails with 54000
    /// (`program_limit_exceeded`) before lexing. Default 1 MiB.
    public var sqlBytesMax: Int = 1 << 20
    /// The deepest nesting of expressions, subqueries and parenthesized joins. Deeper input fails
    /// with 54001 (`statement too complex`) at the token where the limit was crossed. Default 1000.
    /// Each level costs a few recursive parser frames (a few KiB of stack in debug builds), so the
    /// default keeps the parser well inside a 512 KiB secondary-thread stack.
    public var depthMax: Int = 1000

    /// The default limits.
    public init() {}

    /// Checks the limits are within the ranges the parser supports.
    /// - Throws: `ParseError` with 22023 when a limit is outside its range.
    public func validate() throws {
        guard sqlBytesMax >= 1 && sqlBytesMax <= 1 << 30 else {
            throw ParseError(ParserSQLState.invalidParameterValue, "sqlBytesMax must be in 1...1073741824", position: 1)
        }
        guard depthMax >= 8 && depthMax <= 10_000 else {
            throw ParseError(ParserSQLState.invalidParameterValue, "depthMax must be in 8...10000", position: 1)
        }
    }
}
