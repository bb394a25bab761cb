/// Lloyd's k-means with a seeded start, for IVFFlat's lists.
///
/// Starts from `k` distinct sample vectors chosen by the seeded generator, then alternates
/// assignment and mean steps for `iterations` rounds. A list that ends a round empty is
/// re-seeded with the sample farthest from its centroid, so every list stays usable. For cosine
/// the centroids are renormalized each round (spherical k-means), matching how queries are
/// compared.
///
/// - Complexity: O(iterations * samples * k * dimension).
struct KMeans {
    static func centroids(
        of samples: [[Float]], k: Int, dimension: Int, metric: DistanceMetric, iterations: Int, seed: UInt64
    ) -> [Float] {
        precondition(!samples.isEmpty && k >= 1, "kMeans: samples and k")
        var rng = SeededGenerator(seed: seed)
        var order = Array(samples.indices)
        order.shuffle(using: &rng)
        var centroids = [Float]()
        centroids.reserveCapacity(k * dimension)
        for i in 0..<k { centroids.append(contentsOf: samples[order[i % order.count]]) }
        var assignment = [Int](repeating: 0, count: samples.count)
        var nearest = [Float](repeating: 0, count: samples.count)
        for _ in 0..<max(iterations, 1) {
            for (s, v) in samples.enumerated() {
                (assignment[s], nearest[s]) = closest(v, centroids: centroids, k: k, dimension: dimension, metric: metric)
            }
            var sums = [Float](repeating: 0, count: k * dimension)
            var counts = [Int](repeating: 0, count: k)
            for (s, v) in samples.enumerated() {
                let c = assignment[s]
                counts[c] += 1
                for d in 0..<dimension { sums[c * dimension + d] += v[d] }
            }
            var farthest = nearest.indices.sorted { nearest[$0] > nearest[$1] }.makeIterator()
            for c in 0..<k {
                if counts[c] == 0 {
                    let s = farthest.next() ?? 0
                    for d in 0..<dimension { centroids[c * dimension + d] = samples[s][d] }
                    continue
                }
                let inverse = 1 / Float(counts[c])
                for d in 0..<dimension { centroids[c * dimension + d] = sums[c * dimension + d] * inverse }
                if metric == .cosine { normalize(&centroids, at: c * dimension, dimension: dimension) }
            }
        }
        return centroids
    }

    static func normalize(_ values: inout [Float], at offset: Int, dimension: Int) {
        var norm: Float = 0
        for d in 0..<dimension { norm += values[offset + d] * values[offset + d] }
        norm = norm.squareRoot()
        guard norm > 0 else { return }
        for d in 0..<dimension { values[offset + d] /= norm }
    }

    /// The nearest centroid to `v` and its ranking distance.
    static func closest(_ v: [Float], centroids: [Float], k: Int, dimension: Int, metric: DistanceMetric) -> (Int, Float) {
        v.withUnsafeBufferPointer { q in
            centroids.withUnsafeBufferPointer { c in
                let qb = q.baseAddress.unsafelyUnwrapped
                let cb = c.baseAddress.unsafelyUnwrapped
                var best = 0
                var bestDistance = Float.infinity
                for i in 0..<k {
                    let d = rankDistance(metric, qb, cb + i * dimension, dimension)
                    if d < bestDistance {
                        bestDistance = d
                        best = i
                    }
                }
                return (best, bestDistance)
            }
        }
    }
}
