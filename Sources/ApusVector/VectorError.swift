/// The one error type of the vector index layer.
///
/// `code` is an open set (static constants) so that adding a code never breaks a `switch`
/// elsewhere. Every bad input (a vector of the wrong dimension, a NaN, `k <= 0`, a corrupt
/// persisted record) is reported as a `VectorError`; nothing a caller passes can crash the index.
public struct VectorError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A vector's length differs from the index's dimension.
        public static let dimensionMismatch = Code("dimension mismatch")
        /// A vector holds a NaN or an infinity.
        public static let nonFiniteValue = Code("non-finite value")
        /// A cosine-metric vector has zero length and so no direction.
        public static let zeroVector = Code("zero vector")
        /// An argument or option is out of its documented range (`k <= 0`, `m < 2`, ...).
        public static let invalidArgument = Code("invalid argument")
        /// The row ID is already in the index.
        public static let duplicateRowID = Code("duplicate row ID")
        /// The row ID is not in the index.
        public static let rowNotFound = Code("row not found")
        /// The index needs training data (IVFFlat before `train`) or has no rows at all.
        public static let notTrained = Code("not trained")
        /// A limit from `VectorLimits` was reached.
        public static let limitExceeded = Code("limit exceeded")
        /// A persisted record failed its checksum or structure check.
        public static let corruption = Code("corruption")
        /// A persisted index was written by an unknown format version.
        public static let unsupportedVersion = Code("unsupported format version")
        /// The persistence store failed.
        public static let storeFailed = Code("store failed")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
