import ApusCore

/// The order of user keys in an engine.
///
/// An enum rather than a protocol so that comparisons in hot loops dispatch by a predictable
/// branch instead of through an existential. The name is stored in the manifest: a directory
/// written with one comparator refuses to open with another, since its files would be misordered.
public enum KeyComparator: Sendable, Equatable {
    /// memcmp order of the raw bytes.
    case bytewise
    /// `key@timestamp` order of `MVCCKey` encodings: user key ascending, then the unversioned
    /// key first, then timestamps newest first. Malformed keys fall back to bytewise order.
    case mvcc

    /// The name recorded in the manifest.
    public var name: String {
        switch self {
        case .bytewise: "apus.bytewise.v1"
        case .mvcc: "apus.mvcc.v1"
        }
    }

    public init?(name: String) {
        switch name {
        case KeyComparator.bytewise.name: self = .bytewise
        case KeyComparator.mvcc.name: self = .mvcc
        default: return nil
        }
    }

    /// Compares two user keys; returns -1, 0 or 1.
    @inlinable
    public func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        switch self {
        case .bytewise:
            return compareBytes(a, b)
        case .mvcc:
            guard let sa = MVCCKey.split(a), let sb = MVCCKey.split(b) else { return compareBytes(a, b) }
            let c = compareBytes(UnsafeRawBufferPointer(rebasing: a[0..<sa.keyLength]),
                                 UnsafeRawBufferPointer(rebasing: b[0..<sb.keyLength]))
            if c != 0 { return c }
            if sa.timestamp == sb.timestamp { return 0 }
            if sa.timestamp.isZero { return -1 }
            if sb.timestamp.isZero { return 1 }
            return sa.timestamp > sb.timestamp ? -1 : 1
        }
    }

    /// Compares two user keys held in arrays.
    public func compare(_ a: [UInt8], _ b: [UInt8]) -> Int {
        a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in compare(pa, pb) } }
    }

    /// Compares two internal keys: user keys through `compare`, then trailers descending.
    @inlinable
    public func compareInternal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        precondition(a.count >= 8 && b.count >= 8, "internal keys have trailers")
        let na = a.count - 8, nb = b.count - 8
        let c = compare(UnsafeRawBufferPointer(rebasing: a[0..<na]), UnsafeRawBufferPointer(rebasing: b[0..<nb]))
        if c != 0 { return c }
        let ta = UInt64(littleEndian: a.loadUnaligned(fromByteOffset: na, as: UInt64.self))
        let tb = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: nb, as: UInt64.self))
        return ta == tb ? 0 : (ta > tb ? -1 : 1)
    }

    /// Compares two internal keys held in arrays.
    public func compareInternal(_ a: [UInt8], _ b: [UInt8]) -> Int {
        a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in compareInternal(pa, pb) } }
    }

    /// The length of the part of `userKey` that bloom filters and prefix iteration use: the
    /// whole key for bytewise order, the key without its timestamp for MVCC order (so that a
    /// point lookup at any timestamp consults the same filter bits).
    @inlinable
    public func prefixLength(_ userKey: UnsafeRawBufferPointer) -> Int {
        switch self {
        case .bytewise: return userKey.count
        case .mvcc: return MVCCKey.split(userKey)?.keyLength ?? userKey.count
        }
    }
}
