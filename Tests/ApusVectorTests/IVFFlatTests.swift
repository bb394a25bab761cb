// IVFFlat recall against exact search on seeded clustered data, the effect of probes, deletes
// with swap-remove, and retraining with rows present. Method: model comparison with a
// brute-force scan. A failure names the seed that rebuilds the same lists.

import ApusVector
import Testing

@Suite struct IVFFlatTests {
    @Test(arguments: DistanceMetric.allCases)
    func recallRisesWithProbes(metric: DistanceMetric) throws {
        let seed: UInt64 = 0x1FF + UInt64(metric.rawValue)
        let data = Dataset.clustered(count: 3_000, dimension: 16, queryCount: 30, seed: seed)
        let index = try IVFFlatIndex(dimension: 16, metric: metric, lists: 30, seed: seed)
        try index.train(data.vectors, iterations: 6)
        for (i, v) in data.vectors.enumerated() { try index.insert(rowID: Int64(i), vector: v) }
        var recallAt = [Int: Double]()
        for probes in [4, 30] {
            var total = 0.0
            for q in data.queries {
                let exact = try index.search(q, k: 10, probes: 30)
                total += recall(try index.search(q, k: 10, probes: probes), exact)
            }
            recallAt[probes] = total / Double(data.queries.count)
        }
        #expect(recallAt[30] == 1)
        #expect((recallAt[4] ?? 0) >= 0.85, "recall at 4 probes \(recallAt), \(metric), seed \(seed)")
    }

    @Test func exactWithAllProbesMatchesBruteForce() throws {
        let seed: UInt64 = 5
        let data = Dataset.clustered(count: 500, dimension: 8, queryCount: 10, seed: seed)
        let index = try IVFFlatIndex(dimension: 8, lists: 10, seed: seed)
        try index.train(data.vectors)
        for (i, v) in data.vectors.enumerated() { try index.insert(rowID: Int64(i), vector: v) }
        for q in data.queries {
            let brute = data.vectors.enumerated()
                .map { (Int64($0.offset), Distance.l2SquaredPlain($0.element, q)) }
                .sorted { ($0.1, $0.0) < ($1.1, $1.0) }.prefix(5).map(\.0)
            #expect(Set(try index.search(q, k: 5, probes: 10).map(\.rowID)) == Set(brute), "seed \(seed)")
        }
    }

    @Test func removeAndRetrain() throws {
        let seed: UInt64 = 11
        let data = Dataset.clustered(count: 600, dimension: 8, queryCount: 5, seed: seed)
        let index = try IVFFlatIndex(dimension: 8, lists: 6, seed: seed)
        try index.train(Array(data.vectors.prefix(100)))
        for (i, v) in data.vectors.enumerated() { try index.insert(rowID: Int64(i), vector: v) }
        for row in stride(from: 0, to: 600, by: 3) { try index.remove(rowID: Int64(row)) }
        #expect(index.count == 400)
        try index.train(data.vectors)
        #expect(index.count == 400)
        for q in data.queries {
            let hits = try index.search(q, k: 10, probes: 6)
            #expect(hits.count == 10 && hits.allSatisfy { $0.rowID % 3 != 0 }, "seed \(seed)")
        }
        // Every remaining row is still findable by its own vector.
        for row in [1, 2, 298, 599] {
            #expect(try index.search(data.vectors[row], k: 1, probes: 6).first?.rowID == Int64(row))
        }
        #expect(index.memoryUsage.vectorBytes >= 400 * 8 * 4)
    }
}
