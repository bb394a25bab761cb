// Recall of the HNSW index against exact search on seeded clustered data, for each metric,
// plus deletes. Method: model comparison, the index's top-k against a brute-force top-k over
// the same rows. A failure means the graph construction or the layer search lost neighbors;
// the seed printed in the message rebuilds the same graph.

import ApusVector
import Testing

@Suite struct HNSWRecallTests {
    static func build(_ data: Dataset, metric: DistanceMetric, m: Int = 12, efConstruction: Int = 64) throws -> HNSWIndex {
        let index = try HNSWIndex(
            parameters: HNSWParameters(
                dimension: data.dimension, metric: metric, m: m, efConstruction: efConstruction, seed: data.seed))
        for (i, v) in data.vectors.enumerated() { try index.insert(rowID: Int64(i), vector: v) }
        return index
    }

    @Test(arguments: DistanceMetric.allCases)
    func recallAgainstExactSearch(metric: DistanceMetric) throws {
        let seed: UInt64 = 0xA11CE + UInt64(metric.rawValue)
        let data = Dataset.clustered(count: 2_000, dimension: 24, queryCount: 40, seed: seed)
        let index = try Self.build(data, metric: metric)
        #expect(index.count == 2_000)
        var total = 0.0
        for q in data.queries {
            let approximate = try index.search(q, k: 10, efSearch: 64)
            let exact = try index.exactSearch(q, k: 10, filter: NoRowFilter())
            #expect(approximate.count == 10)
            #expect(zip(approximate, approximate.dropFirst()).allSatisfy { $0.distance <= $1.distance })
            total += recall(approximate, exact)
        }
        let mean = total / Double(data.queries.count)
        #expect(mean >= 0.95, "recall@10 \(mean) for \(metric), seed \(seed)")
    }

    @Test func exactSearchMatchesBruteForce() throws {
        let seed: UInt64 = 7
        let data = Dataset.clustered(count: 300, dimension: 16, queryCount: 10, seed: seed)
        let index = try Self.build(data, metric: .l2)
        for q in data.queries {
            let brute = data.vectors.enumerated()
                .map { (Int64($0.offset), Distance.l2SquaredPlain($0.element, q)) }
                .sorted { ($0.1, $0.0) < ($1.1, $1.0) }
                .prefix(5).map(\.0)
            let exact = try index.exactSearch(q, k: 5, filter: NoRowFilter()).map(\.rowID)
            #expect(Set(exact) == Set(brute), "seed \(seed)")
        }
    }

    @Test func deletedRowsAreNeverReturned() throws {
        let seed: UInt64 = 0xDE1
        let data = Dataset.clustered(count: 2_000, dimension: 16, queryCount: 30, seed: seed)
        let index = try Self.build(data, metric: .l2)
        for row in stride(from: 0, to: 2_000, by: 2) { try index.remove(rowID: Int64(row)) }
        #expect(index.count == 1_000)
        #expect(index.nodeCount == 2_000)
        var total = 0.0
        for q in data.queries {
            let hits = try index.search(q, k: 10, efSearch: 64)
            #expect(hits.count == 10)
            #expect(hits.allSatisfy { $0.rowID % 2 == 1 }, "seed \(seed)")
            total += recall(hits, try index.exactSearch(q, k: 10, filter: NoRowFilter()))
        }
        #expect(total / Double(data.queries.count) >= 0.95, "seed \(seed)")
        // A deleted row can come back under the same ID.
        try index.insert(rowID: 0, vector: data.vectors[0])
        #expect(try index.search(data.vectors[0], k: 1, efSearch: 32).first?.rowID == 0)
    }

    @Test func smallIndexReturnsEveryRow() throws {
        let index = try HNSWIndex(parameters: HNSWParameters(dimension: 2))
        try index.insert(rowID: 10, vector: [0, 0])
        #expect(try index.search([1, 1], k: 5, efSearch: 10).map(\.rowID) == [10])
        try index.insert(rowID: 11, vector: [1, 1])
        try index.insert(rowID: 12, vector: [3, 3])
        let hits = try index.search([1, 1], k: 5, efSearch: 10)
        #expect(hits.map(\.rowID) == [11, 10, 12])
        #expect(hits[0].distance == 0)
        #expect(abs(hits[1].distance - Float(2).squareRoot()) < 1e-6)
    }

    @Test func memoryUsageGrowsWithRows() throws {
        let data = Dataset.clustered(count: 500, dimension: 32, queryCount: 1, seed: 3)
        let index = try Self.build(data, metric: .l2)
        let memory = index.memoryUsage
        #expect(memory.vectorBytes >= 500 * 32 * 4)
        #expect(memory.structureBytes >= 500 * 4 * 25)
        #expect(memory.totalBytes == memory.vectorBytes + memory.structureBytes + memory.rowMapBytes)
    }
}
