import ApusCore

/// Which prefix of a key table filters also hold, so that reads of one prefix's keys (an
/// equality lookup in a secondary index: every entry of one value) skip the tables that have
/// no key with that prefix, as point reads skip tables by their whole key (RocksDB's prefix
/// extractor, Pebble's `Split`).
///
/// The function is part of what a table file means: a table records the `name` it was written
/// with, and a read uses a table's prefix filter only when its engine's `BloomPrefix` has the
/// same name. A function whose results change must therefore get a new name.
public struct BloomPrefix: Sendable {
    /// Identifies the function in table files.
    public let name: String
    /// The length of the prefix of `key` to put into filters, or nil when the key has none.
    public let length: @Sendable (UnsafeRawBufferPointer) -> Int?

    public init(name: String, length: @escaping @Sendable (UnsafeRawBufferPointer) -> Int?) {
        self.name = name
        self.length = length
    }

    /// The length of `key`'s prefix when it has one the filters can hold (nonempty, within the
    /// key), else nil: `length` checked.
    func prefixLength(of key: UnsafeRawBufferPointer) -> Int? {
        guard let n = length(key), n > 0, n <= key.count else { return nil }
        return n
    }

    /// The filter hash of `key`'s prefix, or nil when it has none.
    func hash(of key: UnsafeRawBufferPointer) -> UInt64? {
        prefixLength(of: key).map { bloomHash(UnsafeRawBufferPointer(rebasing: key[0..<$0])) }
    }

    /// This function applied to the key part of `MVCCKey` encodings (`key@timestamp`), for an
    /// engine with the `.mvcc` comparator: every version of a key (and its unversioned entry)
    /// has the prefix its key has, and the prefix bytes are the same in the encoding. Malformed
    /// encodings have none. Named after this function, so that tables written with one keep
    /// their filters apart from the other's.
    public var onMVCCKeys: BloomPrefix {
        let inner = length
        return BloomPrefix(name: name + "/mvcc-key") { key in
            guard let (n, _) = MVCCKey.split(key), let p = inner(UnsafeRawBufferPointer(rebasing: key[0..<n])), p <= n else {
                return nil
            }
            return p
        }
    }

    /// The hash of the one prefix every key in `[lower, upper)` starts with, when the function
    /// gives one: `lower`'s prefix, if `upper` does not pass the end of that prefix's keys.
    /// With the `.mvcc` comparator the bounds are `MVCCKey` encodings (and the function is an
    /// `onMVCCKeys` one): what counts is the key part of `upper`.
    func sharedPrefixHash(lower: [UInt8], upper: [UInt8], comparator: KeyComparator) -> UInt64? {
        sharedPrefix(lower: lower, upper: upper, comparator: comparator)?.hash
    }

    /// `sharedPrefixHash`, with the prefix's length (its bytes are `lower`'s first ones).
    func sharedPrefix(lower: [UInt8], upper: [UInt8], comparator: KeyComparator) -> (hash: UInt64, length: Int)? {
        // Read on every bounded probe: compares in place, allocates nothing.
        lower.withUnsafeBytes { lo -> (hash: UInt64, length: Int)? in
            guard let n = prefixLength(of: lo) else { return nil }
            let prefix = UnsafeRawBufferPointer(rebasing: lo[0..<n])
            // The smallest key above every key starting with the prefix: its first `m` bytes,
            // the last of them one higher (trailing 0xFF bytes dropped; none if all are 0xFF).
            var m = n
            while m > 0 && prefix[m - 1] == 0xFF { m -= 1 }
            if m > 0 {
                let within = upper.withUnsafeBytes { up -> Bool in
                    switch comparator {
                    case .bytewise:
                        return BloomPrefix.compare(up, toEndOf: prefix, m) <= 0
                    case .mvcc:
                        // Keys below `u@0` have key parts below `u`; keys below `u@ts` (ts > 0) may have `u`.
                        guard let (un, ts) = MVCCKey.split(up) else { return false }
                        let c = BloomPrefix.compare(UnsafeRawBufferPointer(rebasing: up[0..<un]), toEndOf: prefix, m)
                        return c < 0 || (c == 0 && ts.isZero)
                    }
                }
                guard within else { return nil }
            }
            return (bloomHash(prefix), n)
        }
    }

    /// `x` compared bytewise with the end of `prefix`'s keys: `prefix[0..<m]` with its last
    /// byte one higher (`prefix[m - 1]` is below 0xFF).
    static func compare(_ x: UnsafeRawBufferPointer, toEndOf prefix: UnsafeRawBufferPointer, _ m: Int) -> Int {
        for i in 0..<Swift.min(x.count, m) {
            let e = i == m - 1 ? prefix[i] + 1 : prefix[i]
            if x[i] != e { return x[i] < e ? -1 : 1 }
        }
        return x.count < m ? -1 : (x.count == m ? 0 : 1)
    }
}
