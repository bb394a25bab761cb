import ApusCore
import ApusStorage

/// A contiguous span of user keys `[start, end)` and the engine that stores its versions,
/// intents and transaction records (one replica for now).
public final class KVRange: Sendable {
    /// The range's identity (stable while the range exists).
    public let id: Int
    /// The first user key of the span.
    public let start: [UInt8]
    /// The key after the span; nil: unbounded.
    public let end: [UInt8]?
    /// The engine holding the range's data, opened with the `.mvcc` comparator.
    public let engine: StorageEngine

    public init(id: Int, start: [UInt8], end: [UInt8]?, engine: StorageEngine) {
        self.id = id
        self.start = start
        self.end = end
        self.engine = engine
    }

    /// Whether `key` falls in the range.
    public func contains(_ key: [UInt8]) -> Bool {
        compareBytes(key, start) >= 0 && (end.map { compareBytes(key, $0) < 0 } ?? true)
    }
}

/// Maps key spans to the ranges that hold them. Transaction code addresses keys and spans only
/// through the router, so that it works unchanged once the key space is split into many ranges
/// on many nodes; for now one range covers every key.
///
/// Concurrency: `Sendable`; the range list is immutable.
public final class RangeRouter: Sendable {
    private let ranges: [KVRange]

    /// A router with one range covering all keys, stored in `engine`.
    public init(engine: StorageEngine) {
        ranges = [KVRange(id: 1, start: [], end: nil, engine: engine)]
    }

    /// The range holding `key`.
    public func range(for key: [UInt8]) -> KVRange {
        // Ranges are sorted by start and cover the key space; the last one starting at or before `key`.
        var lo = 0, hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if compareBytes(ranges[mid].start, key) <= 0 { lo = mid + 1 } else { hi = mid }
        }
        return ranges[max(lo - 1, 0)]
    }

    /// The ranges overlapping `[lower, upper)`, in key order, each with the part of the span it
    /// holds.
    public func ranges(lower: [UInt8], upper: [UInt8]) -> [(range: KVRange, lower: [UInt8], upper: [UInt8])] {
        var out: [(range: KVRange, lower: [UInt8], upper: [UInt8])] = []
        for r in ranges {
            if let end = r.end, compareBytes(end, lower) <= 0 { continue }
            if compareBytes(r.start, upper) >= 0 { break }
            let lo = compareBytes(r.start, lower) > 0 ? r.start : lower
            let hi = r.end.map { compareBytes($0, upper) < 0 ? $0 : upper } ?? upper
            out.append((r, lo, hi))
        }
        return out
    }

    /// Every range (for recovery and maintenance that visits all data).
    public var all: [KVRange] { ranges }
}
