import ApusCore
import ApusKV
@testable import ApusSQL
import ApusStorage
import Foundation
import Testing

/// The MVCC layout's transaction records and commit protocol: records at their anchor with the
/// spans of their intents, recovery from those spans, data directories of the first record
/// format, the key space split into several ranges, parallel commits (STAGING) and a commit
/// whose write failed.
@Suite struct MVCCCommitTests {
    static func rows(_ s: SQLSession, _ sql: String) throws -> [[String]] { try DurableTxnTests.rows(s, sql) }

    /// Ranges split inside table 100's primary index (ids 2, 4 and 10) and more.
    static let splits = MVCCLayer.testSplitPoints(["APUS_TEST_RANGES": "12"])

    /// Opens `dir` on `fs` with the key space split at `splits`.
    static func open(_ dir: String, _ fs: MemoryFileSystem) throws -> (StorageEngine, MVCCLayer) {
        let engine = try StorageEngine.open(directory: dir, options: MVCCLayoutTests.options(), fileSystem: fs)
        let layer = try #require(TxnCoordinator.shared(engine, splitPoints: splits).mvcc)
        return (engine, layer)
    }

    /// The environment switches reach every harness: under `APUS_TEST_LAYOUT=mvcc` and
    /// `APUS_TEST_RANGES=N` (CI's pass over 40 ranges) a harness runs on the MVCC layout over that
    /// many ranges, so that the pass cannot silently run on one range or the other layout.
    @Test func theEnvironmentSwitchesReachTheHarness() throws {
        let environment = ProcessInfo.processInfo.environment
        let h = try TxnHarness(sessions: 1)
        #expect(SQLStorageLayout(engine: h.engine) == TxnHarness.defaultLayout)
        guard let mvcc = h.coordinator.mvcc else { return }
        #expect(mvcc.router.all.count == MVCCLayer.testSplitPoints(environment).count + 1)
        if let n = environment["APUS_TEST_RANGES"].flatMap({ Int($0) }), n > 1 { #expect(mvcc.router.all.count > 1) }
    }

    @Test func testSplitPointsSplitTheFirstTables() {
        #expect(MVCCLayer.testSplitPoints([:]).isEmpty)
        #expect(MVCCLayer.testSplitPoints(["APUS_TEST_RANGES": "1"]).isEmpty)
        #expect(MVCCLayer.testSplitPoints(["APUS_TEST_RANGES": "4"]).count == 3)
        var key = KeyEncoding.indexPrefix(table: 100, index: 1)
        KeyEncoding.append(.int(3), to: &key)
        #expect(MVCCLayer.testSplitPoints(["APUS_TEST_RANGES": "4"]).last.map { compareBytes($0, key) < 0 } == true)
    }

    /// A transaction writing in three ranges: its record is a local key of the range of its first
    /// written key and lists spans covering every intent; a crash after the commit point is
    /// recovered from those spans.
    @Test func theRecordLivesAtTheAnchorAndListsTheIntentSpans() throws {
        let fs = MemoryFileSystem()
        var recordKey: [UInt8] = []
        do {
            let (engine, layer) = try MVCCCommitTests.open("/anchor", fs)
            let s = try SQLSession(engine: engine)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'old'), (5, 'old'), (20, 'old')")
            _ = try s.execute(sql: "BEGIN; UPDATE t SET v = 'new' WHERE id = 5; DELETE FROM t WHERE id = 1; INSERT INTO t VALUES (12, 'new')")
            #expect(try MVCCCommitTests.rows(s, "SELECT count(*) FROM t") == [["3"]])  // sends the intents
            let tx = try #require(s.tx?.mvcc)
            let anchor = try #require(tx.anchor)
            recordKey = try #require(tx.recordKey)
            #expect(recordKey == TxnRecord.key(tx.id, anchor: anchor))
            #expect(layer.router.range(for: recordKey) === layer.router.range(for: anchor))
            let ranges = Set(tx.writtenKeys.map { layer.router.range(for: $0).id })
            #expect(ranges.count == 3)
            // The anchor is the first written key: row 5's (its range holds neither row 1 nor 12).
            #expect(tx.writtenKeys.filter { layer.router.range(for: $0) === layer.router.range(for: anchor) }.count == 1)
            let record = try #require(try layer.router.range(for: recordKey).record(at: recordKey))
            #expect(record.status == .pending)
            let spans = try #require(record.spans)
            for key in tx.writtenKeys { #expect(spans.contains { $0.contains(key) }) }
            // The running transaction is live on its record's range, and only there: a reader of
            // an intent on another range finds it through the intent's record key.
            let recordRange = layer.router.range(for: recordKey)
            #expect(recordRange.live.status(tx.id) == .pending(minimum: .zero))
            for r in layer.router.all where r !== recordRange { #expect(r.live.status(tx.id) == nil) }
            let far = try #require(tx.writtenKeys.first { layer.router.range(for: $0) !== recordRange })
            let farIntent = try #require(try layer.router.range(for: far).intent(on: far))
            #expect(layer.state(of: farIntent) == .some(nil))
            layer.stopResolutionForTesting = .afterCommitPoint
            _ = try s.execute(sql: "COMMIT")
            // Several ranges: a parallel commit, STAGING with its three in-flight writes.
            let staged = try #require(try layer.router.range(for: recordKey).record(at: recordKey))
            #expect(staged.status == .staging && staged.spans == spans && staged.inFlight == 3)
            #expect(try MVCCLayoutTests.leftovers(engine) == (3, 1))
            // The test stop models a crash: the process forgot the transaction.
            #expect(recordRange.live.status(tx.id) == nil)
            engine.closeForCrashTest()
            fs.crash(mode: .dropUnsynced)
        }
        let (engine, layer) = try MVCCCommitTests.open("/anchor", fs)
        defer { try? engine.close() }
        #expect(layer.recovered.committed == 1 && layer.recovered.intents == 3)
        #expect(try MVCCLayoutTests.leftovers(engine) == (0, 0))
        #expect(try layer.router.range(for: recordKey).record(at: recordKey) == nil)
        let s = try SQLSession(engine: engine)
        #expect(try MVCCCommitTests.rows(s, "SELECT * FROM t ORDER BY id") == [["5", "new"], ["12", "new"], ["20", "old"]])
    }

    /// Recovery visits the spans a record lists, not the whole key space: here an intent outside
    /// them, of a transaction without a record (written by hand), stays, while the intents of the
    /// transaction a crash cut off go.
    @Test func recoveryResolvesFromTheRecordsSpans() throws {
        let fs = MemoryFileSystem()
        let stray = Array("\u{3}stray".utf8)
        do {
            let (engine, layer) = try MVCCCommitTests.open("/spans", fs)
            let s = try SQLSession(engine: engine)
            let other = try SQLSession(engine: engine)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE u (id int)")
            _ = try s.execute(sql: "BEGIN; INSERT INTO t SELECT g, 'lost' FROM generate_series(1, 3000) g")
            #expect(try MVCCCommitTests.rows(s, "SELECT count(*) FROM t") == [["3000"]])
            // 3000 separate keys, condensed to a bounded number of spans.
            let recordKey = try #require(s.tx?.mvcc?.recordKey)
            let spans = try #require(try layer.router.range(for: recordKey).record(at: recordKey)?.spans)
            #expect(spans.count > 1 && spans.count <= IntentSpans.limit)
            var b = WriteBatch()
            MVCCStore.putIntent(&b, key: stray, txn: 1, ts: Timestamp(wallNanos: 1), value: [1], anchor: stray)
            try engine.write(b)
            _ = try other.execute(sql: "INSERT INTO u VALUES (1)")  // syncs the WAL
            engine.closeForCrashTest()
            fs.crash(mode: .dropUnsynced)
        }
        let (engine, layer) = try MVCCCommitTests.open("/spans", fs)
        defer { try? engine.close() }
        #expect(layer.recovered.aborted == 1)
        #expect(layer.recovered.intents == 3000)  // the other commit took one phase: nothing to resolve
        #expect(try MVCCLayoutTests.leftovers(engine) == (1, 0))
        #expect(try layer.router.range(for: stray).intent(on: stray)?.txn == 1)
        let s = try SQLSession(engine: engine)
        #expect(try MVCCCommitTests.rows(s, "SELECT count(*) FROM t") == [["0"]])
        #expect(try MVCCCommitTests.rows(s, "SELECT count(*) FROM u") == [["1"]])
    }

    /// A data directory with records and intents of the first format (no anchor, no spans) still
    /// recovers: a committed transaction's intent becomes a version, a pending one's goes.
    @Test func firstFormatRecordsStillRecover() throws {
        let fs = MemoryFileSystem()
        let (kc, kp) = (Array("\u{3}committed".utf8), Array("\u{3}pending".utf8))
        let commitTS = Timestamp(wallNanos: UInt64(SystemClock.wallNanos()) - 1_000_000, logical: 0)
        do {
            let engine = try StorageEngine.open(directory: "/old", options: MVCCLayoutTests.options(), fileSystem: fs)
            var b = WriteBatch()
            MVCCStore.putIntent(&b, key: kc, txn: 7, ts: commitTS, value: Array("kept".utf8))
            MVCCStore.putIntent(&b, key: kp, txn: 8, ts: commitTS, value: Array("lost".utf8))
            b.put(TxnRecord.storedKey(7, anchor: nil), TxnRecord(status: .committed, timestamp: commitTS, heartbeat: 1).encoded)
            var pending: [UInt8] = [TxnStatus.pending.rawValue]  // 13 bytes, as earlier builds' TxnDB wrote
            pending.appendBigEndian64(commitTS.wallNanos)
            pending.appendBigEndian32(commitTS.logical)
            b.put(TxnRecord.storedKey(8, anchor: nil), pending)
            try engine.write(b, sync: true)
            engine.closeForCrashTest()
        }
        let (engine, layer) = try MVCCCommitTests.open("/old", fs)
        defer { try? engine.close() }
        #expect(layer.recovered.committed == 1 && layer.recovered.aborted == 1 && layer.recovered.intents == 2)
        #expect(try MVCCLayoutTests.leftovers(engine) == (0, 0))
        #expect(try layer.latest(kc) == Array("kept".utf8))
        #expect(try layer.latest(kp) == nil)
    }

    /// A commit whose group write (the COMMITTED record) fails with an I/O error is not
    /// committed: no reader sees its writes, neither while it aborts nor after, nor after a restart.
    /// Rows 1 and 12 are on two ranges (the intent path, a STAGING record); rows 5 and 6 on one
    /// (a one-phase commit, whose group write carries the versions themselves).
    @Test(arguments: [[1, 12], [5, 6]]) func aCommitWhoseRecordWriteFailedIsNeverVisible(ids: [Int]) throws {
        let fs = MemoryFileSystem()
        do {
            let (engine, layer) = try MVCCCommitTests.open("/fail", fs)
            let s = try SQLSession(engine: engine)
            let r = try SQLSession(engine: engine)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (\(ids[0]), 'old'), (\(ids[1]), 'old')")
            var during: [[String]]?
            layer.commitFailureHookForTesting = { during = try? MVCCCommitTests.rows(r, "SELECT v FROM t ORDER BY id") }
            fs.injectFault(FaultRule(.sync, path: .suffix(".log"), when: .fromNth(1)))
            #expect(throws: SQLError.self) { try s.execute(sql: "UPDATE t SET v = 'new'") }
            layer.commitFailureHookForTesting = nil
            #expect(during == [["old"], ["old"]])
            #expect(try MVCCCommitTests.rows(r, "SELECT v FROM t ORDER BY id") == [["old"], ["old"]])
            #expect(try MVCCCommitTests.rows(s, "SELECT v FROM t ORDER BY id") == [["old"], ["old"]])
            fs.clearFaults()
            engine.closeForCrashTest()
            fs.crash(mode: .dropUnsynced)
        }
        let (engine, _) = try MVCCCommitTests.open("/fail", fs)
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine)
        #expect(try MVCCCommitTests.rows(s, "SELECT v FROM t ORDER BY id") == [["old"], ["old"]])
        #expect(try MVCCLayoutTests.leftovers(engine) == (0, 0))
    }

    /// Where `aParallelCommitIsAtomicAcrossRanges` crashes.
    enum CrashPoint: CaseIterable, Sendable {
        /// Intents on three ranges written, no commit record.
        case beforeTheCommitPoint
        /// The STAGING record written (the group write), nothing after it.
        case staged
        /// The STAGING record made COMMITTED, no intent resolved.
        case explicitlyCommitted
        /// STAGING, but one range's write is missing (removed by hand: as if it never became durable).
        case stagedWithAWriteMissing
    }

    /// A transaction writing on three ranges (with a savepoint rolled back) commits in parallel:
    /// whichever point a crash hits, recovery keeps all of its writes or none.
    @Test(arguments: CrashPoint.allCases) func aParallelCommitIsAtomicAcrossRanges(at point: CrashPoint) throws {
        let fs = MemoryFileSystem()
        do {
            let (engine, layer) = try MVCCCommitTests.open("/parallel", fs)
            let s = try SQLSession(engine: engine)
            let other = try SQLSession(engine: engine)
            _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'old'), (5, 'old'), (12, 'old')")
            _ = try s.execute(sql: "CREATE TABLE u (id int)")
            layer.stopResolutionForTesting = point == .explicitlyCommitted ? .afterExplicitCommit : .afterCommitPoint
            _ = try s.execute(sql: """
                BEGIN; UPDATE t SET v = 'new' WHERE id = 5; SAVEPOINT a; INSERT INTO t VALUES (3, 'new'); ROLLBACK TO SAVEPOINT a;
                UPDATE t SET v = 'new' WHERE id IN (1, 12); INSERT INTO t VALUES (30, 'new')
                """)
            let tx = try #require(s.tx?.mvcc)
            let anchor = try #require(tx.anchor), recordKey = try #require(tx.recordKey)
            #expect(Set(tx.writtenKeys.map { layer.router.range(for: $0).id }).count == 3)
            if point == .beforeTheCommitPoint {
                #expect(try MVCCCommitTests.rows(s, "SELECT count(*) FROM t") == [["4"]])  // sends the intents
            } else {
                _ = try s.execute(sql: "COMMIT")
                let record = try #require(try layer.router.range(for: recordKey).record(at: recordKey))
                #expect(record.status == (point == .explicitlyCommitted ? .committed : .staging))
                if point != .explicitlyCommitted { #expect(record.inFlight == 4) }
                if point == .stagedWithAWriteMissing {
                    let far = try #require(tx.writtenKeys.first { layer.router.range(for: $0) !== layer.router.range(for: anchor) })
                    var b = WriteBatch()
                    b.delete(MVCCKey.encode(far, .zero))
                    try engine.write(b)
                }
            }
            #expect(try MVCCLayoutTests.leftovers(engine) == (point == .stagedWithAWriteMissing ? 3 : 4, 1))
            _ = try other.execute(sql: "INSERT INTO u VALUES (1)")  // syncs the WAL, all of the above included
            engine.closeForCrashTest()
            fs.crash(mode: .dropUnsynced)
        }
        let (engine, layer) = try MVCCCommitTests.open("/parallel", fs)
        defer { try? engine.close() }
        let kept = point == .staged || point == .explicitlyCommitted
        // The other commit took one phase: nothing of it to recover.
        #expect(layer.recovered.committed == (kept ? 1 : 0))
        #expect(layer.recovered.aborted == (kept ? 0 : 1))
        #expect(try MVCCLayoutTests.leftovers(engine) == (0, 0))
        let s = try SQLSession(engine: engine)
        let expected = kept ? [["1", "new"], ["5", "new"], ["12", "new"], ["30", "new"]] : [["1", "old"], ["5", "old"], ["12", "old"]]
        #expect(try MVCCCommitTests.rows(s, "SELECT * FROM t ORDER BY id") == expected)
    }

    /// A reader that meets an intent whose owner is gone and left a STAGING record decides it:
    /// committed when every in-flight write is there, else aborted (all of its writes go).
    @Test func aReaderDecidesTheStagingRecordOfAGoneOwner() throws {
        let (engine, layer) = try MVCCCommitTests.open("/decide", MemoryFileSystem())
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine)
        let r = try SQLSession(engine: engine)
        _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'old'), (5, 'old'), (12, 'old')")
        layer.stopResolutionForTesting = .afterCommitPoint
        _ = try s.execute(sql: "UPDATE t SET v = 'new'")
        #expect(try MVCCLayoutTests.leftovers(engine) == (3, 1))
        #expect(try MVCCCommitTests.rows(r, "SELECT v FROM t ORDER BY id") == [["new"], ["new"], ["new"]])
        #expect(layer.stagingFoundCommitted == 1)
        #expect(try MVCCLayoutTests.leftovers(engine) == (0, 1))  // the COMMITTED record stays until the next open
        _ = try s.execute(sql: "BEGIN; UPDATE t SET v = 'newer'")
        let tx = try #require(s.tx?.mvcc)
        _ = try s.execute(sql: "COMMIT")
        let anchor = try #require(tx.anchor), recordKey = try #require(tx.recordKey)
        #expect(try layer.router.range(for: recordKey).record(at: recordKey)?.status == .staging)
        let far = try #require(tx.writtenKeys.first { layer.router.range(for: $0) !== layer.router.range(for: anchor) })
        var b = WriteBatch()
        b.delete(MVCCKey.encode(far, .zero))
        try engine.write(b)
        #expect(try MVCCCommitTests.rows(r, "SELECT v FROM t ORDER BY id") == [["new"], ["new"], ["new"]])
        #expect(layer.abandonedAborted == 1 && layer.stagingFoundCommitted == 1)
        #expect(try layer.router.range(for: recordKey).record(at: recordKey)?.status == .aborted)
        #expect(try MVCCLayoutTests.leftovers(engine) == (0, 2))
        // Writers go on as usual.
        layer.stopResolutionForTesting = nil
        _ = try s.execute(sql: "UPDATE t SET v = 'last' WHERE id = 12")
        #expect(try MVCCCommitTests.rows(r, "SELECT v FROM t ORDER BY id") == [["new"], ["new"], ["last"]])
    }

    /// A reader whose snapshot holds a STAGING record and the intents of a transaction that has
    /// finished since (intents resolved, record deleted) sees the commit: from the layer's memory
    /// of recent parallel commits, or, past it, by counting the intents in its snapshot.
    @Test func aSnapshotHoldingAStagingRecordSeesTheCommit() throws {
        let (engine, layer) = try MVCCCommitTests.open("/snapshot", MemoryFileSystem())
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine)
        _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'old'), (5, 'old'), (12, 'old')")
        layer.stopResolutionForTesting = .afterCommitPoint
        _ = try s.execute(sql: "BEGIN; UPDATE t SET v = 'new'")
        let tx = try #require(s.tx?.mvcc)
        _ = try s.execute(sql: "COMMIT")
        let recordKey = try #require(tx.recordKey), key = try #require(tx.writtenKeys.first)
        let record = try #require(try layer.router.range(for: recordKey).record(at: recordKey))
        #expect(record.status == .staging)
        let snapshot = engine.snapshot()
        let intent = try #require(try layer.router.range(for: key).intent(on: key, snapshot: snapshot))
        // The owner's resolution, done here: versions written, record deleted.
        layer.cleanupLock.lock()
        _ = try layer.decideStaging(tx.id, recordKey: recordKey)
        layer.cleanupLock.unlock()
        var b = WriteBatch()
        b.delete(MVCCKey.encode(recordKey, .zero))
        try engine.write(b)
        #expect(try MVCCLayoutTests.leftovers(engine) == (0, 0))
        // The owner's `finished`, which the test stop skipped, remembers the commit.
        layer.finished(tx.id, anchor: tx.anchor, stagedCommit: record.timestamp)
        for forget in [false, true] {
            if forget { layer.forgetRecentStagedForTesting() }
            guard case let .committed(ts) = try layer.visibility(intent, key, snapshot) else {
                Issue.record("the snapshot's STAGING intent must be visible (forget: \(forget))")
                continue
            }
            #expect(ts == record.timestamp)
        }
    }
}
