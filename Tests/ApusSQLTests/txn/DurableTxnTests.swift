import ApusCore
@testable import ApusSQL
import ApusStorage
import Foundation
import Testing

/// Transactions across the storage engine's limits and restarts: a commit larger than the
/// memtable, and AS OF SYSTEM TIME reading back past a reopen.
@Suite struct DurableTxnTests {
    static func options(_ layout: SQLStorageLayout = .sequence) -> StorageOptions {
        var o = StorageOptions()
        o.comparator = layout == .mvcc ? .mvcc : .bytewise
        o.memtableBytesMax = 64 << 10
        o.tableBytesTarget = 64 << 10
        o.level1BytesMax = 256 << 10
        o.compactionBytesPerSecondMax = nil
        return o
    }

    static func rows(_ s: SQLSession, _ sql: String) throws -> [[String]] {
        (try s.execute(sql: sql).last?.rows ?? []).map { $0.map { $0.isNull ? "NULL" : $0.description } }
    }

    @Test(arguments: SQLStorageLayout.allCases) func aTransactionLargerThanTheMemtableCommits(layout: SQLStorageLayout) throws {
        let fs = MemoryFileSystem()
        do {
            let engine = try StorageEngine.open(directory: "/big", options: DurableTxnTests.options(layout), fileSystem: fs)
            let s = try SQLSession(engine: engine)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text)")
            // About 2 MB of rows in one commit, 30 times the memtable.
            _ = try s.execute(sql: "INSERT INTO t SELECT g, repeat('x', 60) || g FROM generate_series(1, 20000) g")
            #expect(try DurableTxnTests.rows(s, "SELECT count(*), sum(id) FROM t") == [["20000", "200010000"]])
            // And in an explicit block, with a rollback of a large one in between.
            _ = try s.execute(sql: "BEGIN; UPDATE t SET v = 'gone'; ROLLBACK")
            _ = try s.execute(sql: "BEGIN; UPDATE t SET v = 'u' || id WHERE id % 2 = 0; DELETE FROM t WHERE id > 19000; COMMIT")
            #expect(try DurableTxnTests.rows(s, "SELECT v FROM t WHERE id IN (1, 2) ORDER BY id")
                    == [["\(String(repeating: "x", count: 60))1"], ["u2"]])
            s.close()
            try engine.close()
        }
        let engine = try StorageEngine.open(directory: "/big", options: DurableTxnTests.options(layout), fileSystem: fs)
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine)
        #expect(try DurableTxnTests.rows(s, "SELECT count(*), count(*) FILTER (WHERE v LIKE 'u%') FROM t") == [["19000", "9500"]])
    }

    /// Large commits among concurrent small ones (group commit with a memtable far smaller than
    /// one of them): every commit lands, and a reader never sees part of a large one.
    @Test(arguments: SQLStorageLayout.allCases) func largeCommitsAmongConcurrentSmallOnes(layout: SQLStorageLayout) throws {
        let fs = MemoryFileSystem()
        let engine = try StorageEngine.open(directory: "/mixed", options: DurableTxnTests.options(layout), fileSystem: fs)
        defer { try? engine.close() }
        let setup = try SQLSession(engine: engine)
        _ = try setup.execute(sql: "CREATE TABLE small (w int, i int, PRIMARY KEY (w, i)); CREATE TABLE big (b int, g int, v text, PRIMARY KEY (b, g))")
        let problems = Collected<String>()
        let box = UncheckedBox(engine)
        onThreads(5) { w in
            guard let s = try? SQLSession(engine: box.value) else { problems.add("no session"); return }
            do {
                if w == 4 {
                    for b in 0..<3 {
                        _ = try s.execute(sql: "INSERT INTO big SELECT \(b), g, repeat('z', 50) FROM generate_series(1, 4000) g")
                    }
                } else if w == 3 {
                    for _ in 0..<40 {
                        let n = try s.execute(sql: "SELECT count(*) FROM big").last?.rows.first?.first
                        if case let .int(c)? = n, c % 4000 != 0 { problems.add("saw \(c) rows of big") }
                    }
                } else {
                    for i in 0..<40 { _ = try s.execute(sql: "INSERT INTO small VALUES (\(w), \(i))") }
                }
            } catch {
                problems.add("\(w): \(error)")
            }
        }
        #expect(problems.all.isEmpty, "\(problems.all)")
        #expect(try DurableTxnTests.rows(setup, "SELECT count(*) FROM small") == [["120"]])
        #expect(try DurableTxnTests.rows(setup, "SELECT count(*), count(DISTINCT b) FROM big") == [["12000", "3"]])
    }

    /// A crash (unsynced data dropped) right after a large commit returned keeps all of it.
    @Test(arguments: SQLStorageLayout.allCases) func aLargeCommitSurvivesACrash(layout: SQLStorageLayout) throws {
        let fs = MemoryFileSystem()
        do {
            let engine = try StorageEngine.open(directory: "/crash", options: DurableTxnTests.options(layout), fileSystem: fs)
            let s = try SQLSession(engine: engine)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text)")
            _ = try s.execute(sql: "INSERT INTO t SELECT g, repeat('y', 80) FROM generate_series(1, 10000) g")
            engine.closeForCrashTest()
            fs.crash(mode: .dropUnsynced)
        }
        let engine = try StorageEngine.open(directory: "/crash", options: DurableTxnTests.options(layout), fileSystem: fs)
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine)
        #expect(try DurableTxnTests.rows(s, "SELECT count(*), min(id), max(id) FROM t") == [["10000", "1", "10000"]])
    }

    @Test func asOfSystemTimeReadsBackAcrossARestart() throws {
        let fs = MemoryFileSystem()
        var noted: [Date] = []
        do {
            let engine = try StorageEngine.open(directory: "/asof", options: DurableTxnTests.options(), fileSystem: fs)
            let s = try SQLSession(engine: engine)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'old'), (2, 'two')")
            noted.append(Date())
            _ = try s.execute(sql: "UPDATE t SET v = 'new' WHERE id = 1; DELETE FROM t WHERE id = 2")
            noted.append(Date())
            // Overwrite many times so that compaction has versions to drop.
            for i in 0..<30 {
                _ = try s.execute(sql: "INSERT INTO t SELECT g, 'filler \(i)' FROM generate_series(10, 400) g ON CONFLICT (id) DO UPDATE SET v = excluded.v")
            }
            try engine.compactAll()
            s.close()
            try engine.close()
        }
        for round in 0..<2 {
            let engine = try StorageEngine.open(directory: "/asof", options: DurableTxnTests.options(), fileSystem: fs)
            // A compaction after the reopen, before the SQL layer attaches, keeps the window's
            // versions (the engine re-takes its retained bound at open).
            try engine.compactAll()
            let s = try SQLSession(engine: engine)
            #expect(try DurableTxnTests.rows(s, "SELECT id, v FROM t AS OF SYSTEM TIME '\(TimeTravelTests.text(noted[0]))' ORDER BY id")
                    == [["1", "old"], ["2", "two"]], "round \(round)")
            #expect(try DurableTxnTests.rows(s, "SELECT id, v FROM t AS OF SYSTEM TIME '\(TimeTravelTests.text(noted[1]))' ORDER BY id")
                    == [["1", "new"]], "round \(round)")
            #expect(try DurableTxnTests.rows(s, "SELECT v FROM t WHERE id = 1") == [["new"]])
            // Older than anything recorded: still 72000.
            do {
                _ = try s.execute(sql: "SELECT * FROM t AS OF SYSTEM TIME '2020-01-01 00:00:00'")
                Issue.record("a time before the history must fail")
            } catch {
                #expect(error.sqlState.code == "72000")
            }
            _ = try s.execute(sql: "UPDATE t SET v = 'round \(round)' WHERE id = 10")
            s.close()
            if round == 0 {
                try engine.close()
            } else {
                engine.closeForCrashTest()
                fs.crash(mode: .dropUnsynced)
            }
        }
        // After a crash too, and the latest commit is read at a time after it.
        let engine = try StorageEngine.open(directory: "/asof", options: DurableTxnTests.options(), fileSystem: fs)
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine)
        #expect(try DurableTxnTests.rows(s, "SELECT v FROM t AS OF SYSTEM TIME '\(TimeTravelTests.text(noted[0]))' WHERE id = 1") == [["old"]])
        #expect(try DurableTxnTests.rows(s, "SELECT v FROM t AS OF SYSTEM TIME '-1us' WHERE id = 10") == [["round 1"]])
    }

    /// Points past the window are dropped, and the versions with them: after a reopen a time
    /// older than the window fails with 72000.
    @Test func asOfSystemTimeOlderThanTheWindowFailsAfterARestart() throws {
        let fs = MemoryFileSystem()
        let noted: Date
        do {
            let engine = try StorageEngine.open(directory: "/win", options: DurableTxnTests.options(), fileSystem: fs)
            _ = TxnCoordinator.shared(engine, gcWindow: .seconds(1))
            let s = try SQLSession(engine: engine)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'old')")
            noted = Date()
            _ = try s.execute(sql: "UPDATE t SET v = 'new' WHERE id = 1")
            usleep(1_300_000)
            _ = try s.execute(sql: "UPDATE t SET v = 'newer' WHERE id = 1")
            _ = try s.execute(sql: "UPDATE t SET v = 'newest' WHERE id = 1")
            s.close()
            try engine.close()
        }
        let engine = try StorageEngine.open(directory: "/win", options: DurableTxnTests.options(), fileSystem: fs)
        defer { try? engine.close() }
        _ = TxnCoordinator.shared(engine, gcWindow: .seconds(1))
        let s = try SQLSession(engine: engine)
        do {
            _ = try s.execute(sql: "SELECT v FROM t AS OF SYSTEM TIME '\(TimeTravelTests.text(noted))'")
            Issue.record("a time older than the window must fail")
        } catch {
            #expect(error.sqlState.code == "72000")
        }
        #expect(try DurableTxnTests.rows(s, "SELECT v FROM t AS OF SYSTEM TIME '-1us'") == [["newest"]])
    }

    /// Stored time points without a retained sequence in the manifest (its first logging
    /// failed, or the points came without one): compaction may have dropped their versions, so
    /// AS OF such a time fails with 72000 instead of reading an incomplete state.
    @Test func timePointsWithoutRetainedVersionsAreNotReadable() throws {
        let fs = MemoryFileSystem()
        let old = Date().addingTimeInterval(-10)
        do {
            let engine = try StorageEngine.open(directory: "/noret", options: DurableTxnTests.options(), fileSystem: fs)
            // A point a second before `old`, stored by a group write that started 5 s after it.
            let wall = Int64(old.timeIntervalSince1970 * 1e9)
            var value: [UInt8] = []
            value.appendFixed64(1)
            value.appendFixed64(UInt64(bitPattern: wall + 5_000_000_000))
            try engine.put(TxnCoordinator.historyKey(wall - 1_000_000_000), value)
            try engine.put(Array("filler".utf8), Array("x".utf8))
            #expect(engine.retainedSequence == nil)
            try engine.close()
        }
        let engine = try StorageEngine.open(directory: "/noret", options: DurableTxnTests.options(), fileSystem: fs)
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine)
        do {
            _ = try s.execute(sql: "SELECT 1 AS OF SYSTEM TIME '\(TimeTravelTests.text(old))'")
            Issue.record("a time whose versions were not retained must fail")
        } catch {
            #expect(error.sqlState.code == "72000")
        }
    }
}
