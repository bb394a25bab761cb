import ApusCore
@testable import ApusSQL
import ApusStorage
import Foundation
import Testing

/// SELECT ... AS OF SYSTEM TIME and the transaction settings.
@Suite struct TimeTravelTests {
    /// `d` as a UTC timestamp with microseconds, rounded up (DateFormatter stops at milliseconds).
    static func text(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        let us = Int((d.timeIntervalSince1970 * 1_000_000).rounded(.up))
        let whole = Date(timeIntervalSince1970: Double(us / 1_000_000))
        return f.string(from: whole) + String(format: ".%06d", us % 1_000_000)
    }

    @Test func readsThePastAcrossUpdatesDropsAndCompaction() throws {
        let h = try TxnHarness(sessions: 1, setup: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'one'), (2, 'two')")
        let before = Date()
        try h.run(0, "UPDATE t SET v = 'uno' WHERE id = 1; DELETE FROM t WHERE id = 2; INSERT INTO t VALUES (3, 'three')")
        let middle = Date()
        try h.run(0, "DROP TABLE t")
        // Compaction would drop the overwritten versions; the GC window keeps them.
        try h.engine.flush()
        try h.engine.compactAll()
        #expect(try h.run(0, "SELECT id, v FROM t AS OF SYSTEM TIME '\(TimeTravelTests.text(before))' ORDER BY id")
                == [["1", "one"], ["2", "two"]])
        #expect(try h.run(0, "SELECT id, v FROM t ORDER BY id AS OF SYSTEM TIME '\(TimeTravelTests.text(middle))'")
                == [["1", "uno"], ["3", "three"]])
        #expect(h.code(0, "SELECT * FROM t") == "42P01")
        // Relative times: now is after the DROP.
        #expect(h.code(0, "SELECT * FROM t AS OF SYSTEM TIME '-1us'") == "42P01")
        #expect(h.code(0, "SELECT * FROM t AS OF SYSTEM TIME INTERVAL '-0.000001 seconds'") == "42P01")
    }

    @Test func refusesTimesOutsideTheWindowAndInsideBlocks() throws {
        let h = try TxnHarness(sessions: 1, setup: "CREATE TABLE t (id int PRIMARY KEY)")
        // Before the database was opened: no history to read.
        #expect(h.code(0, "SELECT * FROM t AS OF SYSTEM TIME '-1h'") == "72000")
        #expect(h.code(0, "SELECT * FROM t AS OF SYSTEM TIME '2000-01-01 00:00:00'") == "72000")
        #expect(h.code(0, "SELECT * FROM t AS OF SYSTEM TIME '+10s'") == "22007")
        #expect(h.code(0, "SELECT * FROM t AS OF SYSTEM TIME INTERVAL '1 hour'") == "22023")
        #expect(h.code(0, "SELECT * FROM t AS OF SYSTEM TIME 'yesterday-ish'") == "22007")
        #expect(h.code(0, "SELECT * FROM t AS OF SYSTEM TIME NULL") == "22023")
        try h.run(0, "BEGIN")
        #expect(h.code(0, "SELECT * FROM t AS OF SYSTEM TIME '-1us'") == "25001")
        try h.run(0, "ROLLBACK")
        #expect(h.code(0, "SELECT * FROM (SELECT * FROM t AS OF SYSTEM TIME '-1us') s") == "0A000")
        #expect(try h.run(0, "SELECT count(*) FROM t AS OF SYSTEM TIME '-1us'") == [["0"]])
    }

    @Test func isolationSettings() throws {
        let h = try TxnHarness(sessions: 1)
        #expect(try h.run(0, "SHOW transaction_isolation") == [["serializable"]])
        try h.run(0, "SET default_transaction_isolation = 'read committed'")
        #expect(try h.run(0, "SHOW transaction_isolation") == [["read committed"]])
        try h.run(0, "BEGIN ISOLATION LEVEL REPEATABLE READ")
        #expect(try h.run(0, "SHOW transaction_isolation") == [["repeatable read"]])
        try h.run(0, "COMMIT")
        try h.run(0, "BEGIN")
        try h.run(0, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        #expect(try h.run(0, "SHOW transaction_isolation") == [["serializable"]])
        #expect(h.code(0, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED") == "25001")
        try h.run(0, "ROLLBACK")
        // READ ONLY refuses writes with 25006 and allows reads.
        try h.run(0, "CREATE TABLE t (id int PRIMARY KEY)")
        try h.run(0, "BEGIN READ ONLY")
        #expect(try h.run(0, "SHOW transaction_read_only") == [["on"]])
        #expect(try h.run(0, "SELECT count(*) FROM t") == [["0"]])
        #expect(h.code(0, "INSERT INTO t VALUES (1)") == "25006")
        try h.run(0, "ROLLBACK")
        try h.run(0, "SET default_transaction_read_only = on")
        #expect(h.code(0, "INSERT INTO t VALUES (1)") == "25006")
        try h.run(0, "RESET default_transaction_read_only")
        #expect(h.code(0, "INSERT INTO t VALUES (1)") == nil)
    }

    /// nextval and hidden row IDs are outside transactions: concurrent inserts never conflict
    /// on them and never get the same value; a rolled-back value is not handed out again.
    @Test func sequencesAreSharedWithoutConflicts() throws {
        let h = try TxnHarness(sessions: 2, setup: "CREATE TABLE s (id serial PRIMARY KEY, x int); CREATE TABLE nopk (x int)")
        try h.run(0, "BEGIN")
        try h.run(1, "BEGIN")
        try h.run(0, "INSERT INTO s (x) VALUES (0); INSERT INTO nopk VALUES (0)")
        try h.run(1, "INSERT INTO s (x) VALUES (1); INSERT INTO nopk VALUES (1)")
        try h.run(0, "COMMIT")
        try h.run(1, "COMMIT")
        #expect(try h.run(0, "SELECT id, x FROM s ORDER BY id") == [["1", "0"], ["2", "1"]])
        #expect(try h.run(0, "SELECT count(*) FROM nopk") == [["2"]])
        try h.run(0, "BEGIN; INSERT INTO s (x) VALUES (2); ROLLBACK")
        try h.run(0, "INSERT INTO s (x) VALUES (3)")
        #expect(try h.run(0, "SELECT id FROM s WHERE x = 3") == [["4"]])
    }
}

@Suite struct GarbageCollectionTests {
    /// With a zero window the floor follows the newest commit: compaction reclaims the
    /// overwritten versions (counted in the engine's metrics) and the past is no longer readable.
    @Test func versionsPastTheWindowAreReclaimed() throws {
        let engine = try StorageEngine.open(directory: "/gc", options: StorageOptions(), fileSystem: MemoryFileSystem())
        defer { try? engine.close() }
        _ = TxnCoordinator.shared(engine, gcWindow: .zero)
        let s = try SQLSession(engine: engine)
        _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text)")
        for i in 0..<20 { _ = try s.execute(sql: "INSERT INTO t VALUES (1, 'value \(i)') ON CONFLICT (id) DO UPDATE SET v = excluded.v") }
        let metric = "SELECT value FROM apus_storage_metrics WHERE name = 'gc_bytes_reclaimed'"
        let before = engine.metrics().gcBytesReclaimed
        #expect(try s.execute(sql: metric).last?.rows == [[.int(Int64(before))]])
        try engine.compactAll()
        #expect(engine.metrics().gcBytesReclaimed > before)
        // The metric as SQL sees it (psql: SELECT * FROM apus_storage_metrics).
        #expect(try s.execute(sql: metric).last?.rows == [[.int(Int64(engine.metrics().gcBytesReclaimed))]])
        #expect(try s.execute(sql: "SELECT v FROM t").last?.rows == [[.text("value 19")]])
        do {
            _ = try s.execute(sql: "SELECT v FROM t AS OF SYSTEM TIME '-1s'")
            Issue.record("a time before the window must fail")
        } catch {
            #expect(error.sqlState.code == "72000")
        }
    }
}

@Suite struct SnapshotLeaseTests {
    /// A transaction older than the window loses its snapshot: its next read fails with 72000
    /// and it no longer holds back compaction; younger ones are untouched.
    /// On both layouts; on the MVCC layout, whose reads take engine snapshots of their own, the
    /// lease holds none (the open transaction registers no snapshot with the engine).
    @Test(arguments: SQLStorageLayout.allCases)
    func transactionsOlderThanTheWindowFailInsteadOfHoldingBackGC(layout: SQLStorageLayout) throws {
        let engine = try StorageEngine.open(directory: "/lease", options: DurableTxnTests.options(layout), fileSystem: MemoryFileSystem())
        defer { try? engine.close() }
        let c = TxnCoordinator.shared(engine, gcWindow: .zero)
        c.leaseMinimumSeconds = 0
        c.sweepIntervalNanos = 0
        let old = try SQLSession(engine: engine)
        let writer = try SQLSession(engine: engine)
        _ = try writer.execute(sql: "CREATE TABLE t (id int PRIMARY KEY)")
        // Beside the snapshots the coordinator holds for time travel.
        let held = engine.metrics().liveSnapshots
        _ = try old.execute(sql: "BEGIN; SELECT count(*) FROM t")
        #expect(engine.metrics().liveSnapshots == held + (layout == .mvcc ? 0 : 1), "\(layout)")
        _ = try writer.execute(sql: "INSERT INTO t VALUES (1)")  // a commit sweeps
        do {
            _ = try old.execute(sql: "SELECT count(*) FROM t")
            Issue.record("the old transaction must lose its snapshot")
        } catch {
            #expect(error.sqlState.code == "72000")
        }
        _ = try old.execute(sql: "ROLLBACK")
        #expect(try old.execute(sql: "SELECT count(*) FROM t").last?.rows == [[.int(1)]])
        #expect(c.statistics.activeTransactions == 0)
    }
}
