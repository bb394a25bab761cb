import ApusCore
@testable import ApusKV
import ApusStorage
import Foundation
import Synchronization
import Testing

/// A range's lease moves (`TxnDB.transferLease`): the new holder starts without the old one's
/// timestamp cache, live transactions and locks. What they protected must still hold: pushes
/// and reads stay below later commits and writes, a transaction that still runs keeps its keys,
/// and one whose heartbeat stopped is aborted by the next transaction that meets its intents.
@Suite struct LeaseTransferTests {
    private static func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    private static func code(_ body: () throws -> Void) -> String? {
        do { try body() } catch { return (error as? KVError)?.code.code ?? "\(error)" }
        return nil
    }

    /// Runs `body` with a database whose heartbeats expire after 50 ms, a gateway on a simulated
    /// clock, and a transaction on it that wrote "k" before the range's lease moved.
    private static func withMovedOwner(_ body: (TxnDB, SimulatedClock, TxnGateway, KVTxn) throws -> Void) throws {
        try withTxnDB(heartbeatTimeoutNanos: 50_000_000) { db in
            let clock = SimulatedClock()
            let gateway = TxnGateway(physical: clock)
            let t = db.begin(gateway: gateway)
            try t.put(b("k"), b("t"))
            db.transferLease(db.router.all[0])
            try body(db, clock, gateway, t)
        }
    }

    /// Whether a writer with a zero lock timeout that tries `key` must wait (55P03) instead of
    /// writing: the key's intent has a running owner. The writer rolls back.
    private static func mustWait(_ db: TxnDB, _ key: String, gateway: TxnGateway? = nil) -> Bool {
        let w = db.begin(.readCommitted, lockTimeout: 0, gateway: gateway)
        defer { w.rollback() }
        return code { try w.put(b(key), b("w")) } == "55P03"
    }

    /// A reader pushed a pending writer above its read; the record's range then moves. The
    /// writer still commits above the read, which did not see it.
    @Test func aPushForgottenByTheMoveStillHolds() throws {
        try withTxnDB { db in
            let t = db.begin(.serializable)
            try t.put(LeaseTransferTests.b("k"), LeaseTransferTests.b("t"))
            let r = db.begin(.serializable)
            #expect(try r.get(LeaseTransferTests.b("k")) == nil)
            #expect(r.readTS >= t.writeTS, "the reader reads above the writer's intent")
            db.transferLease(db.router.all[0])
            #expect(db.router.all[0].leaseNumber == 2)
            #expect(db.router.all[0].live.count == 0)
            try t.commit()
            #expect(try #require(t.commitTS) > r.readTS)
        }
    }

    /// A read noted in the timestamp cache, then the range moves: a writer that began before
    /// the read still lays its intent above it.
    @Test func aReadForgottenByTheMoveStillPushesWriters() throws {
        try withTxnDB { db in
            let w = db.begin(.repeatableRead)
            let r = db.begin(.serializable)
            #expect(try r.get(LeaseTransferTests.b("k")) == nil)
            #expect(w.readTS < r.readTS)
            db.transferLease(db.router.all[0])
            #expect(db.router.all[0].reads.count == 0)
            try w.put(LeaseTransferTests.b("k"), LeaseTransferTests.b("w"))
            #expect(w.writeTS > r.readTS)
            try w.commit()
            #expect(try #require(w.commitTS) > r.readTS)
        }
    }

    /// A transaction's intent outlives the lock table that held its key: after the move a
    /// writer meets the intent, gives the lock back to its running owner and queues behind it
    /// (NOWAIT-like with a zero timeout: 55P03), instead of overwriting it. Readers do not see
    /// it until it commits.
    @Test func aRunningOwnerKeepsItsKeyAfterTheMove() throws {
        try withTxnDB(splitPoints: [LeaseTransferTests.b("m")]) { db in
            let t = db.begin()
            try t.put(LeaseTransferTests.b("a"), LeaseTransferTests.b("t-a"))
            try t.put(LeaseTransferTests.b("z"), LeaseTransferTests.b("t-z"))
            for range in db.router.all { db.transferLease(range) }
            for key in ["a", "z"] {
                #expect(LeaseTransferTests.mustWait(db, key), "key \(key)")
                #expect(try db.begin().get(LeaseTransferTests.b(key)) == nil)
            }
            try t.commit()
            #expect(try db.begin().get(LeaseTransferTests.b("a")) == LeaseTransferTests.b("t-a"))
            #expect(try db.begin().get(LeaseTransferTests.b("z")) == LeaseTransferTests.b("t-z"))
            #expect(db.locks.lockedKeyCount == 0)
        }
    }

    /// A writer queued behind the running owner of an intent (after the move) gets the key when
    /// the owner commits, and writes over the committed value.
    @Test func aQueuedWriterGoesOnWhenTheOwnerCommits() throws {
        try withTxnDB { db in
            let t = db.begin()
            try t.put(LeaseTransferTests.b("k"), LeaseTransferTests.b("t"))
            db.transferLease(db.router.all[0])
            let writer = startQueuedWriter(db, key: LeaseTransferTests.b("k"), value: LeaseTransferTests.b("w"), .readCommitted)
            #expect(try db.begin().get(LeaseTransferTests.b("k")) == nil)
            try t.commit()
            #expect(writer() == "committed")
            #expect(try db.begin().get(LeaseTransferTests.b("k")) == LeaseTransferTests.b("w"))
        }
    }

    /// After the move, an owner that stops renewing its heartbeat is aborted by the next
    /// transaction that meets its intent: its record becomes ABORTED, the writer takes the key,
    /// and the owner's commit fails with 40001.
    @Test func anIdleOwnerIsAbortedOnceItsHeartbeatExpires() throws {
        try LeaseTransferTests.withMovedOwner { db, clock, gateway, t in
            // A writer meets the intent while the heartbeat is alive: the new holder adopts t
            // as running, and the writer queues behind it.
            #expect(LeaseTransferTests.mustWait(db, "k", gateway: gateway))
            #expect(db.router.all[0].live.count == 1)
            clock.advance(60_000_000)
            let w = db.begin(lockTimeout: 0, gateway: gateway)
            try w.put(LeaseTransferTests.b("k"), LeaseTransferTests.b("w"))
            let record = try db.router.all[0].record(at: TxnRecord.key(t.id, anchor: LeaseTransferTests.b("k")))
            #expect(record?.status == .aborted)
            try w.commit()
            #expect(LeaseTransferTests.code { try t.commit() } == "40001")
            #expect(try db.begin(gateway: gateway).get(LeaseTransferTests.b("k")) == LeaseTransferTests.b("w"))
        }
    }

    /// A writer queued behind an owner the new holder adopted, with a long lock timeout (30 s),
    /// looks at the owner while it waits (every 50 ms; the test checks that it looks, not how
    /// often): once the owner's heartbeat expires it aborts the owner and writes, instead of
    /// failing with 55P03 at the end of its timeout.
    @Test func aQueuedWriterTakesTheKeyOnceItsOwnersHeartbeatExpires() throws {
        try LeaseTransferTests.withMovedOwner { db, clock, gateway, t in
            let outcome = startQueuedWriter(db, key: LeaseTransferTests.b("k"), value: LeaseTransferTests.b("w"), gateway: gateway)
            clock.advance(60_000_000)
            #expect(outcome() == "committed")
            #expect(LeaseTransferTests.code { try t.commit() } == "40001")
            let value = try db.begin(gateway: gateway).get(LeaseTransferTests.b("k"))
            #expect(value == LeaseTransferTests.b("w"))
        }
    }

    /// An owner that keeps working renews its heartbeat (at half the timeout) and stays alive
    /// for a lease holder that does not know it; one aborted meanwhile learns it at its next
    /// operation.
    @Test func aHeartbeatKeepsAnUnknownOwnerAlive() throws {
        try LeaseTransferTests.withMovedOwner { db, clock, gateway, t in
            for _ in 0..<4 {
                clock.advance(30_000_000)
                _ = try t.get(LeaseTransferTests.b("other"))  // renews the heartbeat
                #expect(LeaseTransferTests.mustWait(db, "k", gateway: gateway))
            }
            try t.commit()
            #expect(try db.begin(gateway: gateway).get(LeaseTransferTests.b("k")) == LeaseTransferTests.b("t"))

            // An owner whose heartbeat expired and was aborted by a reader fails at its next step.
            let u = db.begin(gateway: gateway)
            try u.put(LeaseTransferTests.b("u"), LeaseTransferTests.b("u"))
            db.transferLease(db.router.all[0])
            clock.advance(60_000_000)
            #expect(try db.begin(gateway: gateway).get(LeaseTransferTests.b("u")) == nil)
            #expect(LeaseTransferTests.code { _ = try u.get(LeaseTransferTests.b("u")) } == "40001")
        }
    }

    /// A PENDING record left by an earlier process (its transaction id is below the new
    /// process's first) belongs to a gateway that is gone: the first reader to meet one of its
    /// intents aborts it, and a writer overwrites the intent without waiting.
    @Test func anEarlierProcesssPendingTransactionIsAborted() throws {
        try withTxnDB { first in
            var batch = WriteBatch()
            let anchor = LeaseTransferTests.b("k")
            MVCCStore.putIntent(&batch, key: anchor, txn: 5, ts: first.gateway.now(), value: LeaseTransferTests.b("old"), anchor: anchor)
            KVRange.putRecord(&batch, at: TxnRecord.key(5, anchor: anchor),
                              TxnRecord(status: .pending, timestamp: first.gateway.now(), heartbeat: SystemClock.wallNanos()))
            try first.store.engine.write(batch, sync: true)
            let db = TxnDB(engine: first.store.engine)
            #expect(try db.begin().get(anchor) == nil)
            #expect(try db.router.all[0].record(at: TxnRecord.key(5, anchor: anchor))?.status == .aborted)
            let w = db.begin(lockTimeout: 0)
            try w.put(anchor, LeaseTransferTests.b("new"))
            try w.commit()
            #expect(try db.begin().get(anchor) == LeaseTransferTests.b("new"))
        }
    }
}

/// The lock table's part in a lease move: waiters of a dropped table ask the new one, and a
/// lock handed over to the running owner of an intent queues its taker behind it.
@Suite struct LockTransferTests {
    @Test func aMovedTablesWaitersAskTheNewOne() throws {
        let locks = LockManager()
        try locks.acquire(1, key: [1], mode: .exclusive)
        let done = DispatchSemaphore(value: 0)
        let failure = Mutex<String?>(nil)
        Thread.detachNewThread {
            do { try locks.acquire(2, key: [1], mode: .exclusive, timeout: 30) } catch { failure.withLock { $0 = "\(error)" } }
            done.signal()
        }
        while !locks.isWaiting(2) { Thread.sleep(forTimeInterval: 0.001) }
        locks.transfer(partition: 0)
        done.wait()
        #expect(failure.withLock { $0 } == nil)
        #expect(locks.holds(2, key: [1], mode: .exclusive))
        #expect(!locks.holds(1, key: [1], mode: .exclusive))
    }

    @Test func aHandedOverLockQueuesItsTakerBehindTheOwner() throws {
        var table = LockTable()
        let took = table.tryAcquire(2, key: [1], mode: .exclusive)
        #expect(took)
        #expect(table.handOver([1], from: 2, to: 1) == [])
        #expect(table.holds(1, key: [1], mode: .exclusive))
        #expect(!table.holds(2, key: [1], mode: .exclusive))
        #expect(table.acquire(2, key: [1], mode: .exclusive) == .queued(holders: [1]))
        #expect(table.releaseAll(1) == [2])
        #expect(table.holds(2, key: [1], mode: .exclusive))
        // The owner queued behind the taker is granted by the hand-over.
        var t2 = LockTable()
        let took2 = t2.tryAcquire(2, key: [1], mode: .exclusive)
        #expect(took2)
        #expect(t2.acquire(1, key: [1], mode: .exclusive) == .queued(holders: [2]))
        #expect(t2.handOver([1], from: 2, to: 1) == [1])
        #expect(t2.holds(1, key: [1], mode: .exclusive))
        #expect(!t2.isWaiting(1))
        #expect(t2.releaseAll(1) == [])
        #expect(t2.lockedKeyCount == 0)
    }
}

/// A transaction's record goes once no intent needs it: with the versions in a commit on one
/// range, after the resolution otherwise, and after a rollback's removal of its intents. A
/// reader that met an intent before its record went reads the key again.
@Suite struct RecordDeletionTests {
    private static func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// The records left in the engine, with their statuses.
    private static func records(_ db: TxnDB) throws -> [TxnStatus] {
        let span = TxnRecord.recordSpans[0]
        let it = try db.store.engine.makeIterator(IteratorOptions(lowerBound: MVCCKey.encode(span.lower, .zero),
                                                                   upperBound: MVCCKey.encode(span.upper, .zero)))
        try it.seekToFirst()
        var out: [TxnStatus] = []
        while it.isValid {
            if let record = TxnRecord(decoding: it.value) { out.append(record.status) }
            try it.next()
        }
        return out
    }

    @Test func recordsGoOnceTheirIntentsAreResolved() throws {
        try withTxnDB(splitPoints: [RecordDeletionTests.b("m")]) { db in
            // One range (versions with the commit), two ranges (resolution), and rollbacks of each.
            for keys in [["a", "b"], ["a", "z"]] {
                let t = db.begin()
                for k in keys { try t.put(RecordDeletionTests.b(k), RecordDeletionTests.b("v")) }
                #expect(try RecordDeletionTests.records(db) == [.pending])
                try t.commit()
                #expect(try RecordDeletionTests.records(db) == [], "after committing \(keys)")
                let r = db.begin()
                for k in keys { try r.put(RecordDeletionTests.b(k), RecordDeletionTests.b("r")) }
                r.rollback()
                #expect(try RecordDeletionTests.records(db) == [], "after rolling back \(keys)")
                for k in keys { #expect(try db.begin().get(RecordDeletionTests.b(k)) == RecordDeletionTests.b("v")) }
            }
            // A commit that fails its refresh rolls back and leaves nothing either.
            let reader = db.begin(.serializable)
            _ = try reader.get(RecordDeletionTests.b("a"))
            let writer = db.begin()
            try writer.put(RecordDeletionTests.b("a"), RecordDeletionTests.b("w"))
            try writer.commit()
            // A later read of "z": the reader's write lands above it, past the writer's commit,
            // and its refresh finds "a" changed.
            _ = try db.begin().get(RecordDeletionTests.b("z"))
            try reader.put(RecordDeletionTests.b("z"), RecordDeletionTests.b("skew"))
            #expect(throws: KVError.self) { try reader.commit() }
            #expect(try RecordDeletionTests.records(db) == [])
        }
    }

    /// A reader meets an intent, then (in the hook, before it asks about the owner) the owner
    /// commits, resolves its intents and deletes its record: the reader finds no record and
    /// reads the key again, seeing the committed value when the commit is below its read
    /// timestamp.
    @Test(arguments: [false, true])
    func aReaderWhoseIntentsRecordVanishedReadsAgain(acrossRanges: Bool) throws {
        try withTxnDB(splitPoints: [RecordDeletionTests.b("m")]) { db in
            let t = db.begin()
            try t.put(RecordDeletionTests.b("a"), RecordDeletionTests.b("t"))
            if acrossRanges { try t.put(RecordDeletionTests.b("z"), RecordDeletionTests.b("t")) }
            // r's read timestamp is above t's intent, where t commits (nobody pushed it).
            let r = db.begin(.repeatableRead)
            var met = 0
            db.intentMetForTesting = { intent in
                guard intent.txn == t.id, met == 0 else { return }
                met += 1
                try? t.commit()
            }
            defer { db.intentMetForTesting = nil }
            let value = try r.get(RecordDeletionTests.b("a"))
            #expect(met == 1)
            #expect(try #require(t.commitTS) <= r.readTS)
            #expect(value == RecordDeletionTests.b("t"))
            #expect(try RecordDeletionTests.records(db) == [])
        }
    }

    /// Runs `body` with the hook set to commit `t` the first time anyone meets its intent.
    private static func committingOnFirstMeeting(_ db: TxnDB, _ t: KVTxn, _ body: () throws -> Void) rethrows {
        var met = false
        db.intentMetForTesting = { intent in
            guard intent.txn == t.id, !met else { return }
            met = true
            try? t.commit()
        }
        defer { db.intentMetForTesting = nil }
        try body()
        #expect(met && t.commitTS != nil)
    }

    /// A refresh meets the intent of a transaction that then commits (above the refresh's
    /// read, below its commit) and deletes its record: the refresh reads the key again, finds
    /// the change and fails the commit.
    @Test func aRefreshWhoseIntentsRecordVanishedReadsAgain() throws {
        try withTxnDB { db in
            let t = db.begin()
            try t.put(RecordDeletionTests.b("k"), RecordDeletionTests.b("t"))
            let r = db.begin(.serializable)
            #expect(try r.get(RecordDeletionTests.b("k")) == nil)  // pushes t above r's read
            try r.put(RecordDeletionTests.b("z"), RecordDeletionTests.b("r"))
            // A reader of "z" pushes r above itself, so r's commit refreshes its read of "k".
            _ = try db.begin().get(RecordDeletionTests.b("z"))
            var code: String?
            try RecordDeletionTests.committingOnFirstMeeting(db, t) {
                do { try r.commit() } catch { code = (error as? KVError)?.code.code }
            }
            #expect(code == "40001")
        }
    }

    /// A writer (the lock table forgot the owner's lock: the lease moved) meets an intent whose
    /// owner then commits and deletes its record: it reads the key again and, under REPEATABLE
    /// READ, fails on the newer version instead of writing over it.
    @Test func aWriterWhoseIntentsRecordVanishedReadsAgain() throws {
        try withTxnDB { db in
            let t = db.begin()
            try t.put(RecordDeletionTests.b("k"), RecordDeletionTests.b("t"))
            db.transferLease(db.router.all[0])
            let w = db.begin(.repeatableRead, lockTimeout: 0)
            // A later reader pushes t above w's snapshot: t's commit will be newer than it.
            #expect(try db.begin().get(RecordDeletionTests.b("k")) == nil)
            var code: String?
            try RecordDeletionTests.committingOnFirstMeeting(db, t) {
                do { try w.put(RecordDeletionTests.b("k"), RecordDeletionTests.b("w")) } catch { code = (error as? KVError)?.code.code }
            }
            #expect(code == "40001")
            w.rollback()
            #expect(try db.begin().get(RecordDeletionTests.b("k")) == RecordDeletionTests.b("t"))
        }
    }
}
