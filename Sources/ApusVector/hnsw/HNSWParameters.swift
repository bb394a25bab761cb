/// The build parameters of an HNSW index (pgvector's `WITH (m, ef_construction)`).
public struct HNSWParameters: Sendable, Equatable {
    /// Length of every vector.
    public var dimension: Int
    /// The distance results are ordered by.
    public var metric: DistanceMetric
    /// Links per node on the upper layers; the bottom layer keeps up to `2 * m` (the paper's
    /// `M` and `Mmax0`). pgvector's default is 16.
    public var m: Int
    /// Width of the candidate list while inserting. pgvector's default is 64; hnswlib
    /// benchmarks use 200.
    public var efConstruction: Int
    /// Seed of the level generator; the graph is a function of the seed and the insert order.
    public var seed: UInt64

    public init(dimension: Int, metric: DistanceMetric = .l2, m: Int = 16, efConstruction: Int = 64, seed: UInt64 = 42) {
        self.dimension = dimension
        self.metric = metric
        self.m = m
        self.efConstruction = efConstruction
        self.seed = seed
    }

    /// Checks every parameter against `limits`.
    ///
    /// - Throws: `VectorError.invalidArgument` naming the first parameter out of range.
    public func validate(_ limits: VectorLimits) throws(VectorError) {
        guard dimension >= 1, dimension <= limits.dimensionMax else {
            throw VectorError(.invalidArgument, "dimension must be in 1...\(limits.dimensionMax), got \(dimension)")
        }
        guard m >= 2, m <= limits.mMax else {
            throw VectorError(.invalidArgument, "m must be in 2...\(limits.mMax), got \(m)")
        }
        guard efConstruction >= 1, efConstruction <= limits.efMax else {
            throw VectorError(.invalidArgument, "ef_construction must be in 1...\(limits.efMax), got \(efConstruction)")
        }
    }
}

/// Bytes an index holds in memory, by part.
public struct VectorIndexMemory: Sendable, Equatable, CustomStringConvertible {
    /// The stored vectors (`float32`, contiguous).
    public var vectorBytes: Int = 0
    /// Links (HNSW) or list bookkeeping (IVFFlat), including per-node headers.
    public var structureBytes: Int = 0
    /// Row-ID maps, estimated from their element counts.
    public var rowMapBytes: Int = 0

    public init() {}

    /// The sum of the parts.
    public var totalBytes: Int { vectorBytes + structureBytes + rowMapBytes }

    public var description: String {
        "total \(totalBytes) B (vectors \(vectorBytes), structure \(structureBytes), row map \(rowMapBytes))"
    }
}
