import ApusCore
import ApusKV
@testable import ApusSQL
import ApusStorage
import Foundation
import Testing

/// The MVCC storage layout: intents, records, resolution, recovery, heartbeats, the layout
/// choice, time travel and garbage collection. (The isolation tests of `HermitageTests`,
/// `LockingTests`, `SerializabilityTests` ... run on both layouts.)
@Suite struct MVCCLayoutTests {
    static func options() -> StorageOptions { DurableTxnTests.options(.mvcc) }

    static func rows(_ s: SQLSession, _ sql: String) throws -> [[String]] { try DurableTxnTests.rows(s, sql) }

    /// The intents (`key@0` entries outside the record span) and transaction records stored in `engine`.
    static func leftovers(_ engine: StorageEngine) throws -> (intents: Int, records: Int) {
        var intents = 0, records = 0
        let it = try engine.makeIterator()
        try it.seekToFirst()
        while it.isValid {
            if let (k, ts) = MVCCKey.decode(it.key), ts.isZero {
                if TxnRecord.isRecordKey(k) { records += 1 } else { intents += 1 }
            }
            try it.next()
        }
        return (intents, records)
    }

    /// The coordinator of `engine` with a zero GC window whose threshold moves with every
    /// commit, `leaseMinimumSeconds` behind (nil: the default minimum).
    static func collecting(_ engine: StorageEngine, leaseMinimumSeconds: Int64? = nil) -> TxnCoordinator {
        let c = TxnCoordinator.shared(engine, gcWindow: .zero)
        c.sweepIntervalNanos = 0
        if let leaseMinimumSeconds { c.leaseMinimumSeconds = leaseMinimumSeconds }
        return c
    }

    @Test func readsAndWritesGoThroughIntents() throws {
        let h = try TxnHarness(layout: .mvcc, sessions: 2,
                               setup: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        #expect(h.coordinator.mvcc != nil)
        #expect(try h.run(0, "SELECT * FROM t ORDER BY id") == [["1", "a"], ["2", "b"]])
        try h.run(0, "BEGIN")
        try h.run(0, "UPDATE t SET v = 'x' WHERE id = 1")
        try h.run(0, "INSERT INTO t VALUES (3, 'c')")
        // The writes are in the engine as intents (sent at the latest when the transaction reads
        // their span), visible to their own transaction only.
        #expect(try h.run(0, "SELECT v FROM t ORDER BY id") == [["x"], ["b"], ["c"]])
        #expect(try MVCCLayoutTests.leftovers(h.engine) == (2, 1))
        #expect(try h.run(1, "SELECT v FROM t ORDER BY id DESC") == [["b"], ["a"]])
        try h.run(0, "COMMIT")
        // Resolved: versions only, no intent and no record left.
        #expect(try MVCCLayoutTests.leftovers(h.engine) == (0, 0))
        #expect(try h.run(1, "SELECT v FROM t ORDER BY id DESC") == [["c"], ["b"], ["x"]])
        // A rollback removes the intents and the record.
        try h.run(1, "BEGIN; DELETE FROM t WHERE id = 2; INSERT INTO t VALUES (4, 'd')")
        try h.run(1, "ROLLBACK")
        #expect(try MVCCLayoutTests.leftovers(h.engine) == (0, 0))
        #expect(try h.run(0, "SELECT count(*) FROM t") == [["3"]])
    }

    /// A crash after the COMMITTED record was written and before the intents were resolved keeps
    /// the commit: readers see it through the record, and the next open resolves it.
    @Test func aCrashAfterTheCommitRecordKeepsTheCommit() throws {
        let fs = MemoryFileSystem()
        do {
            let engine = try StorageEngine.open(directory: "/after", options: MVCCLayoutTests.options(), fileSystem: fs)
            let s = try SQLSession(engine: engine)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'old'), (2, 'old')")
            let layer = try #require(TxnCoordinator.shared(engine).mvcc)
            layer.stopResolutionForTesting = .afterCommitPoint
            layer.onePhaseCommits = false  // the intent path (a one-phase commit leaves no record)
            _ = try s.execute(sql: "BEGIN; UPDATE t SET v = 'new' WHERE id = 1; DELETE FROM t WHERE id = 2; INSERT INTO t VALUES (3, 'new'); COMMIT")
            #expect(try MVCCLayoutTests.leftovers(engine) == (3, 1))
            // Another session reads the commit from the record.
            let r = try SQLSession(engine: engine)
            #expect(try MVCCLayoutTests.rows(r, "SELECT * FROM t ORDER BY id") == [["1", "new"], ["3", "new"]])
            engine.closeForCrashTest()
            fs.crash(mode: .dropUnsynced)
        }
        let engine = try StorageEngine.open(directory: "/after", options: MVCCLayoutTests.options(), fileSystem: fs)
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine)
        let layer = try #require(TxnCoordinator.shared(engine).mvcc)
        #expect(layer.recovered.committed == 1)
        #expect(layer.recovered.intents == 3)
        #expect(try MVCCLayoutTests.leftovers(engine) == (0, 0))
        #expect(try MVCCLayoutTests.rows(s, "SELECT * FROM t ORDER BY id") == [["1", "new"], ["3", "new"]])
    }

    /// A small transaction on one range commits in one phase: its group write carries the
    /// versions themselves, so no intent or record is ever written (a stop right after the
    /// commit point finds nothing left to resolve), and the commit survives a crash. A
    /// transaction whose intents went out before its commit (here: it read its own writes'
    /// span) commits through them.
    @Test func aSmallTransactionCommitsInOnePhase() throws {
        let fs = MemoryFileSystem()
        do {
            let engine = try StorageEngine.open(directory: "/one", options: MVCCLayoutTests.options(), fileSystem: fs)
            // One range, whatever `APUS_TEST_RANGES` asks for (several ranges take the intent path).
            let layer = try #require(TxnCoordinator.shared(engine, splitPoints: []).mvcc)
            let s = try SQLSession(engine: engine)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'old'), (2, 'old'), (4, 'old')")
            layer.stopResolutionForTesting = .afterCommitPoint
            // A key written twice, a deletion and an insertion: each key's last write is its version.
            _ = try s.execute(sql: """
                BEGIN; UPDATE t SET v = 'mid' WHERE id = 1; UPDATE t SET v = 'new' WHERE id = 1;
                DELETE FROM t WHERE id = 2; INSERT INTO t VALUES (3, 'new'); COMMIT
                """)
            #expect(try MVCCLayoutTests.leftovers(engine) == (0, 0))
            let r = try SQLSession(engine: engine)
            #expect(try MVCCLayoutTests.rows(r, "SELECT * FROM t ORDER BY id") == [["1", "new"], ["3", "new"], ["4", "old"]])
            _ = try s.execute(sql: "BEGIN; UPDATE t SET v = 'newer' WHERE id = 4")
            #expect(try MVCCLayoutTests.rows(s, "SELECT count(*) FROM t") == [["3"]])  // sends the intent
            _ = try s.execute(sql: "COMMIT")
            #expect(try MVCCLayoutTests.leftovers(engine) == (1, 1))
            engine.closeForCrashTest()
            fs.crash(mode: .dropUnsynced)
        }
        let engine = try StorageEngine.open(directory: "/one", options: MVCCLayoutTests.options(), fileSystem: fs)
        defer { try? engine.close() }
        let layer = try #require(TxnCoordinator.shared(engine, splitPoints: []).mvcc)
        let s = try SQLSession(engine: engine)
        #expect(layer.recovered.committed == 1 && layer.recovered.intents == 1)
        #expect(try MVCCLayoutTests.rows(s, "SELECT * FROM t ORDER BY id") == [["1", "new"], ["3", "new"], ["4", "newer"]])
    }

    /// A crash before the COMMITTED record loses the transaction: the next open aborts its
    /// PENDING record and removes its intents (made durable by a later commit's sync).
    @Test func aCrashBeforeTheCommitRecordLosesTheTransaction() throws {
        let fs = MemoryFileSystem()
        do {
            let engine = try StorageEngine.open(directory: "/before", options: MVCCLayoutTests.options(), fileSystem: fs)
            let s = try SQLSession(engine: engine)
            let other = try SQLSession(engine: engine)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE u (id int); INSERT INTO t VALUES (1, 'old')")
            _ = try s.execute(sql: "BEGIN; UPDATE t SET v = 'lost' WHERE id = 1; INSERT INTO t SELECT g, 'lost' FROM generate_series(2, 500) g")
            #expect(try MVCCLayoutTests.rows(s, "SELECT count(*) FROM t") == [["500"]])
            _ = try other.execute(sql: "INSERT INTO u VALUES (1)")  // syncs the WAL, intents included
            #expect(try MVCCLayoutTests.leftovers(engine).intents == 500)
            engine.closeForCrashTest()
            fs.crash(mode: .dropUnsynced)
        }
        let engine = try StorageEngine.open(directory: "/before", options: MVCCLayoutTests.options(), fileSystem: fs)
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine)
        let layer = try #require(TxnCoordinator.shared(engine).mvcc)
        #expect(layer.recovered.aborted == 1)
        // The other commit took one phase: its versions went with its synced commit point.
        #expect(layer.recovered.committed == 0)
        #expect(layer.recovered.intents == 500)
        #expect(try MVCCLayoutTests.leftovers(engine) == (0, 0))
        #expect(try MVCCLayoutTests.rows(s, "SELECT * FROM t") == [["1", "old"]])
        #expect(try MVCCLayoutTests.rows(s, "SELECT count(*) FROM u") == [["1"]])
    }

    /// A transaction 30 times the memtable commits while holding a bounded amount of its values
    /// in memory (the intents are in the engine), and survives a crash once committed.
    @Test func aTransactionMuchLargerThanTheMemtableHoldsNoValues() throws {
        let fs = MemoryFileSystem()
        do {
            let engine = try StorageEngine.open(directory: "/big", options: MVCCLayoutTests.options(), fileSystem: fs)
            let s = try SQLSession(engine: engine)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text)")
            _ = try s.execute(sql: "BEGIN; INSERT INTO t SELECT g, repeat('x', 100) || g FROM generate_series(1, 20000) g")
            let tx = try #require(s.tx?.mvcc)
            #expect(tx.heldValueBytes <= MVCCTransaction.pendingBytesMax + MVCCTransaction.cacheBytesMax)
            #expect(try MVCCLayoutTests.rows(s, "SELECT count(*) FROM t") == [["20000"]])
            #expect(try MVCCLayoutTests.leftovers(engine).intents == 20000)
            _ = try s.execute(sql: "UPDATE t SET v = 'u' WHERE id % 2 = 0")
            #expect(tx.heldValueBytes <= MVCCTransaction.pendingBytesMax + MVCCTransaction.cacheBytesMax)
            _ = try s.execute(sql: "COMMIT")
            #expect(try MVCCLayoutTests.rows(s, "SELECT count(*), count(*) FILTER (WHERE v = 'u') FROM t") == [["20000", "10000"]])
            #expect(try MVCCLayoutTests.leftovers(engine) == (0, 0))
            engine.closeForCrashTest()
            fs.crash(mode: .dropUnsynced)
        }
        let engine = try StorageEngine.open(directory: "/big", options: MVCCLayoutTests.options(), fileSystem: fs)
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine)
        #expect(try MVCCLayoutTests.rows(s, "SELECT count(*), max(id) FROM t") == [["20000", "20000"]])
    }

    /// A transaction abandoned with a PENDING record: while its heartbeat is fresh its intents are
    /// skipped by readers and refused to writers; once it expired, whoever meets an intent aborts
    /// the transaction and removes the intent.
    @Test func anAbandonedTransactionIsCleanedUpOnceItsHeartbeatExpires() throws {
        let h = try TxnHarness(layout: .mvcc, sessions: 3,
                               setup: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        let layer = try #require(h.coordinator.mvcc)
        try h.run(0, "BEGIN; UPDATE t SET v = 'gone' WHERE id = 1; UPDATE t SET v = 'gone' WHERE id = 2; INSERT INTO t VALUES (3, 'gone')")
        let abandoned = try #require(h.sessions[0].tx)
        abandoned.abandonForTesting()
        h.sessions[0].tx = nil
        h.sessions[0].explicit = false
        #expect(try MVCCLayoutTests.leftovers(h.engine) == (3, 1))
        // Fresh heartbeat: invisible to readers, and a writer may not replace the intent.
        #expect(try h.run(1, "SELECT * FROM t ORDER BY id") == [["1", "a"], ["2", "b"]])
        #expect(h.code(2, "UPDATE t SET v = 'w' WHERE id = 1") == "40001")
        layer.heartbeatTimeoutNanos = 20_000_000
        usleep(60_000)
        // Expired: the reader aborts it on the way (its record becomes ABORTED, and its intents,
        // found from the record's spans, go).
        #expect(try h.run(1, "SELECT * FROM t ORDER BY id") == [["1", "a"], ["2", "b"]])
        #expect(layer.abandonedAborted == 1)
        let recordKey = try #require(abandoned.mvcc?.recordKey)
        let record = try layer.router.range(for: recordKey).record(at: recordKey)
        #expect(record?.status == .aborted)
        #expect(try MVCCLayoutTests.leftovers(h.engine) == (0, 1))
        // A writer meeting a leftover intent of the aborted transaction replaces it.
        try h.run(2, "INSERT INTO t VALUES (3, 'w') ON CONFLICT (id) DO UPDATE SET v = 'w'")
        try h.run(2, "UPDATE t SET v = 'w2' WHERE id = 1")
        #expect(try h.run(1, "SELECT * FROM t ORDER BY id") == [["1", "w2"], ["2", "b"], ["3", "w"]])
    }

    /// A table rewrite (ALTER TABLE under the exclusive schema lock) writes each row without
    /// looking for a foreign intent on it: a running writer holds the schema lock shared, so the
    /// rewrite waits for it to end and then rewrites its committed rows; an abandoned writer's
    /// intents are still looked for, and refused while its heartbeat is fresh.
    @Test func aTableRewriteWaitsForWritersAndStillMeetsAbandonedIntents() throws {
        let h = try TxnHarness(layout: .mvcc, sessions: 3,
                               setup: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        let layer = try #require(h.coordinator.mvcc)
        try h.run(0, "BEGIN; UPDATE t SET v = 'a2' WHERE id = 1")
        try h.run(1, "BEGIN ISOLATION LEVEL READ COMMITTED")
        let rewrite = h.start(1, "ALTER TABLE t ALTER COLUMN v TYPE varchar(10)")
        #expect(!rewrite.isDone, "the rewrite waits for the running writer")
        try h.run(0, "COMMIT")
        #expect(rewrite.code == nil)
        try h.run(1, "COMMIT")
        #expect(try h.run(2, "SELECT id, v FROM t ORDER BY id") == [["1", "a2"], ["2", "b"]])
        // An abandoned transaction's intent: the rewrite meets it (fresh: 40001), then, expired,
        // aborts it and rewrites the committed row.
        try h.run(0, "BEGIN; UPDATE t SET v = 'gone' WHERE id = 2")
        let abandoned = try #require(h.sessions[0].tx)
        abandoned.abandonForTesting()
        h.sessions[0].tx = nil
        h.sessions[0].explicit = false
        #expect(h.code(1, "ALTER TABLE t ALTER COLUMN v TYPE varchar(20)") == "40001")
        layer.heartbeatTimeoutNanos = 20_000_000
        usleep(60_000)
        try h.run(1, "ALTER TABLE t ALTER COLUMN v TYPE varchar(20)")
        #expect(try h.run(2, "SELECT id, v FROM t ORDER BY id") == [["1", "a2"], ["2", "b"]])
        #expect(try MVCCLayoutTests.leftovers(h.engine).0 == 0, "no intent is left")
    }

    /// Group writes store the newest commit timestamp: after a restart the clock resumes above
    /// it, even when the wall clock is behind (here: a stored timestamp an hour ahead).
    @Test func theClockResumesAboveStoredTimestamps() throws {
        let fs = MemoryFileSystem()
        let ahead = Timestamp(wallNanos: UInt64(SystemClock.wallNanos()) + 3_600_000_000_000, logical: 5)
        do {
            let engine = try StorageEngine.open(directory: "/clock", options: MVCCLayoutTests.options(), fileSystem: fs)
            let s = try SQLSession(engine: engine)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY)")
            var b = WriteBatch()
            try #require(TxnCoordinator.shared(engine).mvcc).noteClock(&b, ahead)
            try engine.write(b, sync: true)
            try engine.close()
        }
        let engine = try StorageEngine.open(directory: "/clock", options: MVCCLayoutTests.options(), fileSystem: fs)
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine)
        _ = try s.execute(sql: "INSERT INTO t VALUES (1)")
        #expect(try #require(TxnCoordinator.shared(engine).mvcc).now() > ahead)
        #expect(TxnCoordinator.shared(engine).readTimestamp() > ahead)
        #expect(try MVCCLayoutTests.rows(s, "SELECT id FROM t") == [["1"]])
    }

    /// The layout is recorded in the data directory: a reopen without a layout takes it, a new
    /// directory without one gets the default, an explicit other layout is refused.
    @Test func theLayoutIsRecordedAndAMismatchIsRefused() throws {
        let fs = MemoryFileSystem()
        func open(_ dir: String, _ layout: SQLStorageLayout?) throws -> StorageEngine {
            try SQLStorageLayout.openEngine(layout: layout, options: StorageOptions()) {
                try StorageEngine.open(directory: dir, options: $0, fileSystem: fs)
            }
        }
        for other in SQLStorageLayout.allCases {
            let chosen = "/\(other.rawValue)", defaulted = "/\(other.rawValue)-default"
            do {
                let e = try open(chosen, other)
                let s = try SQLSession(engine: e)
                _ = try s.execute(sql: "CREATE TABLE t (id int); INSERT INTO t VALUES (7)")
                try e.close()
                let q = try open(defaulted, nil)
                #expect(SQLStorageLayout(engine: q) == .default)
                try q.close()
            }
            let e = try open(chosen, nil)
            #expect(SQLStorageLayout(engine: e) == other)
            #expect(try MVCCLayoutTests.rows(try SQLSession(engine: e), "SELECT id FROM t") == [["7"]])
            try e.close()
            func opposite(_ l: SQLStorageLayout) -> SQLStorageLayout { l == .mvcc ? .sequence : .mvcc }
            let mismatch: [(String, SQLStorageLayout)] = [(chosen, opposite(other)), (defaulted, opposite(.default))]
            for (dir, layout) in mismatch {
                do {
                    _ = try open(dir, layout)
                    Issue.record("opening \(dir) with the \(layout) layout must fail")
                } catch let e as SQLError {
                    #expect(e.sqlState.code == "22023")
                    #expect(e.message.contains("storage layout"))
                }
            }
        }
    }

    /// AS OF SYSTEM TIME reads at an HLC timestamp; past the window 72000. (Vector indexes on
    /// this layout: `VectorIndexLayoutTests`.)
    @Test func asOfSystemTime() throws {
        let h = try TxnHarness(layout: .mvcc, sessions: 1, setup: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'one')")
        usleep(20_000)
        let then = Date()
        usleep(20_000)
        try h.run(0, "UPDATE t SET v = 'uno' WHERE id = 1; INSERT INTO t VALUES (2, 'two')")
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let stamp = f.string(from: then).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "+00")
        #expect(try h.run(0, "SELECT * FROM t AS OF SYSTEM TIME '\(stamp)' ORDER BY id") == [["1", "one"]])
        #expect(try h.run(0, "SELECT * FROM t ORDER BY id") == [["1", "uno"], ["2", "two"]])
        #expect(h.code(0, "SELECT * FROM t AS OF SYSTEM TIME '-5h'") == "72000")
    }

    /// The stored entries (versions, intents, deletions) of user keys in `[lower, upper)`.
    static func entries(_ engine: StorageEngine, _ lower: [UInt8], _ upper: [UInt8]) throws -> Int {
        let it = try engine.makeIterator(IteratorOptions(lowerBound: MVCCKey.encode(lower, .zero),
                                                         upperBound: MVCCKey.encode(upper, .zero)))
        try it.seek(MVCCKey.encode(lower, .zero))
        var n = 0
        while it.isValid {
            n += 1
            try it.next()
        }
        return n
    }

    /// DROP TABLE writes one key naming the table's span instead of a deletion per row: the
    /// rows stay, readable by a transaction that began before the drop, until the GC window
    /// has passed the drop; then they go by range, with the key, across a reopen too. Another
    /// table's rows stay.
    @Test(arguments: [false, true]) func droppedTablesRowsGoOnceTheWindowPassesTheDrop(reopen: Bool) throws {
        let fs = MemoryFileSystem()
        var engine = try StorageEngine.open(directory: "/drop", options: MVCCLayoutTests.options(), fileSystem: fs)
        // The threshold moves with every commit, an hour behind (the lease minimum).
        var c = MVCCLayoutTests.collecting(engine, leaseMinimumSeconds: 3600)
        var s = try SQLSession(engine: engine)
        _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE INDEX t_v ON t (v); CREATE TABLE keep (id int)")
        _ = try s.execute(sql: "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 2000) g; INSERT INTO keep VALUES (1)")
        let table = try #require(s.catalog.tables["t"])
        let id = table.id
        let (lower, upper) = DDL.tableSpan(table)
        let stored = try MVCCLayoutTests.entries(engine, lower, upper)
        #expect(stored >= 4000)  // a row and an index entry each
        let before = try SQLSession(engine: engine)
        _ = try before.execute(sql: "BEGIN ISOLATION LEVEL REPEATABLE READ")
        #expect(try MVCCLayoutTests.rows(before, "SELECT count(*) FROM t") == [["2000"]])
        _ = try s.execute(sql: "DROP TABLE t")
        #expect(throws: SQLError.self) { try s.execute(sql: "SELECT count(*) FROM t") }
        // Nothing written under the table's span, and the rows are still there for `before`.
        #expect(try MVCCLayoutTests.entries(engine, lower, upper) == stored)
        #expect(try MVCCLayoutTests.rows(before, "SELECT count(*), max(v) FROM t WHERE id > 1990") == [["10", "row 2000"]])
        _ = try before.execute(sql: "COMMIT")
        #expect(try MVCCLayoutTests.entries(engine, MVCCLayer.droppedPrefix, KeyEncoding.prefixEnd(MVCCLayer.droppedPrefix)) == 1)
        if reopen {
            try engine.close()
            engine = try StorageEngine.open(directory: "/drop", options: MVCCLayoutTests.options(), fileSystem: fs)
            c = MVCCLayoutTests.collecting(engine)
            s = try SQLSession(engine: engine)
            #expect(try MVCCLayoutTests.entries(engine, lower, upper) == stored)
        }
        // The window passes the drop: the next commit moves the threshold past it.
        c.leaseMinimumSeconds = 0
        _ = try s.execute(sql: "INSERT INTO keep VALUES (2)")
        #expect(try MVCCLayoutTests.entries(engine, lower, upper) == 0)
        #expect(try MVCCLayoutTests.entries(engine, MVCCLayer.droppedPrefix, KeyEncoding.prefixEnd(MVCCLayer.droppedPrefix)) == 0)
        #expect(try MVCCLayoutTests.rows(s, "SELECT count(*) FROM keep") == [["2"]])
        // A new table gets a new id, outside the dropped span.
        _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (7)")
        #expect(try #require(s.catalog.tables["t"]?.id) > id)
        #expect(try MVCCLayoutTests.rows(s, "SELECT id FROM t") == [["7"]])
        try engine.close()
    }

    /// The range deletions of a collected drop are unsynced: a crash that loses them brings
    /// back the rows and the dropped-table key together (the key's deletion follows the rows' in
    /// the log), and the reopened engine collects them again.
    @Test func aCrashThatLosesACollectionCollectsAgain() throws {
        let fs = MemoryFileSystem()
        var lower: [UInt8] = [], upper: [UInt8] = []
        let dropped = (MVCCLayer.droppedPrefix, KeyEncoding.prefixEnd(MVCCLayer.droppedPrefix))
        do {
            let engine = try StorageEngine.open(directory: "/dropcrash", options: MVCCLayoutTests.options(), fileSystem: fs)
            let c = MVCCLayoutTests.collecting(engine, leaseMinimumSeconds: 3600)
            let s = try SQLSession(engine: engine)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE keep (id int)")
            _ = try s.execute(sql: "INSERT INTO t SELECT generate_series(1, 500)")
            (lower, upper) = DDL.tableSpan(try #require(s.catalog.tables["t"]))
            _ = try s.execute(sql: "DROP TABLE t")
            c.leaseMinimumSeconds = 0
            _ = try s.execute(sql: "INSERT INTO keep VALUES (1)")  // synced; the collection after it is not
            #expect(try MVCCLayoutTests.entries(engine, lower, upper) == 0)
            #expect(try MVCCLayoutTests.entries(engine, dropped.0, dropped.1) == 0)
            engine.closeForCrashTest()
            fs.crash(mode: .dropUnsynced)
        }
        let engine = try StorageEngine.open(directory: "/dropcrash", options: MVCCLayoutTests.options(), fileSystem: fs)
        defer { try? engine.close() }
        #expect(try MVCCLayoutTests.entries(engine, lower, upper) == 500)
        #expect(try MVCCLayoutTests.entries(engine, dropped.0, dropped.1) == 1)
        _ = MVCCLayoutTests.collecting(engine, leaseMinimumSeconds: 0)
        let s = try SQLSession(engine: engine)
        _ = try s.execute(sql: "INSERT INTO keep VALUES (2)")
        #expect(try MVCCLayoutTests.entries(engine, lower, upper) == 0)
        #expect(try MVCCLayoutTests.entries(engine, dropped.0, dropped.1) == 0)
        #expect(try MVCCLayoutTests.rows(s, "SELECT count(*) FROM keep") == [["2"]])
    }

    /// A rolled-back DROP TABLE leaves the table and no dropped-table key.
    @Test func aRolledBackDropKeepsTheTable() throws {
        let engine = try StorageEngine.open(directory: "/drop", options: MVCCLayoutTests.options(), fileSystem: MemoryFileSystem())
        defer { try? engine.close() }
        _ = MVCCLayoutTests.collecting(engine, leaseMinimumSeconds: 0)
        let s = try SQLSession(engine: engine)
        _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100)")
        _ = try s.execute(sql: "BEGIN; DROP TABLE t; ROLLBACK")
        _ = try s.execute(sql: "INSERT INTO t VALUES (101)")
        #expect(try MVCCLayoutTests.rows(s, "SELECT count(*) FROM t") == [["101"]])
        #expect(try MVCCLayoutTests.entries(engine, MVCCLayer.droppedPrefix, KeyEncoding.prefixEnd(MVCCLayer.droppedPrefix)) == 0)
    }

    /// Versions older than the window are collected by compaction (the engine's MVCC GC
    /// threshold), counted in `gcBytesReclaimed`; the newest version stays.
    @Test func versionsPastTheWindowAreReclaimed() throws {
        let engine = try StorageEngine.open(directory: "/gc", options: MVCCLayoutTests.options(), fileSystem: MemoryFileSystem())
        defer { try? engine.close() }
        _ = MVCCLayoutTests.collecting(engine, leaseMinimumSeconds: 0)
        let s = try SQLSession(engine: engine)
        _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text)")
        for i in 0..<20 { _ = try s.execute(sql: "INSERT INTO t VALUES (1, 'value \(i)') ON CONFLICT (id) DO UPDATE SET v = excluded.v") }
        let before = engine.metrics().gcBytesReclaimed
        try engine.compactAll()
        #expect(engine.metrics().gcBytesReclaimed > before)
        #expect(try MVCCLayoutTests.rows(s, "SELECT v FROM t") == [["value 19"]])
        #expect(throws: SQLError.self) { try s.execute(sql: "SELECT v FROM t AS OF SYSTEM TIME '-1s'") }
    }

    /// A transaction larger than the memtable: its intents are flushed before they are
    /// resolved, and resolution deletes each intent slot in newer tables. Once the engine is
    /// idle, compaction has taken both away (deletion-dense tables, `DeletionCompactionTests`):
    /// the tables hold little more than a full compaction leaves. (A level-0 table may stay:
    /// over 40 ranges the last flush holds versions and records, and is not dense.) (After `pgbench -i` the
    /// directory held 595 MB where 357 MB remained after a full compaction.)
    @Test func aLargeTransactionLeavesNoIntentGarbageOnceIdle() throws {
        var o = MVCCLayoutTests.options()
        o.memtableBytesMax = 512 << 10
        o.tableBytesTarget = 256 << 10
        o.level1BytesMax = 16 << 20  // no level goes over its target
        o.deletionCompactionMinimum = 100
        let engine = try StorageEngine.open(directory: "/big", options: o, fileSystem: MemoryFileSystem())
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine)
        _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text)")
        let pad = String(repeating: "x", count: 200)
        _ = try s.execute(sql: "BEGIN")
        for chunk in 0..<20 {
            let values = (0..<500).map { "(\(chunk * 500 + $0), '\(pad)')" }.joined(separator: ", ")
            _ = try s.execute(sql: "INSERT INTO t VALUES \(values)")
        }
        _ = try s.execute(sql: "COMMIT")
        #expect(try MVCCLayoutTests.rows(s, "SELECT count(*), min(id), max(id) FROM t") == [["10000", "0", "9999"]])
        #expect(try MVCCLayoutTests.leftovers(engine) == (0, 0))
        try engine.flush()
        try engine.waitUntilBackgroundIdle()
        let idle = engine.metrics()
        try engine.compactAll()
        let compacted = engine.metrics().levelBytes.reduce(0, +)
        let idleBytes = idle.levelBytes.reduce(0, +)
        #expect(Double(idleBytes) <= 1.25 * Double(compacted), "\(idleBytes) bytes when idle, \(compacted) compacted")
        #expect(try MVCCLayoutTests.rows(s, "SELECT count(*) FROM t WHERE v = '\(pad)'") == [["10000"]])
    }
}

