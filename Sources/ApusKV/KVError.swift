import ApusCore

/// An error from the transaction layer, carrying the PostgreSQL SQLSTATE the SQL surface reports:
/// 40001 (serialization failure), 40P01 (deadlock), 55P03 (lock not available), 57014 (canceled).
public struct KVError: Error, Sendable, CustomStringConvertible {
    public let code: SQLState
    public let message: String

    public init(_ code: SQLState, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.code): \(message)" }
}
