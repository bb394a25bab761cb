// The HNSW graph persisted in an ordered key space survives a restart: an index reopened from
// the same store holds the same rows, answers every query identically, and keeps evolving
// identically (the level generator's state is persisted too). A corrupt record refuses to
// open; a failed persist stops writes but not searches. Method: model comparison between the
// original and the reopened index. A failure names the seed.

import ApusCore
import ApusVector
import Testing

@Suite struct PersistenceTests {
    static let prefix: [UInt8] = Array("/idx/7/".utf8)

    func build(_ data: Dataset, store: InMemoryVectorIndexStore) throws -> HNSWIndex {
        let index = try HNSWIndex(
            parameters: HNSWParameters(dimension: data.dimension, metric: .cosine, m: 8, efConstruction: 40, seed: data.seed),
            store: store, keyPrefix: Self.prefix)
        for (i, v) in data.vectors.prefix(800).enumerated() { try index.insert(rowID: Int64(i) * 3, vector: v) }
        for row in stride(from: 0, to: 800, by: 7) { try index.remove(rowID: Int64(row) * 3) }
        return index
    }

    @Test func reopenedIndexAnswersIdentically() throws {
        let seed: UInt64 = 0x9E5
        let data = Dataset.clustered(count: 1_000, dimension: 16, queryCount: 20, seed: seed)
        let store = InMemoryVectorIndexStore()
        let original = try build(data, store: store)
        #expect(store.count == original.nodeCount + 1)
        let reopened = try HNSWIndex(
            parameters: HNSWParameters(dimension: 16, metric: .cosine), store: store, keyPrefix: Self.prefix)
        #expect(reopened.parameters == original.parameters)
        #expect(reopened.count == original.count)
        #expect(reopened.nodeCount == original.nodeCount)
        #expect(!reopened.contains(rowID: 0) && reopened.contains(rowID: 3))
        for q in data.queries {
            #expect(try reopened.search(q, k: 10, efSearch: 32) == original.search(q, k: 10, efSearch: 32), "seed \(seed)")
        }
        // Both continue identically: the same level draws, the same links.
        let otherStore = InMemoryVectorIndexStore()
        let twin = try build(data, store: otherStore)
        for (i, v) in data.vectors.suffix(200).enumerated() {
            try reopened.insert(rowID: 10_000 + Int64(i), vector: v)
            try twin.insert(rowID: 10_000 + Int64(i), vector: v)
        }
        for q in data.queries {
            #expect(try reopened.search(q, k: 10, efSearch: 32) == twin.search(q, k: 10, efSearch: 32), "seed \(seed)")
        }
        // Keys sit under the prefix only.
        #expect(try store.scan(prefix: Self.prefix).count == store.count)
    }

    @Test func mismatchedDimensionRefusesToOpen() throws {
        let store = InMemoryVectorIndexStore()
        let index = try HNSWIndex(parameters: HNSWParameters(dimension: 4), store: store, keyPrefix: [1])
        try index.insert(rowID: 1, vector: [1, 2, 3, 4])
        #expect(throws: VectorError.self) {
            _ = try HNSWIndex(parameters: HNSWParameters(dimension: 5), store: store, keyPrefix: [1])
        }
    }

    @Test func corruptRecordRefusesToOpen() throws {
        let store = InMemoryVectorIndexStore()
        let index = try HNSWIndex(parameters: HNSWParameters(dimension: 4), store: store, keyPrefix: [2])
        for i in 0..<20 { try index.insert(rowID: Int64(i), vector: [Float(i), 1, 2, 3]) }
        let pairs = try store.scan(prefix: [2, 1])
        var damaged = pairs[5].value
        damaged[12] ^= 0x40
        var batch = VectorStoreBatch()
        batch.puts.append((pairs[5].key, damaged))
        try store.write(batch)
        do {
            _ = try HNSWIndex(parameters: HNSWParameters(dimension: 4), store: store, keyPrefix: [2])
            Issue.record("a damaged node record opened")
        } catch let e as VectorError {
            #expect(e.code == .corruption)
        }
        // A missing node is corruption too.
        var drop = VectorStoreBatch()
        drop.puts.append((pairs[5].key, pairs[5].value))
        drop.deletes.append(pairs[9].key)
        try store.write(drop)
        #expect(throws: VectorError.self) {
            _ = try HNSWIndex(parameters: HNSWParameters(dimension: 4), store: store, keyPrefix: [2])
        }
    }

    @Test func failedPersistStopsWritesButNotSearches() throws {
        let store = InMemoryVectorIndexStore()
        let index = try HNSWIndex(parameters: HNSWParameters(dimension: 2), store: store, keyPrefix: [3])
        try index.insert(rowID: 1, vector: [0, 1])
        store.setFailsWrites(true)
        #expect(throws: VectorError.self) { try index.insert(rowID: 2, vector: [1, 1]) }
        store.setFailsWrites(false)
        do {
            try index.insert(rowID: 3, vector: [2, 1])
            Issue.record("insert accepted after a failed persist")
        } catch let e as VectorError {
            #expect(e.code == .storeFailed)
        }
        #expect(try index.search([0, 1], k: 1, efSearch: 8).first?.rowID == 1)
        // The store still holds the last persisted state, which reopens.
        let reopened = try HNSWIndex(parameters: HNSWParameters(dimension: 2), store: store, keyPrefix: [3])
        #expect(reopened.count == 1)
    }
}
