import ApusCore
@testable import ApusKV
import ApusStorage
import Foundation
import Testing

@Suite struct DurabilityTests {
    /// A committed transaction survives a reopen; a transaction that wrote intents but never
    /// committed leaves nothing visible, and a later writer can take the key over.
    @Test func committedSurvivesUncommittedInvisible() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apuskv-\(UInt64.random(in: 0...UInt64.max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let o = mvccOptions()
        do {
            let engine = try StorageEngine.open(directory: dir, options: o)
            let db = TxnDB(engine: engine)
            let t1 = db.begin()
            try t1.put(Array("a".utf8), Array("committed".utf8))
            try t1.commit()
            let t2 = db.begin()
            try t2.put(Array("a".utf8), Array("pending".utf8))
            try t2.put(Array("b".utf8), Array("pending".utf8))
            try engine.flush()  // the intents reach disk, the commit never happens
            try engine.close()
        }
        let engine = try StorageEngine.open(directory: dir, options: o)
        defer { try? engine.close() }
        let db = TxnDB(engine: engine)
        let r = db.begin()
        #expect(try r.get(Array("a".utf8)) == Array("committed".utf8))
        #expect(try r.get(Array("b".utf8)) == nil)
        let w = db.begin()
        try w.put(Array("b".utf8), Array("new".utf8))
        try w.commit()
        #expect(try db.begin().get(Array("b".utf8)) == Array("new".utf8))
    }

    /// A transaction dropped unfinished rolls back: its lock goes (the next writer does not wait
    /// out its lock timeout) and its write is never seen.
    @Test func aDroppedTransactionRollsBack() throws {
        try withTxnDB { db in try droppedTransactionRollsBack(db) }
    }

    private func droppedTransactionRollsBack(_ db: TxnDB) throws {
        do {
            let t = db.begin()
            try t.put(Array("k".utf8), Array("dropped".utf8))
        }
        #expect(try db.begin().get(Array("k".utf8)) == nil)
        let w = db.begin(lockTimeout: 5)
        try w.put(Array("k".utf8), Array("next".utf8))
        try w.commit()
        #expect(try db.begin().get(Array("k".utf8)) == Array("next".utf8))
        #expect(db.router.all[0].live.count == 0)
    }

    /// Two transactions updating two keys in opposite order: one gets 40P01, the other commits.
    @Test func kvDeadlockAbortsOne() throws {
        try withTxnDB { db in try deadlockAbortsOne(db) }
    }

    private func deadlockAbortsOne(_ db: TxnDB) throws {
        let out = Outcomes()
        let barrier = DispatchGroup()
        barrier.enter(); barrier.enter()
        runThreads(2) { i in
            let t = db.begin(.readCommitted)
            do {
                try t.put(Array("k\(i)".utf8), [1])
                barrier.leave()
                barrier.wait()
                try t.put(Array("k\(1 - i)".utf8), [2])
                try t.commit()
                out.set(i, "ok")
            } catch {
                t.rollback()
                out.set(i, (error as? KVError)?.code.code ?? "other")
            }
        }
        #expect(out.all.values.sorted() == ["40P01", "ok"])
    }
}
