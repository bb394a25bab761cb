/// A set of byte-string keys in byte order, for scans over a transaction's write set: sorted
/// chunks of at most `chunkMax * 2` keys, each insert a binary search and a move within one
/// chunk, each range query a binary search and a walk (a B-tree of height two, as Python's
/// sortedcontainers).
struct SortedKeys {
    static let chunkMax = 512
    private var chunks: [[[UInt8]]] = []
    /// The last (largest) key of each chunk.
    private var maxes: [[UInt8]] = []

    var isEmpty: Bool { chunks.isEmpty }

    /// The first index in `keys` whose key is not less than `key`.
    private static func lowerBound(_ keys: [[UInt8]], _ key: [UInt8]) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if Value.cmpBytes(keys[mid], key) < 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Adds `key` (no effect when present).
    mutating func insert(_ key: [UInt8]) {
        if chunks.isEmpty {
            chunks = [[key]]
            maxes = [key]
            return
        }
        let c = min(SortedKeys.lowerBound(maxes, key), chunks.count - 1)
        let pos = SortedKeys.lowerBound(chunks[c], key)
        if pos < chunks[c].count && chunks[c][pos] == key { return }
        chunks[c].insert(key, at: pos)
        if pos == chunks[c].count - 1 { maxes[c] = key }
        if chunks[c].count > 2 * SortedKeys.chunkMax {
            let upper = Array(chunks[c][SortedKeys.chunkMax...])
            chunks[c].removeSubrange(SortedKeys.chunkMax...)
            maxes[c] = chunks[c][chunks[c].count - 1]
            chunks.insert(upper, at: c + 1)
            maxes.insert(upper[upper.count - 1], at: c + 1)
        }
    }

    /// The keys in [lower, upper), in order.
    func range(_ lower: [UInt8], _ upper: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var c = SortedKeys.lowerBound(maxes, lower)
        guard c < chunks.count else { return out }
        var i = SortedKeys.lowerBound(chunks[c], lower)
        while c < chunks.count {
            let chunk = chunks[c]
            while i < chunk.count {
                if Value.cmpBytes(chunk[i], upper) >= 0 { return out }
                out.append(chunk[i])
                i += 1
            }
            c += 1
            i = 0
        }
        return out
    }

    /// Calls `body` with every key, in order.
    func forEach(_ body: ([UInt8]) throws -> Void) rethrows {
        for chunk in chunks {
            for k in chunk { try body(k) }
        }
    }

    /// Every key, in order (for tests).
    var all: [[UInt8]] { chunks.flatMap { $0 } }
}
