import ApusCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bounds of the vector index layer, with their defaults.
///
/// Every parameter a caller can set is checked against these in `validate` (a throw, never a
/// silent clamp). The defaults follow pgvector where it has one (dimensions, `m`,
/// `ef_construction`, `lists`) and hnswlib's practical ranges otherwise.
public struct VectorLimits: Sendable, Equatable {
    /// Largest dimension an index accepts (pgvector's `vector` limit is 16,000).
    public var dimensionMax = 16_000
    /// Largest HNSW `m` (pgvector: 100).
    public var mMax = 100
    /// Largest `ef_construction` and `ef_search` (pgvector: 1,000; hnswlib has none).
    public var efMax = 10_000
    /// Largest `k` a search may ask for.
    public var kMax = 10_000
    /// Largest number of nodes (live and deleted) one index holds; node IDs are `Int32`.
    public var nodesMax = Int(Int32.max) - 1
    /// Largest IVFFlat `lists` (pgvector: 32,768).
    public var listsMax = 32_768
    /// A filtered HNSW search widens `ef` by 4x at most this many times before it falls back to
    /// an exact scan of the filtered rows.
    public var filterWideningsMax = 3

    public init() {}

    /// Checks the relations between the limits themselves.
    ///
    /// - Throws: `VectorError.invalidArgument` naming the first inconsistent limit.
    public func validate() throws(VectorError) {
        guard dimensionMax >= 1 else { throw VectorError(.invalidArgument, "dimensionMax must be >= 1") }
        guard mMax >= 2 else { throw VectorError(.invalidArgument, "mMax must be >= 2") }
        guard efMax >= 1, kMax >= 1 else { throw VectorError(.invalidArgument, "efMax and kMax must be >= 1") }
        guard nodesMax >= 1, nodesMax < Int(Int32.max) else {
            throw VectorError(.invalidArgument, "nodesMax must be in 1..<Int32.max")
        }
        guard listsMax >= 1 else { throw VectorError(.invalidArgument, "listsMax must be >= 1") }
        guard filterWideningsMax >= 0 else { throw VectorError(.invalidArgument, "filterWideningsMax must be >= 0") }
    }
}

/// The seeded generator of level assignment and k-means (ApusCore's SplitMix64), so that an
/// index's structure is a function of its seed and insert order and a recall failure replays.
public typealias SeededGenerator = SplitMix64

extension SplitMix64 {
    /// A standard normal sample (Box-Muller).
    public mutating func nextGaussian() -> Float {
        let u1 = max(nextUnit(), 1e-300)
        let u2 = nextUnit()
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}

