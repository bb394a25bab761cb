// Seeded synthetic data for the vector tests: a mixture of Gaussian clusters, like the
// benchmark's but small, so every test runs in well under a second in a debug build.

import ApusVector

struct Dataset {
    let dimension: Int
    let vectors: [[Float]]
    let queries: [[Float]]
    let seed: UInt64

    /// `count` vectors around `clusters` centers, plus `queryCount` queries from the same mixture.
    static func clustered(count: Int, dimension: Int, clusters: Int = 20, queryCount: Int = 50, seed: UInt64) -> Dataset {
        var rng = SeededGenerator(seed: seed)
        let centers = (0..<clusters).map { _ in (0..<dimension).map { _ in rng.nextGaussian() * 2 } }
        func draw() -> [Float] {
            let c = centers[Int(rng.next() % UInt64(clusters))]
            return c.map { $0 + rng.nextGaussian() }
        }
        let vectors = (0..<count).map { _ in draw() }
        let queries = (0..<queryCount).map { _ in draw() }
        return Dataset(dimension: dimension, vectors: vectors, queries: queries, seed: seed)
    }
}

/// The fraction of `exact` that `approximate` found (recall@k).
func recall(_ approximate: [VectorHit], _ exact: [VectorHit]) -> Double {
    guard !exact.isEmpty else { return 1 }
    let truth = Set(exact.map(\.rowID))
    return Double(approximate.filter { truth.contains($0.rowID) }.count) / Double(exact.count)
}
