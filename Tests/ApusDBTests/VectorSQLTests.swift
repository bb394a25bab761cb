// The vector SQL surface over real indexes: recall of `ORDER BY col <op> q LIMIT k` through
// HNSW and IVFFlat against an exact search computed here in Swift, filtered queries at
// selectivities from 0.1% to 90% returning exactly k rows, visibility of uncommitted and
// deleted rows across sessions, rebuild after a restart, and searches during inserts.

import ApusCore
import ApusDB
import ApusSQL
import ApusStorage
import Foundation
import Testing

@Suite struct VectorSQLTests {
    /// The storage layout the suite runs on (`APUS_TEST_LAYOUT`, else the default, as for
    /// the SQL transaction suites); the crash test runs on both.
    static let layout: SQLStorageLayout = {
        let value = ProcessInfo.processInfo.environment["APUS_TEST_LAYOUT"]
        guard let layout = SQLStorageLayout.named(value) else { preconditionFailure("APUS_TEST_LAYOUT=\(value ?? "") names no storage layout") }
        return layout
    }()

    /// Engine options for `layout`.
    static func options(_ layout: SQLStorageLayout = VectorSQLTests.layout) -> StorageOptions {
        var o = StorageOptions()
        SQLStorageLayout.configure(&o, layout)
        return o
    }

    /// Seeded clustered vectors: `n` rows of dimension `dim`, with a `tag` in 0..<1000.
    static func dataset(n: Int, dim: Int, seed: UInt64) -> [(id: Int, v: [Float], tag: Int)] {
        var rng = SplitMix64(seed: seed)
        let centers = (0..<8).map { _ in (0..<dim).map { _ in Float(rng.nextUnit() * 10 - 5) } }
        return (0..<n).map { i in
            let c = centers[Int(rng.next() % 8)]
            return (i + 1, c.map { $0 + Float(rng.nextUnit() * 2 - 1) }, Int(rng.next() % 1000))
        }
    }

    /// Queries from the data's own distribution: rows perturbed by small seeded noise.
    static func queries(_ rows: [(id: Int, v: [Float], tag: Int)], n: Int, seed: UInt64) -> [[Float]] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in rows[rng.uniform(rows.count)].v.map { $0 + Float(rng.nextUnit() * 0.4 - 0.2) } }
    }

    static func literal(_ v: [Float]) -> String { "[" + v.map { "\($0)" }.joined(separator: ",") + "]" }

    static func load(_ db: Database, _ rows: [(id: Int, v: [Float], tag: Int)], dim: Int) throws {
        try db.execute("CREATE TABLE items (id int PRIMARY KEY, embedding vector(\(dim)), tag int)")
        for chunk in stride(from: 0, to: rows.count, by: 200) {
            let values = rows[chunk..<min(chunk + 200, rows.count)].map { "(\($0.id), '\(literal($0.v))', \($0.tag))" }
            try db.execute("INSERT INTO items VALUES " + values.joined(separator: ", "))
        }
    }

    /// The exact top-k IDs, by the same float arithmetic the SQL functions use.
    static func exact(_ rows: [(id: Int, v: [Float], tag: Int)], _ q: [Float], k: Int, metric: String,
                      where keep: (Int) -> Bool = { _ in true }) -> [Int] {
        func d(_ v: [Float]) -> Double {
            switch metric {
            case "l2": return Double(zip(v, q).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) })
            case "ip": return -Double(zip(v, q).reduce(Float(0)) { $0 + $1.0 * $1.1 })
            default:
                let dot = zip(v, q).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                let na = v.reduce(Float(0)) { $0 + $1 * $1 }, nb = q.reduce(Float(0)) { $0 + $1 * $1 }
                return 1 - Double(dot) / (Double(na) * Double(nb)).squareRoot()
            }
        }
        return rows.filter { keep($0.tag) }.map { ($0.id, d($0.v)) }.sorted { $0.1 < $1.1 }.prefix(k).map(\.0)
    }

    static func ids(_ rs: ResultSet) -> [Int] { rs.rows.compactMap { if case let .int(i) = $0[0] { Int(i) } else { nil } } }

    @Test(arguments: [("hnsw", "l2"), ("hnsw", "cosine"), ("hnsw", "ip"), ("ivfflat", "l2")])
    func recallAgainstExactSearch(method: String, metric: String) throws {
        let dim = 16, k = 10
        let rows = VectorSQLTests.dataset(n: 3000, dim: dim, seed: 7)
        let db = try Database.inMemory(layout: VectorSQLTests.layout)
        defer { try? db.close() }
        try VectorSQLTests.load(db, rows, dim: dim)
        let op = ["l2": "<->", "cosine": "<=>", "ip": "<#>"][metric] ?? "<->"
        let opclass = "vector_\(metric)_ops"
        let with = method == "hnsw" ? "WITH (m = 16, ef_construction = 64)" : "WITH (lists = 20)"
        try db.execute("CREATE INDEX items_v ON items USING \(method) (embedding \(opclass)) \(with)")
        if method == "ivfflat" { try db.execute("SET ivfflat.probes = 5") }
        let plan = try db.execute("EXPLAIN SELECT id FROM items ORDER BY embedding \(op) '\(VectorSQLTests.literal(rows[0].v))' LIMIT 10")
        #expect(plan.rows.contains { $0.text(0)?.contains("Index Scan using items_v on items") == true })
        let queries = VectorSQLTests.queries(rows, n: 40, seed: 99)
        var found = 0
        for q in queries {
            let got = VectorSQLTests.ids(try db.execute(
                "SELECT id FROM items ORDER BY embedding \(op) $1 LIMIT \(k)", parameters: [.text(VectorSQLTests.literal(q))]))
            #expect(got.count == k)
            found += Set(got).intersection(VectorSQLTests.exact(rows, q, k: k, metric: metric)).count
        }
        let recall = Double(found) / Double(queries.count * k)
        #expect(recall >= 0.95, "recall \(recall) for \(method) \(metric)")
    }

    @Test func efSearchSettingReachesTheIndex() throws {
        // Queries far from the data (other cluster centres) are hard for HNSW: a narrow
        // candidate list misses neighbours that a wide one finds (the exact plan would not).
        var rows = VectorSQLTests.dataset(n: 3000, dim: 16, seed: 7)
        let db = try Database.inMemory(layout: VectorSQLTests.layout)
        defer { try? db.close() }
        try VectorSQLTests.load(db, rows, dim: 16)
        try db.execute("CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)")
        // After a delete, later statements' snapshots see it: the index keeps answering.
        try db.execute("DELETE FROM items WHERE id = 1")
        rows.removeAll { $0.id == 1 }
        let queries = VectorSQLTests.dataset(n: 40, dim: 16, seed: 99).map(\.v)
        func recall(ef: Int) throws -> Double {
            try db.execute("SET hnsw.ef_search = \(ef)")
            var found = 0
            for q in queries {
                let got = VectorSQLTests.ids(try db.execute(
                    "SELECT id FROM items ORDER BY embedding <-> $1 LIMIT 10", parameters: [.text(VectorSQLTests.literal(q))]))
                found += Set(got).intersection(VectorSQLTests.exact(rows, q, k: 10, metric: "l2")).count
            }
            return Double(found) / Double(queries.count * 10)
        }
        let narrow = try recall(ef: 10), wide = try recall(ef: 400)
        #expect(narrow < wide, "ef_search 10: \(narrow), 400: \(wide)")
        #expect(wide >= 0.95)
    }

    @Test func filteredSearchReturnsKRowsAtEverySelectivity() throws {
        let dim = 8, k = 10
        let rows = VectorSQLTests.dataset(n: 4000, dim: dim, seed: 11)
        let db = try Database.inMemory(layout: VectorSQLTests.layout)
        defer { try? db.close() }
        try VectorSQLTests.load(db, rows, dim: dim)
        try db.execute("CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)")
        let queries = VectorSQLTests.queries(rows, n: 10, seed: 5)
        // tag < limit keeps limit/1000 of the rows: 0.1%, 1%, 10%, 50%, 90%.
        for limit in [1, 10, 100, 500, 900] {
            var found = 0, wanted = 0
            for q in queries {
                let expected = VectorSQLTests.exact(rows, q, k: k, metric: "l2") { $0 < limit }
                let got = VectorSQLTests.ids(try db.execute(
                    "SELECT id FROM items WHERE tag < \(limit) ORDER BY embedding <-> $1 LIMIT \(k)",
                    parameters: [.text(VectorSQLTests.literal(q))]))
                #expect(got.count == expected.count, "selectivity \(limit)/1000: \(got.count) rows, expected \(expected.count)")
                found += Set(got).intersection(expected).count
                wanted += expected.count
            }
            let recall = Double(found) / Double(max(wanted, 1))
            #expect(recall >= 0.95, "filtered recall \(recall) at selectivity \(limit)/1000")
        }
    }

    /// Both filtered paths (a selective filter ranks the rows of a table scan, a broad one
    /// walks the graph) see the transaction's own writes and nobody else's uncommitted ones.
    /// Two sessions sharing `engine`'s vector indexes, after `a` created and filled table `t`
    /// and built an HNSW index on its column `v`.
    static func twoSessions(_ engine: StorageEngine, _ create: String, _ insert: String) throws -> (SQLSession, SQLSession) {
        let shared = VectorIndexes()
        let a = try SQLSession(engine: engine, vectorIndexes: shared)
        let b = try SQLSession(engine: engine, vectorIndexes: shared)
        _ = try a.execute(sql: create)
        _ = try a.execute(sql: insert)
        _ = try a.execute(sql: "CREATE INDEX ON t USING hnsw (v vector_l2_ops)")
        try b.reloadCatalog()
        return (a, b)
    }

    @Test(arguments: ["tag = 7", "tag < 60"])
    func filteredSearchSeesOwnWritesOnly(_ filter: String) throws {
        let engine = try StorageEngine.open(directory: "/v", options: VectorSQLTests.options(), fileSystem: MemoryFileSystem())
        defer { try? engine.close() }
        let (a, b) = try VectorSQLTests.twoSessions(engine, "CREATE TABLE t (id int PRIMARY KEY, tag int, v vector(2))",
            "INSERT INTO t SELECT g, g % 100, ('[' || g || ',' || (g % 7) || ']')::vector FROM generate_series(1, 3000) g")
        func nearest(_ s: SQLSession) throws -> [Value] {
            try s.execute(sql: "SELECT id FROM t WHERE \(filter) ORDER BY v <-> '[0,0]' LIMIT 3")[0].rows.map { $0[0] }
        }
        let before = try nearest(b)
        #expect(before.count == 3)
        _ = try a.execute(sql: "BEGIN")
        _ = try a.execute(sql: "INSERT INTO t VALUES (5000, 7, '[0,0]'), (5001, 99, '[0,0]')")
        guard case let .int(first) = before[0] else { Issue.record("not an id: \(before[0])"); return }
        _ = try a.execute(sql: "DELETE FROM t WHERE id = \(first)")
        let mine = try nearest(a)
        #expect(mine == [.int(5000)] + before[1...])
        #expect(try nearest(b) == before)
        _ = try a.execute(sql: "COMMIT")
        #expect(try nearest(b) == mine)
    }

    @Test func uncommittedRowsAreInvisibleToOthersAndDeletedRowsStayGone() throws {
        let engine = try StorageEngine.open(directory: "/v", options: VectorSQLTests.options(), fileSystem: MemoryFileSystem())
        defer { try? engine.close() }
        let (a, b) = try VectorSQLTests.twoSessions(engine, "CREATE TABLE t (id int PRIMARY KEY, v vector(2))",
            "INSERT INTO t SELECT g, ('[' || g || ',0]')::vector FROM generate_series(1, 200) g")
        func nearest(_ s: SQLSession, _ q: String) throws -> [Value] {
            try s.execute(sql: "SELECT id FROM t ORDER BY v <-> '\(q)' LIMIT 2")[0].rows.map { $0[0] }
        }
        #expect(try nearest(b, "[0,0]") == [.int(1), .int(2)])
        // A's uncommitted insert: A sees it, B does not.
        _ = try a.execute(sql: "BEGIN")
        _ = try a.execute(sql: "INSERT INTO t VALUES (1000, '[0,0]')")
        #expect(try nearest(a, "[0,0]") == [.int(1000), .int(1)])
        #expect(try nearest(b, "[0,0]") == [.int(1), .int(2)])
        _ = try a.execute(sql: "ROLLBACK")
        #expect(try nearest(a, "[0,0]") == [.int(1), .int(2)])
        // A deletes row 1 and moves row 2 far away; B keeps seeing them until A commits.
        _ = try a.execute(sql: "BEGIN")
        _ = try a.execute(sql: "DELETE FROM t WHERE id = 1")
        _ = try a.execute(sql: "UPDATE t SET v = '[500,0]' WHERE id = 2")
        #expect(try nearest(a, "[0,0]") == [.int(3), .int(4)])
        #expect(try nearest(b, "[0,0]") == [.int(1), .int(2)])
        _ = try a.execute(sql: "COMMIT")
        #expect(try nearest(b, "[0,0]") == [.int(3), .int(4)])
        #expect(try nearest(b, "[500,0]") == [.int(2), .int(200)])
        // TRUNCATE empties the index too; new rows are found again.
        _ = try a.execute(sql: "TRUNCATE t")
        #expect(try nearest(b, "[0,0]").isEmpty)
        _ = try a.execute(sql: "INSERT INTO t VALUES (7, '[1,1]')")
        #expect(try nearest(b, "[0,0]") == [.int(7)])
    }

    /// The index keeps small column values to check filters in memory: they follow updates
    /// of non-vector columns, survive a restart (refilled from the table), and long strings or
    /// filters on the vector itself fall back to reading the rows.
    @Test func filtersCheckedInMemoryFollowUpdatesAndRestarts() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apus-vec-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let long = String(repeating: "x", count: 200)
        func nearest(_ db: Database, _ filter: String) throws -> [Int] {
            VectorSQLTests.ids(try db.execute("SELECT id FROM t WHERE \(filter) ORDER BY v <-> '[0,0]' LIMIT 3"))
        }
        do {
            let db = try Database.open(path: dir, layout: VectorSQLTests.layout)
            try db.execute("CREATE TABLE t (id int PRIMARY KEY, tag int, note text, v vector(2))")
            try db.execute("INSERT INTO t SELECT g, g % 10, CASE WHEN g % 2 = 0 THEN '\(long)' || g ELSE 'short' END, "
                + "('[' || g || ',0]')::vector FROM generate_series(1, 2000) g")
            try db.execute("CREATE INDEX ON t USING hnsw (v vector_l2_ops)")
            #expect(try nearest(db, "tag = 3") == [3, 13, 23])
            // An update of a non-vector column moves rows in and out of the filter.
            try db.execute("UPDATE t SET tag = 3 WHERE id = 5")
            try db.execute("UPDATE t SET tag = 0 WHERE id = 13")
            #expect(try nearest(db, "tag = 3") == [3, 5, 23])
            // A rolled-back update changes nothing.
            try db.execute("BEGIN")
            try db.execute("UPDATE t SET tag = 3 WHERE id = 1")
            #expect(try nearest(db, "tag = 3") == [1, 3, 5])
            try db.execute("ROLLBACK")
            #expect(try nearest(db, "tag = 3") == [3, 5, 23])
            // Long strings are not kept: those rows are read.
            #expect(try nearest(db, "note LIKE 'xxx%' AND tag = 4") == [4, 14, 24])
            #expect(try nearest(db, "note = 'short' AND tag = 3") == [3, 5, 23])
            // A filter on the vector column reads the rows.
            #expect(try nearest(db, "v <-> '[100,0]' < 2.5 AND tag <> 0") == [98, 99, 101])
            try db.close()
        }
        let db = try Database.open(path: dir, layout: VectorSQLTests.layout)
        defer { try? db.close() }
        #expect(try nearest(db, "tag = 3") == [3, 5, 23])
        try db.execute("UPDATE t SET tag = 9 WHERE id = 3")
        #expect(try nearest(db, "tag = 3") == [5, 23, 33])
    }

    @Test func indexIsRebuiltAfterRestart() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apus-vec-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rows = VectorSQLTests.dataset(n: 500, dim: 4, seed: 3)
        do {
            let db = try Database.open(path: dir, layout: VectorSQLTests.layout)
            try VectorSQLTests.load(db, rows, dim: 4)
            try db.execute("CREATE INDEX items_v ON items USING hnsw (embedding vector_l2_ops)")
            try db.close()
        }
        let db = try Database.open(path: dir, layout: VectorSQLTests.layout)
        defer { try? db.close() }
        let q = rows[17].v
        let plan = try db.execute("EXPLAIN SELECT id FROM items ORDER BY embedding <-> '\(VectorSQLTests.literal(q))' LIMIT 5")
        #expect(plan.rows.contains { $0.text(0)?.contains("Index Scan using items_v") == true })
        let got = VectorSQLTests.ids(try db.execute("SELECT id FROM items ORDER BY embedding <-> '\(VectorSQLTests.literal(q))' LIMIT 5"))
        #expect(got.first == rows[17].id)
        #expect(Set(got).intersection(VectorSQLTests.exact(rows, q, k: 5, metric: "l2")).count >= 4)
    }

    /// The HNSW graph is persisted without syncs of its own: a crash can lose its latest writes
    /// while the rows they belong to are durable. After reopening, the graph is loaded and
    /// reconciled with the table, so inserted, moved and deleted rows are all answered right.
    @Test(arguments: SQLStorageLayout.allCases, [UInt64(1), 2, 3, 4])
    func persistedGraphIsReconciledAfterACrash(layout: SQLStorageLayout, seed: UInt64) throws {
        let fs = MemoryFileSystem()
        var engine = try StorageEngine.open(directory: "/v", options: VectorSQLTests.options(layout), fileSystem: fs)
        var s = try SQLSession(engine: engine, vectorIndexes: VectorIndexes())
        _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v vector(2))")
        _ = try s.execute(sql: "INSERT INTO t SELECT g, ('[' || g || ',0]')::vector FROM generate_series(1, 300) g")
        _ = try s.execute(sql: "CREATE INDEX ON t USING hnsw (v vector_l2_ops)")
        _ = try s.execute(sql: "INSERT INTO t VALUES (1000, '[-100,0]')")
        _ = try s.execute(sql: "UPDATE t SET v = '[1000,0]' WHERE id = 5")
        _ = try s.execute(sql: "DELETE FROM t WHERE id = 150")
        // Every statement above committed with a sync; the index writes after the last did not.
        engine.closeForCrashTest()
        fs.crash(mode: seed % 2 == 0 ? .dropUnsynced : .torn(seed: seed))
        engine = try StorageEngine.open(directory: "/v", options: VectorSQLTests.options(layout), fileSystem: fs)
        defer { try? engine.close() }
        s = try SQLSession(engine: engine, vectorIndexes: VectorIndexes())
        func nearest(_ q: String, _ k: Int = 1) throws -> [Value] {
            try s.execute(sql: "SELECT id FROM t ORDER BY v <-> '\(q)' LIMIT \(k)")[0].rows.map { $0[0] }
        }
        #expect(try nearest("[-90,0]") == [.int(1000)])
        #expect(try nearest("[990,0]") == [.int(5)])
        #expect(try nearest("[5.25,0]", 3) == [.int(6), .int(4), .int(7)])
        #expect(try nearest("[150.25,0]", 3) == [.int(151), .int(149), .int(152)])
        #expect(try s.execute(sql: "SELECT count(*) FROM (SELECT id FROM t ORDER BY v <-> '[0,0]' LIMIT 400) x")[0].rows[0][0] == .int(300))
    }

    @Test func searchesDuringInsertsSeeWholeRows() async throws {
        let db = try Database.inMemory(layout: VectorSQLTests.layout)
        defer { try? db.close() }
        try db.execute("CREATE TABLE t (id int PRIMARY KEY, v vector(3))")
        try db.execute("CREATE INDEX ON t USING hnsw (v vector_cosine_ops)")
        try db.execute("INSERT INTO t SELECT g, ('[' || g || ',1,2]')::vector FROM generate_series(1, 50) g")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for i in 51...250 { try db.execute("INSERT INTO t VALUES (\(i), '[\(i),\(i % 7 + 1),2]')") }
            }
            for _ in 0..<2 {
                group.addTask {
                    for _ in 0..<40 {
                        let rs = try db.execute("SELECT id, v <=> '[1,1,2]' FROM t ORDER BY v <=> '[1,1,2]' LIMIT 10")
                        #expect(rs.rows.count == 10)
                        let d = rs.rows.compactMap { if case let .float(x) = $0[1] { x } else { nil } }
                        #expect(d == d.sorted())
                    }
                }
            }
            try await group.waitForAll()
        }
        let n = try db.execute("SELECT count(*) FROM (SELECT id FROM t ORDER BY v <=> '[1,1,2]' LIMIT 300) s")
        #expect(n.rows.first?[0] == .int(250))
    }

    @Test func vectorIndexDDLErrors() throws {
        let db = try Database.inMemory(layout: VectorSQLTests.layout)
        defer { try? db.close() }
        try db.execute("CREATE EXTENSION IF NOT EXISTS vector")
        try db.execute("CREATE TABLE t (id int PRIMARY KEY, v vector(3), w vector, n int)")
        func code(_ sql: String) -> String? {
            do { try db.execute(sql); return nil } catch { return error.sqlState.code }
        }
        #expect(code("CREATE INDEX ON t USING hnsw (v)") == "42704")
        #expect(code("CREATE INDEX ON t USING hnsw (n int4_ops)") == "42704")
        #expect(code("CREATE INDEX ON t USING hnsw (w vector_l2_ops)") == "22000")
        #expect(code("CREATE INDEX ON t USING hnsw (v vector_l2_ops) WITH (m = 1)") == "22023")
        #expect(code("CREATE INDEX ON t USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 8)") == "22023")
        #expect(code("CREATE INDEX ON t USING hnsw (v vector_l2_ops) WITH (lists = 3)") == "22023")
        #expect(code("CREATE UNIQUE INDEX ON t USING hnsw (v vector_l2_ops)") == "0A000")
        #expect(code("CREATE INDEX ON t USING nosuch (v)") == "42704")
        #expect(code("CREATE EXTENSION nosuch") == "58P01")
        #expect(code("INSERT INTO t VALUES (1, '[1,2]', NULL, 1)") == "22000")
        #expect(code("SELECT '[1,2'::vector") == "22P02")
        try db.execute("CREATE INDEX t_v ON t USING ivfflat (v vector_ip_ops) WITH (lists = 2)")
        // An empty, untrained IVFFlat index answers through the exact plan.
        #expect(try db.execute("SELECT id FROM t ORDER BY v <#> '[1,1,1]' LIMIT 3").rows.isEmpty)
        try db.execute("INSERT INTO t VALUES (1, '[1,0,0]', NULL, 1), (2, '[0,2,0]', NULL, 2)")
        #expect(VectorSQLTests.ids(try db.execute("SELECT id FROM t ORDER BY v <#> '[1,1,1]' LIMIT 3")) == [2, 1])
        try db.execute("DROP INDEX t_v")
        #expect(VectorSQLTests.ids(try db.execute("SELECT id FROM t ORDER BY v <#> '[1,1,1]' LIMIT 3")) == [2, 1])
    }
}
