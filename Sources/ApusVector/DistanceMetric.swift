/// The distance an index orders its results by.
///
/// Matches pgvector's operators: `l2` is `<->` (the index ranks by squared L2 and reports the
/// root), `innerProduct` is `<#>` (negative inner product, so that smaller is nearer), `cosine`
/// is `<=>` (1 - cosine similarity). Cosine vectors are normalized on the way in, so the kernels
/// only ever compute squared L2 or a dot product.
public enum DistanceMetric: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case l2 = 1
    case cosine = 2
    case innerProduct = 3

    public var description: String {
        switch self {
        case .l2: "l2"
        case .cosine: "cosine"
        case .innerProduct: "inner_product"
        }
    }
}

/// A search hit: the row and its distance under the index's metric (smaller is nearer).
public struct VectorHit: Sendable, Equatable, CustomStringConvertible {
    public var rowID: Int64
    public var distance: Float

    public init(rowID: Int64, distance: Float) {
        self.rowID = rowID
        self.distance = distance
    }

    public var description: String { "\(rowID):\(distance)" }
}

/// Checks a vector supplied by a caller and returns the form the index stores.
///
/// - Throws: `VectorError` for a wrong dimension, a NaN or infinity, or a zero cosine vector.
func validatedVector(_ vector: [Float], dimension: Int, metric: DistanceMetric) throws(VectorError) -> [Float] {
    guard vector.count == dimension else {
        throw VectorError(.dimensionMismatch, "expected \(dimension) dimensions, got \(vector.count)")
    }
    for x in vector where !x.isFinite {
        throw VectorError(.nonFiniteValue, "vector holds a NaN or infinite component")
    }
    guard metric == .cosine else { return vector }
    let norm = Distance.dotPlain(vector, vector).squareRoot()
    guard norm > 0, norm.isFinite else {
        throw VectorError(.zeroVector, "a cosine vector must have non-zero length")
    }
    return vector.map { $0 / norm }
}

/// The distance the graph and lists compare, computed from raw buffers.
///
/// For `l2` this is the squared distance (the root is monotone, so ranking is unchanged and
/// `reportedDistance` applies it once per hit); for `innerProduct` it is `-dot`; for `cosine`,
/// on normalized vectors, `1 - dot`.
@inline(__always)
func rankDistance(
    _ metric: DistanceMetric, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ dimension: Int
) -> Float {
    switch metric {
    case .l2: return Distance.l2Squared(a, b, dimension)
    case .innerProduct: return -Distance.dot(a, b, dimension)
    case .cosine: return 1 - Distance.dot(a, b, dimension)
    }
}

/// Converts a ranking distance into the distance reported to callers (pgvector's value).
@inline(__always)
func reportedDistance(_ metric: DistanceMetric, _ rank: Float) -> Float {
    metric == .l2 ? max(rank, 0).squareRoot() : rank
}
