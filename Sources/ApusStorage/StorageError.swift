/// The one error type of the storage engine.
///
/// `code` is an open set (static constants) so that adding a code never breaks a `switch`
/// elsewhere. Corruption names the file and offset; the engine never guesses a repair.
public struct StorageError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// An operating-system I/O call failed (other than a full disk).
        public static let ioError = Code("io error")
        /// The device is out of space; acknowledged data stays readable, writes resume when space is freed.
        public static let diskFull = Code("disk full")
        /// A checksum, magic number or structure check failed.
        public static let corruption = Code("corruption")
        /// The directory is not an ApusDB data directory.
        public static let notADataDirectory = Code("not an ApusDB data directory")
        /// The directory was written by a newer, unknown format version.
        public static let unsupportedVersion = Code("unsupported format version")
        /// An argument or option is out of its documented range.
        public static let invalidArgument = Code("invalid argument")
        /// The engine was closed.
        public static let closed = Code("closed")
        /// An earlier failure (such as a failed fsync) made the engine stop accepting writes.
        public static let writesStopped = Code("writes stopped")
        /// Another process holds the directory's lock.
        public static let locked = Code("locked")
        /// A file or directory that must exist does not.
        public static let notFound = Code("not found")
        /// A fault-injecting file system produced this error on purpose.
        public static let injected = Code("injected fault")
    }

    public let code: Code
    public let message: String
    /// The file the failure concerns, when there is one.
    public var path: String?
    /// The byte offset in `path` where corruption was found.
    public var offset: Int?

    public init(_ code: Code, _ message: String, path: String? = nil, offset: Int? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.offset = offset
    }

    public var description: String {
        var s = "\(code): \(message)"
        if let path { s += " (file \(path)" + (offset.map { " at offset \($0)" } ?? "") + ")" }
        return s
    }

    static func corruption(_ message: String, path: String?, offset: Int?) -> StorageError {
        StorageError(.corruption, message, path: path, offset: offset)
    }
}
