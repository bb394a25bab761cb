import ApusCore
import ApusKV
@testable import ApusSQL
import Foundation
import Testing

/// A small deterministic generator (SplitMix64) so that a failing seed can be replayed.
struct SeededRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// Runs `body(i)` on `n` threads at once and waits for all.
func onThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0..<n {
        group.enter()
        Thread {
            body(i)
            group.leave()
        }.start()
    }
    group.wait()
}

/// Collects values from several threads.
final class Collected<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func add(_ x: T) { lock.lock(); items.append(x); lock.unlock() }
    var all: [T] { lock.lock(); defer { lock.unlock() }; return items }
}

/// An increasing counter shared by threads (a clock for real-time order).
final class Ticker: @unchecked Sendable {
    private let lock = NSLock()
    private var now = 0
    func tick() -> Int { lock.withLock { now += 1; return now } }
}

/// Whole-system checks of SERIALIZABLE under concurrent SQL sessions.
@Suite struct SerializabilityTests {
    /// The bank: workers move money between accounts in SERIALIZABLE transactions, retrying on
    /// 40001/40P01, while readers check that every snapshot holds the same total. Each transfer
    /// also counts itself on both accounts, so a lost update would show as a missing count.
    @Test(arguments: [UInt64(1), 2, 3, 4], SQLStorageLayout.allCases)
    func bankTotalIsAlwaysTheSame(seed: UInt64, layout: SQLStorageLayout) throws {
        let accounts = 8
        let workers = 4
        let transfersEach = 40
        let values = (1...accounts).map { "(\($0), 100, 0)" }.joined(separator: ", ")
        let h = try TxnHarness(layout: layout,
            sessions: 1, setup: "CREATE TABLE acct (id int PRIMARY KEY, bal int NOT NULL, ops int NOT NULL); INSERT INTO acct VALUES \(values)")
        let committed = Collected<Int>()
        let problems = Collected<String>()
        let box = UncheckedBox(h)
        onThreads(workers + 1) { w in
            let h = box.value
            guard let s = try? h.newSession() else { problems.add("no session"); return }
            if w == workers {
                // The reader: totals in single statements and across statements of one snapshot.
                for i in 0..<60 {
                    do {
                        let total = try s.execute(sql: "SELECT sum(bal) FROM acct").last?.rows.first?.first
                        if total != .int(Int64(accounts * 100)) { problems.add("seed \(seed): total \(String(describing: total))") }
                        _ = try s.execute(sql: "BEGIN ISOLATION LEVEL REPEATABLE READ")
                        var sum: Int64 = 0
                        for id in 1...accounts {
                            if case let .int(b)? = try s.execute(sql: "SELECT bal FROM acct WHERE id = \(id)").last?.rows.first?.first { sum += b }
                        }
                        _ = try s.execute(sql: "COMMIT")
                        if sum != Int64(accounts * 100) { problems.add("seed \(seed): snapshot \(i) sums to \(sum)") }
                    } catch {
                        problems.add("seed \(seed): reader failed: \(error)")
                    }
                }
                return
            }
            var rng = SeededRandom(state: seed &* 1000 &+ UInt64(w))
            for _ in 0..<transfersEach {
                let a = 1 + rng.below(accounts)
                var b = 1 + rng.below(accounts - 1)
                if b >= a { b += 1 }
                let amount = 1 + rng.below(20)
                while true {
                    do {
                        _ = try s.execute(sql: "BEGIN ISOLATION LEVEL SERIALIZABLE")
                        guard case let .int(balance)? = try s.execute(sql: "SELECT bal FROM acct WHERE id = \(a)").last?.rows.first?.first else {
                            problems.add("no account \(a)")
                            return
                        }
                        let x = min(Int64(amount), balance)
                        _ = try s.execute(sql: "UPDATE acct SET bal = bal - \(x), ops = ops + 1 WHERE id = \(a)")
                        _ = try s.execute(sql: "UPDATE acct SET bal = bal + \(x), ops = ops + 1 WHERE id = \(b)")
                        _ = try s.execute(sql: "COMMIT")
                        committed.add(1)
                        break
                    } catch let e as SQLError where ["40001", "40P01"].contains(e.sqlState.code) {
                        _ = try? s.execute(sql: "ROLLBACK")
                    } catch {
                        problems.add("seed \(seed): transfer failed: \(error)")
                        _ = try? s.execute(sql: "ROLLBACK")
                        break
                    }
                }
            }
        }
        #expect(problems.all.isEmpty, "seed \(seed): \(problems.all.prefix(5))")
        #expect(try h.run(0, "SELECT sum(bal), sum(ops) FROM acct") == [["\(accounts * 100)", "\(2 * committed.all.count)"]], "seed \(seed)")
        #expect(committed.all.count == workers * transfersEach)
        #expect(h.coordinator.statistics.activeTransactions == 0)
    }

    /// List-append histories from concurrent SERIALIZABLE clients, checked for cycles.
    @Test(arguments: [UInt64(11), 12, 13], SQLStorageLayout.allCases)
    func listAppendHistoriesAreSerializable(seed: UInt64, layout: SQLStorageLayout) throws {
        let keys = 4
        let clients = 4
        let txnsEach = 40
        let h = try TxnHarness(layout: layout,sessions: 1, setup: "CREATE TABLE la (k int PRIMARY KEY, v text NOT NULL)")
        let history = Collected<HistoryTxn>()
        let problems = Collected<String>()
        let box = UncheckedBox(h)
        // One clock for the clients: a transaction begun after another's COMMIT returned must
        // see it (the checker's real-time edges).
        let clock = Ticker()
        onThreads(clients) { c in
            let h = box.value
            guard let s = try? h.newSession() else { problems.add("no session"); return }
            var rng = SeededRandom(state: seed &* 7919 &+ UInt64(c))
            for t in 0..<txnsEach {
                // Each attempt gets fresh elements, so that aborted attempts leave no trace.
                var attempt = 0
                while true {
                    attempt += 1
                    var txn = HistoryTxn(began: clock.tick())
                    do {
                        _ = try s.execute(sql: "BEGIN ISOLATION LEVEL SERIALIZABLE")
                        for op in 0..<(1 + rng.below(4)) {
                            let k = 1 + rng.below(keys)
                            if rng.below(2) == 0 {
                                let row = try s.execute(sql: "SELECT v FROM la WHERE k = \(k)").last?.rows.first?.first
                                var list: [Int] = []
                                if case let .text(v)? = row { list = v.split(separator: ",").compactMap { Int($0) } }
                                if txn.reads[k] == nil && txn.appends[k] == nil { txn.reads[k] = list }
                            } else {
                                let e = ((c * 1000 + t) * 100 + attempt % 100) * 10 + op
                                _ = try s.execute(sql: "INSERT INTO la VALUES (\(k), '\(e)') ON CONFLICT (k) DO UPDATE SET v = la.v || ',\(e)'")
                                txn.appends[k, default: []].append(e)
                            }
                        }
                        _ = try s.execute(sql: "COMMIT")
                        txn.ended = clock.tick()
                        history.add(txn)
                        break
                    } catch let e as SQLError where ["40001", "40P01"].contains(e.sqlState.code) {
                        _ = try? s.execute(sql: "ROLLBACK")
                    } catch {
                        problems.add("seed \(seed): \(error)")
                        _ = try? s.execute(sql: "ROLLBACK")
                        break
                    }
                }
            }
        }
        // A final read of every key fixes the complete order of its elements.
        var final = HistoryTxn(began: clock.tick())
        for k in 1...keys {
            let rows = try h.run(0, "SELECT v FROM la WHERE k = \(k)")
            final.reads[k] = rows.first.map { $0[0].split(separator: ",").compactMap { Int($0) } } ?? []
        }
        final.ended = clock.tick()
        let txns = history.all + [final]
        #expect(problems.all.isEmpty, "seed \(seed): \(problems.all.prefix(5))")
        #expect(history.all.count == clients * txnsEach)
        let violations = ListAppendChecker.violations(txns)
        #expect(violations.isEmpty, "seed \(seed): \(violations.prefix(5))")
    }
}
