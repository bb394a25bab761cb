import ApusCore

/// An error from SQL processing: a PostgreSQL SQLSTATE, a message and, when known, the
/// 1-based character position in the statement text.
public struct SQLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The SQLSTATE.
    public let sqlState: SQLState
    /// The message, in PostgreSQL's wording where practical.
    public let message: String
    /// The 1-based character position, or 0 when unknown.
    public let position: Int
    /// PostgreSQL's DETAIL and HINT fields (the wire protocol's `D` and `H`), when there are.
    public var detail: String?
    public var hint: String?

    /// Makes an error.
    public init(_ sqlState: SQLState, _ message: String, position: Int = 0, detail: String? = nil, hint: String? = nil) {
        self.sqlState = sqlState
        self.message = message
        self.position = position
        self.detail = detail
        self.hint = hint
    }

    /// `ERROR: message (SQLSTATE code)`.
    public var description: String { "ERROR: \(message) (SQLSTATE \(sqlState))" }

    static func unsupported(_ feature: String) -> SQLError {
        SQLError(.featureNotSupported, "\(feature) is not supported yet")
    }
}

extension SQLState {
    static let notNullViolation = SQLState("23502")
    static let undefinedTable = SQLState("42P01")
    static let undefinedColumn = SQLState("42703")
    static let undefinedFunction = SQLState("42883")
    static let datatypeMismatch = SQLState("42804")
    static let duplicateTable = SQLState("42P07")
    static let duplicateObject = SQLState("42710")
    static let duplicateColumn = SQLState("42701")
    static let ambiguousColumn = SQLState("42702")
    static let groupingError = SQLState("42803")
    static let undefinedObject = SQLState("42704")
    static let inFailedTransaction = SQLState("25P02")
    static let activeTransaction = SQLState("25001")
    static let noActiveTransaction = SQLState("25P01")
    static let cardinalityViolation = SQLState("21000")
    static let invalidParameterValue = SQLState("22023")
    static let invalidDatetimeFormat = SQLState("22007")
    static let datetimeOverflow = SQLState("22008")
    static let cannotCoerce = SQLState("42846")
    static let invalidColumnReference = SQLState("42P10")
    static let wrongObjectType = SQLState("42809")
    static let invalidTextRep = SQLState("22P02")
    static let stackDepth = SQLState("54001")
    static let undefinedFile = SQLState("58P01")
}
