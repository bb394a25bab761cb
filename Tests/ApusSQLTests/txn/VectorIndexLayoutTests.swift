import ApusCore
import ApusKV
@testable import ApusSQL
import ApusStorage
import Foundation
import Testing

/// Vector indexes under transactions on both storage layouts (DDL in blocks, rollback,
/// savepoints, DROP), and on the MVCC layout how their persisted graphs are stored: versions at
/// a fixed timestamp that recovery and the MVCC GC leave alone, loaded (not rebuilt) after a
/// reopen, and reconciled with the table after crashes, also one between a commit's record and
/// the resolution of its intents.
@Suite struct VectorIndexLayoutTests {
    /// The IDs of the `k` rows nearest to `q` (session `i`).
    static func nearest(_ h: TxnHarness, _ i: Int, _ q: String, _ k: Int = 2) throws -> [String] {
        try h.run(i, "SELECT id FROM t ORDER BY v <-> '\(q)' LIMIT \(k)").map { $0[0] }
    }

    /// The persisted (graph and map) entries of the table's index `name`, read through the store.
    static func persisted(_ s: SQLSession, _ engine: StorageEngine, table: String, index name: String) throws -> Int {
        let t = try #require(s.catalog.tables[table])
        let idx = try #require(t.indexes.first { $0.name == name })
        return try EngineVectorStore(engine: engine).scan(prefix: VectorIndexes.dataPrefix(table: t.id, index: idx.id)).count
    }

    @Test(arguments: SQLStorageLayout.allCases)
    func indexDDLAndWritesFollowTransactions(layout: SQLStorageLayout) throws {
        let h = try TxnHarness(layout: layout, sessions: 2, setup: """
            CREATE TABLE t (id int PRIMARY KEY, v vector(2));
            INSERT INTO t SELECT g, ('[' || g || ',0]')::vector FROM generate_series(1, 50) g
            """)
        // CREATE INDEX rolled back, after a search in its transaction (which the exact plan
        // answers: the index is built at commit): no index, nothing built or stored, and the
        // next index with its ID starts afresh.
        try h.run(0, "BEGIN; CREATE INDEX t_v ON t USING hnsw (v vector_l2_ops)")
        #expect(try VectorIndexLayoutTests.nearest(h, 0, "[-3,0]") == ["1", "2"])
        #expect(h.vectors.builtCount == 0)
        try h.run(0, "ROLLBACK")
        #expect(h.vectors.builtCount == 0)
        #expect(h.sessions[0].catalog.tables["t"]?.indexes.contains { $0.name == "t_v" } == false)
        // The same with ROLLBACK TO SAVEPOINT.
        try h.run(0, "BEGIN; SAVEPOINT a; CREATE INDEX t_v ON t USING hnsw (v vector_l2_ops)")
        #expect(try VectorIndexLayoutTests.nearest(h, 0, "[-3,0]") == ["1", "2"])
        try h.run(0, "ROLLBACK TO SAVEPOINT a")
        #expect(h.vectors.builtCount == 0)
        try h.run(0, "COMMIT")
        try h.run(0, "INSERT INTO t VALUES (60, '[-1,0]')")
        // CREATE INDEX in a block with rows written before it: searched in the block, then
        // built from the table when it commits, those rows included.
        try h.run(0, "BEGIN; INSERT INTO t VALUES (100, '[-3,0]'); CREATE INDEX t_v ON t USING hnsw (v vector_l2_ops)")
        #expect(try VectorIndexLayoutTests.nearest(h, 0, "[-3,0]") == ["100", "60"])
        #expect(try VectorIndexLayoutTests.nearest(h, 1, "[-3,0]") == ["60", "1"])
        try h.run(0, "COMMIT")
        #expect(h.vectors.builtCount == 1)
        try h.sessions[1].reloadCatalog()
        let plan = try h.run(1, "EXPLAIN SELECT id FROM t ORDER BY v <-> '[0,0]' LIMIT 2").map { $0[0] }.joined(separator: "\n")
        #expect(plan.contains("Index Scan using t_v on t"))
        #expect(try VectorIndexLayoutTests.nearest(h, 1, "[-3,0]") == ["100", "60"])
        #expect(try VectorIndexLayoutTests.persisted(h.sessions[0], h.engine, table: "t", index: "t_v") > 0)
        // Savepoints: the rolled-back part of a transaction never reaches the index.
        try h.run(0, "BEGIN; INSERT INTO t VALUES (200, '[-10,0]'); SAVEPOINT a; INSERT INTO t VALUES (201, '[-11,0]')")
        try h.run(0, "DELETE FROM t WHERE id = 100")
        #expect(try VectorIndexLayoutTests.nearest(h, 0, "[-12,0]", 3) == ["201", "200", "60"])
        try h.run(0, "ROLLBACK TO SAVEPOINT a")
        #expect(try VectorIndexLayoutTests.nearest(h, 0, "[-12,0]", 3) == ["200", "100", "60"])
        #expect(try VectorIndexLayoutTests.nearest(h, 1, "[-12,0]", 3) == ["100", "60", "1"])
        try h.run(0, "COMMIT")
        #expect(try VectorIndexLayoutTests.nearest(h, 1, "[-12,0]", 3) == ["200", "100", "60"])
        // A rolled-back DELETE and UPDATE leave the index as it was.
        try h.run(0, "BEGIN; DELETE FROM t WHERE id = 200; UPDATE t SET v = '[-100,0]' WHERE id = 2; ROLLBACK")
        #expect(try VectorIndexLayoutTests.nearest(h, 1, "[-100,0]", 3) == ["200", "100", "60"])
        // DROP INDEX and DROP TABLE remove what the index stored.
        try h.run(0, "CREATE INDEX t_ivf ON t USING ivfflat (v vector_l2_ops) WITH (lists = 2)")
        #expect(try VectorIndexLayoutTests.nearest(h, 0, "[49.9,0]") == ["50", "49"])
        let t = try #require(h.sessions[0].catalog.tables["t"])
        let hnswID = try #require(t.indexes.first { $0.name == "t_v" }).id
        try h.run(0, "DROP INDEX t_v")
        #expect(try EngineVectorStore(engine: h.engine).scan(prefix: VectorIndexes.dataPrefix(table: t.id, index: hnswID)).isEmpty)
        #expect(try VectorIndexLayoutTests.nearest(h, 0, "[-3,0]") == ["100", "60"])
        try h.run(0, "CREATE INDEX t_v2 ON t USING hnsw (v vector_cosine_ops)")
        #expect(try VectorIndexLayoutTests.persisted(h.sessions[0], h.engine, table: "t", index: "t_v2") > 0)
        try h.run(0, "DROP TABLE t")
        #expect(h.vectors.builtCount == 0)
        var prefix: [UInt8] = [0x03]
        RowEncoding.appendU32(t.id, &prefix)
        #expect(try EngineVectorStore(engine: h.engine).scan(prefix: prefix).isEmpty)
    }

    /// The row ID of every indexed row (by primary key), as the live index numbers them.
    static func rowIDs(_ vectors: VectorIndexes, _ s: SQLSession, _ engine: StorageEngine) throws -> [[UInt8]: Int64] {
        let t = try #require(s.catalog.tables["t"])
        let idx = try #require(t.indexes.first { $0.name == "t_v" })
        let live = try vectors.index(t, idx, engine: engine)
        return Dictionary(uniqueKeysWithValues: live.sampleKeys(Int.max).map { ($0.pk, $0.id) })
    }

    /// MVCC layout: the graph's keys are versions at `EngineVectorStore.version` (no intents,
    /// no raw keys), compaction with the GC threshold at the present keeps them, and a reopen
    /// loads the graph instead of rebuilding it (the row IDs, given in insertion order here,
    /// stay; a rebuild would number the rows in key order).
    @Test func mvccGraphIsVersionedSurvivesGCAndIsLoadedAfterAReopen() throws {
        let fs = MemoryFileSystem()
        let options = DurableTxnTests.options(.mvcc)
        var before: [[UInt8]: Int64] = [:]
        do {
            let engine = try StorageEngine.open(directory: "/vg", options: options, fileSystem: fs)
            let vectors = VectorIndexes()
            let s = try SQLSession(engine: engine, vectorIndexes: vectors)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v vector(2)); CREATE INDEX t_v ON t USING hnsw (v vector_l2_ops)")
            for i in stride(from: 300, through: 1, by: -1) { _ = try s.execute(sql: "INSERT INTO t VALUES (\(i), '[\(i),0]')") }
            _ = try s.execute(sql: "UPDATE t SET v = '[1000,0]' WHERE id = 7; DELETE FROM t WHERE id = 150")
            before = try VectorIndexLayoutTests.rowIDs(vectors, s, engine)
            #expect(before.count == 299)
            var graphKeys = 0
            let it = try engine.makeIterator()
            try it.seekToFirst()
            while it.isValid {
                let decoded = MVCCKey.decode(it.key)
                #expect(decoded != nil)
                if let (k, ts) = decoded, k.first == 0x03 {
                    #expect(ts == EngineVectorStore.version)
                    graphKeys += 1
                }
                try it.next()
            }
            #expect(graphKeys > 299)
            #expect(try MVCCLayoutTests.leftovers(engine) == (0, 0))
            // GC up to now: the rows' older versions go, the graph stays whole.
            let reclaimed = engine.metrics().gcBytesReclaimed
            engine.setMVCCGCThreshold(MVCCLayer.timestamp(atWall: SystemClock.wallNanos()))
            try engine.compactAll()
            #expect(engine.metrics().gcBytesReclaimed > reclaimed)
            try engine.close()
        }
        let engine = try StorageEngine.open(directory: "/vg", options: options, fileSystem: fs)
        defer { try? engine.close() }
        let vectors = VectorIndexes()
        let s = try SQLSession(engine: engine, vectorIndexes: vectors)
        #expect(try VectorIndexLayoutTests.rowIDs(vectors, s, engine) == before)
        func nearest(_ q: String, _ k: Int) throws -> [String] {
            try MVCCLayoutTests.rows(s, "SELECT id FROM t ORDER BY v <-> '\(q)' LIMIT \(k)").map { $0[0] }
        }
        #expect(try nearest("[990,0]", 1) == ["7"])
        #expect(try nearest("[150.25,0]", 3) == ["151", "149", "152"])
        _ = try s.execute(sql: "INSERT INTO t VALUES (1000, '[-1,0]')")
        #expect(try nearest("[-0.2,0]", 2) == ["1000", "1"])
    }

    /// MVCC layout: a crash after a commit's COMMITTED record and before its intents were
    /// resolved (and before the index's unsynced writes reached the disk). The reopen resolves
    /// the intents, and the loaded graph is reconciled with the rows they hold.
    @Test(arguments: [false, true])
    func mvccCrashBetweenCommitRecordAndResolution(torn: Bool) throws {
        let fs = MemoryFileSystem()
        let options = DurableTxnTests.options(.mvcc)
        do {
            let engine = try StorageEngine.open(directory: "/vc", options: options, fileSystem: fs)
            let vectors = VectorIndexes()
            let s = try SQLSession(engine: engine, vectorIndexes: vectors)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v vector(2))")
            _ = try s.execute(sql: "INSERT INTO t SELECT g, ('[' || g || ',0]')::vector FROM generate_series(1, 200) g")
            _ = try s.execute(sql: "CREATE INDEX t_v ON t USING hnsw (v vector_l2_ops)")
            let layer = try #require(TxnCoordinator.shared(engine).mvcc)
            layer.stopResolutionForTesting = .afterCommitPoint
            layer.onePhaseCommits = false  // the intent path (a one-phase commit leaves no record)
            _ = try s.execute(sql: """
                BEGIN; INSERT INTO t VALUES (1000, '[-100,0]'); UPDATE t SET v = '[1000,0]' WHERE id = 5;
                DELETE FROM t WHERE id = 150; COMMIT
                """)
            #expect(try MVCCLayoutTests.leftovers(engine) == (3, 1))
            let r = try SQLSession(engine: engine, vectorIndexes: vectors)
            #expect(try MVCCLayoutTests.rows(r, "SELECT id FROM t ORDER BY v <-> '[-90,0]' LIMIT 1") == [["1000"]])
            engine.closeForCrashTest()
            fs.crash(mode: torn ? .torn(seed: 7) : .dropUnsynced)
        }
        let engine = try StorageEngine.open(directory: "/vc", options: options, fileSystem: fs)
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine, vectorIndexes: VectorIndexes())
        #expect(TxnCoordinator.shared(engine).mvcc?.recovered.committed == 1)
        func nearest(_ q: String, _ k: Int = 1) throws -> [String] {
            try MVCCLayoutTests.rows(s, "SELECT id FROM t ORDER BY v <-> '\(q)' LIMIT \(k)").map { $0[0] }
        }
        #expect(try nearest("[-90,0]") == ["1000"])
        #expect(try nearest("[990,0]") == ["5"])
        #expect(try nearest("[5.25,0]", 3) == ["6", "4", "7"])
        #expect(try nearest("[150.25,0]", 3) == ["151", "149", "152"])
        #expect(try MVCCLayoutTests.rows(s, "SELECT count(*) FROM (SELECT id FROM t ORDER BY v <-> '[0,0]' LIMIT 400) x") == [["200"]])
    }

    /// The first search after a reopen loads the index (reading the table through a snapshot)
    /// while other sessions commit rows: no commit is lost between the snapshot and the index
    /// (the index ends with every row, and a search for more rows than the table has returns
    /// them all, which it could not if the index lacked some).
    @Test(arguments: SQLStorageLayout.allCases)
    func aLoadRacingCommitsMissesNoRow(layout: SQLStorageLayout) throws {
        let fs = MemoryFileSystem()
        let options = DurableTxnTests.options(layout)
        do {
            let engine = try StorageEngine.open(directory: "/vr", options: options, fileSystem: fs)
            let s = try SQLSession(engine: engine)
            _ = try s.execute(sql: """
                CREATE TABLE t (id int PRIMARY KEY, v vector(2));
                INSERT INTO t SELECT g, ('[' || g || ',0]')::vector FROM generate_series(1, 1000) g;
                CREATE INDEX t_v ON t USING hnsw (v vector_l2_ops)
                """)
            try engine.close()
        }
        let engine = try StorageEngine.open(directory: "/vr", options: options, fileSystem: fs)
        defer { try? engine.close() }
        let vectors = VectorIndexes()
        let problems = Collected<String>()
        let box = UncheckedBox(engine)
        onThreads(3) { w in
            do {
                let s = try SQLSession(engine: box.value, vectorIndexes: vectors)
                if w == 0 {
                    for _ in 0..<20 {
                        let n = try s.execute(sql: "SELECT id FROM t ORDER BY v <-> '[0,0]' LIMIT 5").last?.rows.count
                        if n != 5 { problems.add("a search returned \(n ?? 0) rows") }
                    }
                } else {
                    for i in 0..<100 { _ = try s.execute(sql: "INSERT INTO t VALUES (\(w * 10_000 + i), '[-\(w * 10_000 + i),1]')") }
                }
            } catch {
                problems.add("\(w): \(error)")
            }
        }
        #expect(problems.all.isEmpty, "\(problems.all)")
        let s = try SQLSession(engine: engine, vectorIndexes: vectors)
        #expect(try VectorIndexLayoutTests.rowIDs(vectors, s, engine).count == 1200)
        #expect(try DurableTxnTests.rows(s, "SELECT count(*) FROM (SELECT id FROM t ORDER BY v <-> '[0,0]' LIMIT 1500) x") == [["1200"]])
    }

    /// The index holds the latest committed rows: a snapshot older than a commit that deleted
    /// or moved a row (REPEATABLE READ, AS OF SYSTEM TIME) still sees that row, and finds it (the exact plan
    /// answers; `VectorSQLTests.efSearchSettingReachesTheIndex` shows that later snapshots
    /// are answered by the index again).
    @Test(arguments: SQLStorageLayout.allCases)
    func aSnapshotOlderThanADeleteOrMoveStillSeesTheRow(layout: SQLStorageLayout) throws {
        let h = try TxnHarness(layout: layout, sessions: 2, setup: """
            CREATE TABLE t (id int PRIMARY KEY, v vector(2));
            INSERT INTO t SELECT g, ('[' || g || ',0]')::vector FROM generate_series(1, 50) g;
            CREATE INDEX t_v ON t USING hnsw (v vector_l2_ops)
            """)
        try h.sessions[1].reloadCatalog()
        try h.run(1, "BEGIN ISOLATION LEVEL REPEATABLE READ")
        #expect(try VectorIndexLayoutTests.nearest(h, 1, "[0,0]") == ["1", "2"])
        usleep(20_000)
        let then = Date()
        usleep(20_000)
        try h.run(0, "DELETE FROM t WHERE id = 1")
        try h.run(0, "UPDATE t SET v = '[100,0]' WHERE id = 2")
        #expect(try VectorIndexLayoutTests.nearest(h, 1, "[0,0]") == ["1", "2"])
        #expect(try VectorIndexLayoutTests.nearest(h, 1, "[100,0]") == ["50", "49"])
        try h.run(1, "COMMIT")
        #expect(try VectorIndexLayoutTests.nearest(h, 1, "[0,0]") == ["3", "4"])
        #expect(try VectorIndexLayoutTests.nearest(h, 1, "[100,0]") == ["2", "50"])
        // AS OF SYSTEM TIME before both commits sees both rows where they were.
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let stamp = f.string(from: then).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "+00")
        #expect(try h.run(0, "SELECT id FROM t AS OF SYSTEM TIME '\(stamp)' ORDER BY v <-> '[0,0]' LIMIT 2") == [["1"], ["2"]])
        let t = try #require(h.sessions[1].catalog.tables["t"])
        let live = try h.vectors.index(t, try #require(t.indexes.first { $0.name == "t_v" }), engine: h.engine)
        #expect(live.removedThrough <= h.coordinator.appliedCommits)
        #expect(live.count == 49)
    }
}
