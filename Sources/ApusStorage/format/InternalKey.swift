import ApusCore

/// The kind of an entry in the LSM: a value, a point deletion, or a range deletion.
///
/// The raw values are stored in every internal key; they are frozen.
public enum ValueKind: UInt8, Sendable {
    case delete = 0
    case put = 1
    case rangeDelete = 2

    /// The kind used in seek targets: the largest raw value, so that a target with sequence `s`
    /// sorts before every entry of the same user key with sequence <= `s`.
    static let seekKind: ValueKind = .rangeDelete
}

/// A sequence number: the position of a write in the engine's total order of writes.
///
/// At most 2^56 - 1, since it shares 8 bytes with the `ValueKind` in an internal key.
public typealias SequenceNumber = UInt64

/// The largest sequence number an internal key can hold.
public let maxSequenceNumber: SequenceNumber = (1 << 56) - 1

/// The byte form of an internal key: the user key followed by an 8-byte trailer.
///
/// ```
/// +----------------+--------------------------------------------+
/// | user key (n B) | trailer: (sequence << 8 | kind), 8 B, LE    |
/// +----------------+--------------------------------------------+
/// ```
/// Internal keys order by user key ascending (through the engine's `KeyComparator`), then by
/// trailer descending, so the newest entry of a user key comes first. Frozen format.
public enum InternalKey {
    public static let trailerLength = 8

    @inlinable
    public static func trailer(_ sequence: SequenceNumber, _ kind: ValueKind) -> UInt64 {
        (sequence << 8) | UInt64(kind.rawValue)
    }

    /// Builds the internal key for `userKey` at `sequence` of `kind`.
    public static func make(_ userKey: some Collection<UInt8>, _ sequence: SequenceNumber, _ kind: ValueKind) -> [UInt8] {
        precondition(sequence <= maxSequenceNumber, "sequence fits in 56 bits")
        var out = [UInt8]()
        out.reserveCapacity(userKey.count + trailerLength)
        out.append(contentsOf: userKey)
        out.appendFixed64(trailer(sequence, kind))
        return out
    }

    /// The seek target that finds the newest entry of `userKey` visible at `sequence`.
    public static func seekTarget(_ userKey: some Collection<UInt8>, _ sequence: SequenceNumber) -> [UInt8] {
        make(userKey, sequence, ValueKind.seekKind)
    }

    /// Splits an internal key; nil if it is shorter than a trailer or its kind is unknown.
    public static func parse(_ key: UnsafeRawBufferPointer) -> (userKeyLength: Int, sequence: SequenceNumber, kind: ValueKind)? {
        guard key.count >= trailerLength else { return nil }
        let n = key.count - trailerLength
        let t = UInt64(littleEndian: key.loadUnaligned(fromByteOffset: n, as: UInt64.self))
        guard let kind = ValueKind(rawValue: UInt8(truncatingIfNeeded: t)) else { return nil }
        return (n, t >> 8, kind)
    }

    /// Splits an internal key held in an array; nil if malformed.
    public static func parse(_ key: [UInt8]) -> (userKey: ArraySlice<UInt8>, sequence: SequenceNumber, kind: ValueKind)? {
        key.withUnsafeBytes { raw in
            guard let p = parse(raw) else { return nil }
            return (key[0..<p.userKeyLength], p.sequence, p.kind)
        }
    }

    /// The user-key part of a well-formed internal key.
    /// - Precondition: `key.count >= trailerLength`.
    public static func userKey(_ key: [UInt8]) -> ArraySlice<UInt8> {
        precondition(key.count >= trailerLength, "internal key has a trailer")
        return key[0..<(key.count - trailerLength)]
    }
}

/// A range deletion: every key in `[start, end)` with a sequence below `sequence` is deleted
/// for readers at or above `sequence`.
public struct RangeTombstone: Sendable, Equatable {
    public var start: [UInt8]
    public var end: [UInt8]
    public var sequence: SequenceNumber

    public init(start: [UInt8], end: [UInt8], sequence: SequenceNumber) {
        self.start = start
        self.end = end
        self.sequence = sequence
    }

    /// Whether this tombstone hides `userKey` at `entrySequence` for a reader at `readSequence`.
    func covers(_ userKey: UnsafeRawBufferPointer, entrySequence: SequenceNumber, readSequence: SequenceNumber,
                comparator: KeyComparator) -> Bool {
        guard sequence > entrySequence, sequence <= readSequence else { return false }
        return start.withUnsafeBytes { s in end.withUnsafeBytes { e in
            comparator.compare(s, userKey) <= 0 && comparator.compare(userKey, e) < 0
        } }
    }
}
