import ApusDB
import ApusSQL
import Dispatch
import Foundation
import Synchronization
import Testing

/// `Database` is shared between threads (README): concurrent statements and transaction
/// closures from many threads must neither lose nor tear a write.
@Suite struct DatabaseConcurrencyTests {
    /// Eight threads move money between accounts in transactions while others read the total:
    /// every read sees the invariant total, and the final balances match the transfers made.
    @Test func transfersFromManyThreadsKeepTheTotal() throws {
        let db = try Database.inMemory()
        defer { try? db.close() }
        let accounts = 20, perAccount: Int64 = 1000
        try db.execute("CREATE TABLE acct (id int PRIMARY KEY, balance bigint NOT NULL)")
        try db.execute("INSERT INTO acct SELECT g, \(perAccount) FROM generate_series(1, \(accounts)) g")
        let threads = 8, transfersPerThread = 150
        let badTotals = Mutex(0)
        let failures = Mutex<[String]>([])
        let net = Mutex([Int64](repeating: 0, count: accounts + 1))
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var rng = SystemRandomNumberGenerator()
            for i in 0..<transfersPerThread {
                do {
                    if (t + i) % 5 == 0 {
                        // A reader: the total is invariant at every statement.
                        let total = try db.execute("SELECT sum(balance) FROM acct").rows[0][0]
                        if total != .numeric(SQLDecimal(Int64(accounts) * perAccount)) && total != .int(Int64(accounts) * perAccount) {
                            badTotals.withLock { $0 += 1 }
                        }
                        continue
                    }
                    let from = Int.random(in: 1...accounts, using: &rng)
                    let to = from % accounts + 1
                    try db.transaction { tx in
                        try tx.execute("UPDATE acct SET balance = balance - 1 WHERE id = $1", parameters: [.int(Int64(from))])
                        try tx.execute("UPDATE acct SET balance = balance + 1 WHERE id = $1", parameters: [.int(Int64(to))])
                    }
                    net.withLock { $0[from] -= 1; $0[to] += 1 }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        #expect(badTotals.withLock { $0 } == 0)
        let balances = try db.execute("SELECT id, balance FROM acct ORDER BY id").rows
        let expected = net.withLock { $0 }
        #expect(balances.count == accounts)
        for r in balances {
            guard case let .int(id) = r[0] else { Issue.record("bad id \(r[0])"); continue }
            #expect(r[1] == .int(perAccount + expected[Int(id)]), "account \(id)")
        }
    }

    /// Concurrent autocommit inserts through one shared prepared statement: every row lands
    /// exactly once.
    @Test func concurrentInsertsAllLand() throws {
        let db = try Database.inMemory()
        defer { try? db.close() }
        try db.execute("CREATE TABLE log (id int PRIMARY KEY, thread int, n int)")
        let insert = try db.prepare("INSERT INTO log VALUES ($1, $2, $3)")
        let threads = 6, each = 200
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for n in 0..<each {
                do { _ = try insert.execute([.int(Int64(t * each + n)), .int(Int64(t)), .int(Int64(n))]) } catch {
                    failures.withLock { $0 += 1 }
                }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        let rows = try db.execute("SELECT thread, count(*), min(n), max(n) FROM log GROUP BY thread ORDER BY thread").rows
        #expect(rows.count == threads)
        for (t, r) in rows.enumerated() {
            let want: [Value] = [.int(Int64(t)), .int(Int64(each)), .int(0), .int(Int64(each - 1))]
            #expect(r.values == want)
        }
    }
}
