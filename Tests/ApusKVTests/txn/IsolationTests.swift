import ApusCore
@testable import ApusKV
import ApusStorage
import Foundation
import Testing

private func withDB(_ body: (TxnDB) throws -> Void) throws { try withTxnDB(body) }

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }
private func s(_ v: [UInt8]?) -> String? { v.map { String(decoding: $0, as: UTF8.self) } }

private func setup(_ db: TxnDB) throws {
    let t = db.begin()
    try t.put(b("1"), b("10"))
    try t.put(b("2"), b("20"))
    try t.commit()
}

private func code(_ body: () throws -> Void) -> String? {
    do { try body(); return nil } catch let e as KVError { return e.code.code } catch { return "other" }
}

@Suite struct IsolationTests {
    /// G1a (aborted reads) and G1b (intermediate reads): never at any level.
    @Test(arguments: [IsolationLevel.readCommitted, .repeatableRead, .serializable])
    func g1aNoAbortedOrIntermediateReads(level: IsolationLevel) throws {
        try withDB { db in
            try setup(db)
            let t1 = db.begin(level), t2 = db.begin(level)
            try t1.put(b("1"), b("101"))
            t2.beginStatement()
            #expect(s(try t2.get(b("1"))) == "10")
            t1.rollback()
            t2.beginStatement()
            #expect(s(try t2.get(b("1"))) == "10")
            try t2.commit()
        }
    }

    /// OTV / snapshot: REPEATABLE READ and SERIALIZABLE keep their snapshot; READ COMMITTED sees the commit.
    @Test(arguments: [IsolationLevel.readCommitted, .repeatableRead, .serializable])
    func nonRepeatableRead(level: IsolationLevel) throws {
        try withDB { db in
            try setup(db)
            let t1 = db.begin(level), t2 = db.begin(level)
            t2.beginStatement()
            #expect(s(try t2.get(b("1"))) == "10")
            try t1.put(b("1"), b("11"))
            try t1.commit()
            t2.beginStatement()
            #expect(s(try t2.get(b("1"))) == (level == .readCommitted ? "11" : "10"))
        }
    }

    /// P4 lost update: the second writer gets 40001 under REPEATABLE READ and SERIALIZABLE.
    @Test(arguments: [IsolationLevel.repeatableRead, .serializable])
    func p4LostUpdate(level: IsolationLevel) throws {
        try withDB { db in
            try setup(db)
            let t1 = db.begin(level), t2 = db.begin(level)
            _ = try t1.get(b("1"))
            _ = try t2.get(b("1"))
            try t1.put(b("1"), b("11"))
            try t1.commit()
            #expect(code { try t2.put(b("1"), b("11")) } == "40001")
            t2.rollback()
        }
    }

    /// G2-item write skew: allowed under REPEATABLE READ, one of the two fails with 40001 under SERIALIZABLE.
    @Test(arguments: [IsolationLevel.repeatableRead, .serializable])
    func g2ItemWriteSkew(level: IsolationLevel) throws {
        try withDB { db in
            try setup(db)
            let t1 = db.begin(level), t2 = db.begin(level)
            _ = try t1.get(b("1")); _ = try t1.get(b("2"))
            _ = try t2.get(b("1")); _ = try t2.get(b("2"))
            try t1.put(b("1"), b("11"))
            try t2.put(b("2"), b("21"))
            try t1.commit()
            let c = code { try t2.commit() }
            #expect(c == (level == .serializable ? "40001" : nil))
            let r = db.begin()
            #expect(s(try r.get(b("2"))) == (level == .serializable ? "20" : "21"))
        }
    }

    /// Bank: threads move money between accounts under SERIALIZABLE, retrying on 40001/40P01; the
    /// total is unchanged at the end.
    @Test(arguments: [UInt64(1), 2, 3])
    func bankTotalIsPreserved(seed: UInt64) throws {
        try withDB { db in
            let accounts = 8
            let t = db.begin()
            for i in 0..<accounts { try t.put(b("acct\(i)"), b("100")) }
            try t.commit()
            runThreads(4) { worker in
                var rng = SplitMix64(seed: seed &* 1000 &+ UInt64(worker))
                var done = 0
                while done < 50 {
                    let from = Int(rng.next() % UInt64(accounts)), to = Int(rng.next() % UInt64(accounts))
                    if from == to { continue }
                    let tx = db.begin(.serializable, lockTimeout: 5)
                    do {
                        let a = Int(s(try tx.get(b("acct\(from)"))) ?? "0") ?? 0
                        let c = Int(s(try tx.get(b("acct\(to)"))) ?? "0") ?? 0
                        try tx.put(b("acct\(from)"), b(String(a - 1)))
                        try tx.put(b("acct\(to)"), b(String(c + 1)))
                        try tx.commit()
                        done += 1
                    } catch {
                        tx.rollback()
                    }
                }
            }
            let r = db.begin()
            var total = 0
            for i in 0..<accounts { total += Int(s(try r.get(b("acct\(i)"))) ?? "0") ?? 0 }
            #expect(total == accounts * 100, "seed \(seed)")
        }
    }
}

@Suite struct ScanIsolationTests {
    /// G2 (anti-dependency cycle over a predicate): both transactions count rows in a span and
    /// insert into it; SERIALIZABLE fails the second committer, REPEATABLE READ lets both commit.
    @Test(arguments: [IsolationLevel.repeatableRead, .serializable])
    func g2PredicateWriteSkew(level: IsolationLevel) throws {
        try withDB { db in
            try setup(db)
            let t1 = db.begin(level), t2 = db.begin(level)
            #expect(try t1.scan(lower: b("1"), upper: b("9")).count == 2)
            #expect(try t2.scan(lower: b("1"), upper: b("9")).count == 2)
            try t1.put(b("3"), b("30"))
            try t2.put(b("4"), b("40"))
            // Own writes are visible in the scan, others' pending ones are not.
            #expect(try t1.scan(lower: b("1"), upper: b("9")).map(\.key) == [b("1"), b("2"), b("3")])
            try t1.commit()
            let c = code { try t2.commit() }
            #expect(c == (level == .serializable ? "40001" : nil))
            #expect(try db.begin().scan(lower: b("1"), upper: b("9")).count == (level == .serializable ? 3 : 4))
        }
    }
}
