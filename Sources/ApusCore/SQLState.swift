/// A PostgreSQL SQLSTATE: five characters, the first two naming the class.
///
/// Wrapping the string keeps raw codes from slipping through; constants are grouped by class,
/// and `matches(_:)` tests a whole class (`23000` matches `23505`), as PostgreSQL clients do.
public struct SQLState: Hashable, Sendable, CustomStringConvertible {
    public let code: String

    /// - Precondition: `code` is five ASCII digits or upper-case letters.
    public init(_ code: String) {
        precondition(code.utf8.count == 5 && code.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) },
                     "SQLSTATE is five characters")
        self.code = code
    }

    public var description: String { code }
    /// The class: the first two characters followed by `000`.
    public var classCode: SQLState { SQLState(String(code.prefix(2)) + "000") }
    /// Whether this code is `other`, or belongs to the class `other` names (`other` ends in `000`).
    public func matches(_ other: SQLState) -> Bool {
        other.code.hasSuffix("000") ? code.prefix(2) == other.code.prefix(2) : self == other
    }

    // Class 0A: feature not supported
    public static let featureNotSupported = SQLState("0A000")
    // Class 22: data exception
    public static let dataException = SQLState("22000")
    public static let stringDataRightTruncation = SQLState("22001")
    public static let numericValueOutOfRange = SQLState("22003")
    public static let invalidTextRepresentation = SQLState("22P02")
    public static let divisionByZero = SQLState("22012")
    // Class 23: integrity constraint violation
    public static let uniqueViolation = SQLState("23505")
    // Class 40: transaction rollback
    public static let serializationFailure = SQLState("40001")
    public static let deadlockDetected = SQLState("40P01")
    // Class 42: syntax error or access rule violation
    public static let syntaxError = SQLState("42601")
    // Class 53: insufficient resources
    public static let diskFull = SQLState("53100")
    public static let outOfMemory = SQLState("53200")
    public static let tooManyConnections = SQLState("53300")
    // Class 54: program limit exceeded
    public static let programLimitExceeded = SQLState("54000")
    // Class 55: object not in prerequisite state
    public static let lockNotAvailable = SQLState("55P03")
    // Class 57: operator intervention
    public static let queryCanceled = SQLState("57014")
    // Class 58: system error
    public static let ioError = SQLState("58030")
    // Class XX: internal error
    public static let internalError = SQLState("XX000")
    public static let dataCorrupted = SQLState("XX001")
}
