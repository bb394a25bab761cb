/// The byte form of a versioned key, `key@timestamp`, as the storage engine stores it.
///
/// ```
/// +-----------------+------------------------+-------------------+-----------+
/// | user key (n B)  | wall nanos (8 B, BE)   | logical (4 B, BE) | len (1 B) |
/// +-----------------+------------------------+-------------------+-----------+
/// ```
/// An unversioned key (timestamp zero; used for intents and metadata) is the user key followed
/// by the single byte `0`. `len` is the number of timestamp bytes (0 or 12), so the split point is
/// found from the end without escaping the user key. The storage engine's MVCC comparator orders
/// these by user key ascending and then by timestamp descending, with the unversioned key first.
/// This layout is frozen: stored data depends on it.
public enum MVCCKey {
    public static let timestampLength = 12

    /// Encodes `key@ts`.
    public static func encode(_ key: some Collection<UInt8>, _ ts: Timestamp) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(key.count + 13)
        out.append(contentsOf: key)
        if !ts.isZero {
            out.appendBigEndian64(ts.wallNanos)
            out.appendBigEndian32(ts.logical)
            out.append(UInt8(timestampLength))
        } else {
            out.append(0)
        }
        return out
    }

    /// Splits an encoded key into its user-key length and timestamp; nil if malformed.
    public static func split(_ encoded: UnsafeRawBufferPointer) -> (keyLength: Int, timestamp: Timestamp)? {
        guard let last = encoded.last else { return nil }
        let n = Int(last)
        if n == 0 { return (encoded.count - 1, .zero) }
        guard n == timestampLength, encoded.count >= 1 + n else { return nil }
        let start = encoded.count - 1 - n
        var wall: UInt64 = 0
        for i in 0..<8 { wall = (wall << 8) | UInt64(encoded[start + i]) }
        var logical: UInt32 = 0
        for i in 8..<12 { logical = (logical << 8) | UInt32(encoded[start + i]) }
        return (start, Timestamp(wallNanos: wall, logical: logical))
    }

    /// Decodes an encoded key into user key and timestamp; nil if malformed.
    public static func decode(_ encoded: [UInt8]) -> (key: [UInt8], timestamp: Timestamp)? {
        encoded.withUnsafeBytes { raw in
            guard let (n, ts) = split(raw) else { return nil }
            return (Array(encoded[0..<n]), ts)
        }
    }
}
