import ApusCore
@testable import ApusSQL
import ApusStorage
import Foundation
import Testing

/// Transactions across the storage engine's limits and restarts: a commit larger than the
/// memtable.
@Suite struct DurableTxnTests {
    static func options() -> StorageOptions {
        var o = StorageOptions()
        o.memtableBytesMax = 64 << 10
        o.tableBytesTarget = 64 << 10
        o.level1BytesMax = 256 << 10
        o.compactionBytesPerSecondMax = nil
        return o
    }

    static func rows(_ s: SQLSession, _ sql: String) throws -> [[String]] {
        (try s.execute(sql: sql).last?.rows ?? []).map { $0.map { $0.isNull ? "NULL" : $0.description } }
    }

    @Test func aTransactionLargerThanTheMemtableCommits() throws {
        let fs = MemoryFileSystem()
        do {
            let engine = try StorageEngine.open(directory: "/big", options: DurableTxnTests.options(), fileSystem: fs)
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
        let engine = try StorageEngine.open(directory: "/big", options: DurableTxnTests.options(), fileSystem: fs)
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine)
        #expect(try DurableTxnTests.rows(s, "SELECT count(*), count(*) FILTER (WHERE v LIKE 'u%') FROM t") == [["19000", "9500"]])
    }

    /// A crash (unsynced data dropped) right after a large commit returned keeps all of it.
    @Test func aLargeCommitSurvivesACrash() throws {
        let fs = MemoryFileSystem()
        do {
            let engine = try StorageEngine.open(directory: "/crash", options: DurableTxnTests.options(), fileSystem: fs)
            let s = try SQLSession(engine: engine)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text)")
            _ = try s.execute(sql: "INSERT INTO t SELECT g, repeat('y', 80) FROM generate_series(1, 10000) g")
            engine.closeForCrashTest()
            fs.crash(mode: .dropUnsynced)
        }
        let engine = try StorageEngine.open(directory: "/crash", options: DurableTxnTests.options(), fileSystem: fs)
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine)
        #expect(try DurableTxnTests.rows(s, "SELECT count(*), min(id), max(id) FROM t") == [["10000", "1", "10000"]])
    }
}
