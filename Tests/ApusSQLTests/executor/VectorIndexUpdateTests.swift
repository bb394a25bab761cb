@testable import ApusSQL
import ApusStorage
import Testing

/// An UPDATE that leaves a row's vector unchanged keeps the row's HNSW node (only the values
/// the index keeps for filters change); one that changes the vector replaces the node.
@Suite struct VectorIndexUpdateTests {
    @Test func updatesOfOtherColumnsKeepGraphNodes() throws {
        // The layout of `APUS_TEST_LAYOUT`, as for the transaction suites.
        var options = StorageOptions()
        SQLStorageLayout.configure(&options, TxnHarness.defaultLayout)
        let engine = try StorageEngine.open(directory: "/v", options: options, fileSystem: MemoryFileSystem())
        defer { try? engine.close() }
        let shared = VectorIndexes()
        let s = try SQLSession(engine: engine, vectorIndexes: shared)
        _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, tag int, v vector(2))")
        _ = try s.execute(sql: "INSERT INTO t SELECT g, 0, ('[' || g || ',1]')::vector FROM generate_series(1, 100) g")
        _ = try s.execute(sql: "CREATE INDEX t_v ON t USING hnsw (v vector_l2_ops)")
        let table = try #require(s.catalog.tables["t"])
        let desc = try #require(table.indexes.first { $0.name == "t_v" })
        let live = try shared.index(table, desc, engine: engine)
        let hnsw = try #require(live.hnsw)
        #expect(hnsw.nodeCount == 100)
        _ = try s.execute(sql: "UPDATE t SET tag = tag + 1")
        #expect(hnsw.nodeCount == 100)
        #expect(try s.execute(sql: "SELECT id FROM t WHERE tag = 1 ORDER BY v <-> '[2.9,1]' LIMIT 1")[0].rows == [[.int(3)]])
        _ = try s.execute(sql: "UPDATE t SET v = '[500,1]' WHERE id = 3")
        #expect(hnsw.nodeCount == 101)
        #expect(try s.execute(sql: "SELECT id FROM t ORDER BY v <-> '[2.9,1]' LIMIT 1")[0].rows == [[.int(2)]])
    }
}
