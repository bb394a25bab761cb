// Inserts and deletes while searches run: one writer task inserts and deletes rows while
// three reader tasks search in a loop. Every search must succeed, return min(k, live) hits in
// distance order, and return only rows that were inserted at some point; after the writer
// finishes, the index holds exactly the expected rows and meets its recall. Correctness only,
// no timing; the interleaving varies between runs, the data does not (seed printed).

import ApusVector
import Testing

@Suite struct ConcurrencyTests {
    @Test func insertAndDeleteWhileSearching() async throws {
        let seed: UInt64 = 0xC0C
        let data = Dataset.clustered(count: 2_400, dimension: 16, queryCount: 20, seed: seed)
        let index = try HNSWIndex(parameters: HNSWParameters(dimension: 16, m: 8, efConstruction: 40, seed: seed))
        for i in 0..<400 { try index.insert(rowID: Int64(i), vector: data.vectors[i]) }
        let queries = data.queries
        try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                for i in 400..<2_400 {
                    try index.insert(rowID: Int64(i), vector: data.vectors[i])
                    if i % 10 == 0 { try index.remove(rowID: Int64(i - 400)) }
                }
                return 0
            }
            for reader in 0..<3 {
                group.addTask {
                    var searches = 0
                    for round in 0..<60 {
                        let q = queries[(round + reader) % queries.count]
                        let hits = try index.search(q, k: 10, efSearch: 32)
                        #expect(hits.count == 10, "seed \(seed)")
                        #expect(hits.allSatisfy { $0.rowID >= 0 && $0.rowID < 2_400 })
                        #expect(zip(hits, hits.dropFirst()).allSatisfy { $0.distance <= $1.distance })
                        let filtered = try index.search(q, k: 5, efSearch: 32, filter: RowPredicate { $0 % 2 == 1 }).hits
                        #expect(filtered.count == 5 && filtered.allSatisfy { $0.rowID % 2 == 1 })
                        searches += 1
                    }
                    return searches
                }
            }
            var total = 0
            for try await n in group { total += n }
            #expect(total == 180)
        }
        #expect(index.count == 2_400 - 200)
        var sum = 0.0
        for q in queries {
            let hits = try index.search(q, k: 10, efSearch: 64)
            #expect(hits.allSatisfy { !($0.rowID < 2_000 && $0.rowID % 10 == 0) }, "deleted row returned, seed \(seed)")
            sum += recall(hits, try index.exactSearch(q, k: 10, filter: NoRowFilter()))
        }
        #expect(sum / Double(queries.count) >= 0.95, "seed \(seed)")
    }
}
