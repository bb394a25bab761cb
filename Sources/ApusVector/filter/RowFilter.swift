/// The `WHERE` side of a filtered vector search: which rows may be returned.
///
/// The SQL layer will build one from the query's predicates; the index only asks it about row
/// IDs. Search is generic over the filter type, so `contains` is a direct (usually inlined)
/// call in the traversal loop; `RowBitset` is the fast form and `RowPredicate` wraps a closure
/// for callers that have nothing better.
public protocol RowFilter {
    /// Whether the row satisfies the filter.
    func contains(_ rowID: Int64) -> Bool
    /// The fraction of rows expected to match, in `[0, 1]`, if the caller knows it (from
    /// statistics or because it built the filter); `nil` makes the index sample.
    var selectivityEstimate: Double? { get }
}

/// A filter that admits every row; the unfiltered search path.
public struct NoRowFilter: RowFilter {
    public init() {}
    @inline(__always) public func contains(_ rowID: Int64) -> Bool { true }
    public var selectivityEstimate: Double? { 1 }
}

/// A dense bitset over non-negative row IDs: bit `r` set means row `r` matches.
///
/// Row IDs outside the bitset's range do not match. Memory is one bit per row ID up to the
/// largest set row.
public struct RowBitset: RowFilter, Sendable {
    private var words: [UInt64]
    /// The number of set bits.
    public private(set) var count: Int
    public var selectivityEstimate: Double?

    /// An empty bitset able to hold row IDs `0..<capacity` without growing.
    public init(capacity: Int = 0) {
        words = [UInt64](repeating: 0, count: (max(capacity, 0) + 63) / 64)
        count = 0
        selectivityEstimate = nil
    }

    /// Sets the bit of `rowID`; negative IDs are ignored (they can never match).
    public mutating func insert(_ rowID: Int64) {
        guard rowID >= 0 else { return }
        let w = Int(rowID >> 6)
        if w >= words.count { words.append(contentsOf: repeatElement(0, count: w + 1 - words.count)) }
        let bit = UInt64(1) << UInt64(rowID & 63)
        if words[w] & bit == 0 {
            words[w] |= bit
            count += 1
        }
    }

    @inline(__always)
    public func contains(_ rowID: Int64) -> Bool {
        let w = Int(truncatingIfNeeded: rowID >> 6)
        guard rowID >= 0, w < words.count else { return false }
        return words[w] & (UInt64(1) << UInt64(rowID & 63)) != 0
    }
}

/// A filter given as a closure, for callers without a bitset.
///
/// The closure runs once per visited node, so it should be cheap and must not block.
public struct RowPredicate: RowFilter {
    public let predicate: (Int64) -> Bool
    public var selectivityEstimate: Double?

    public init(selectivityEstimate: Double? = nil, _ predicate: @escaping (Int64) -> Bool) {
        self.predicate = predicate
        self.selectivityEstimate = selectivityEstimate
    }

    @inline(__always) public func contains(_ rowID: Int64) -> Bool { predicate(rowID) }
}

/// How a filtered search finds its rows.
public enum FilteredSearchStrategy: Sendable, Equatable, CustomStringConvertible {
    /// Choose by a cost estimate from the filter's selectivity (the default).
    case automatic
    /// Compute the distance of every matching row: exact, best when few rows match.
    case exactScan
    /// Walk the index, admitting only matching rows to the results, widening the search when it
    /// finds fewer than `k`; best when many rows match.
    case traversal

    public var description: String {
        switch self {
        case .automatic: "automatic"
        case .exactScan: "exact scan"
        case .traversal: "traversal"
        }
    }
}

/// What a search did, for `EXPLAIN ANALYZE` and the benchmark.
public struct SearchReport: Sendable, Equatable {
    /// The strategy that produced the answer (never `.automatic`).
    public var strategy: FilteredSearchStrategy = .traversal
    /// The selectivity the choice was based on.
    public var selectivityEstimate: Double = 1
    /// The `ef` of the last traversal (after widening), or 0 for an exact scan.
    public var efUsed: Int = 0
    /// Traversals that returned fewer than `k` and were repeated with a wider `ef`.
    public var widenings: Int = 0

    public init() {}
}
