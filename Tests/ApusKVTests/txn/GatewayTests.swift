import ApusCore
@testable import ApusKV
import ApusStorage
import Foundation
import Synchronization
import Testing

/// Transactions from gateways with skewed clocks over several ranges, with no commit order of
/// any one node: the timestamp caches, pushes and refreshes alone keep the histories
/// serializable and every snapshot consistent.
@Suite struct GatewayTests {
    /// Clock offsets of the gateways: one on time, one a little ahead, one behind, one far
    /// ahead (as nodes' clocks drift within a cluster's maximum offset).
    static let offsets: [Int64] = [0, 3_000_000, -20_000_000, 250_000_000]

    private static func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// List-append transactions over eight keys on three ranges, each worker on its own
    /// gateway; some read every list through a scan. The history must have no cycle.
    @Test(arguments: [UInt64(11), 12, 13])
    func listAppendAcrossGatewaysIsSerializable(seed: UInt64) throws {
        try withTxnDB(splitPoints: [GatewayTests.b("list3"), GatewayTests.b("list6")]) { db in
            let gateways = GatewayTests.offsets.map { TxnGateway(offsetNanos: $0, maxOffsetNanos: TxnGateway.clusterMaxOffsetNanos) }
            let history = listAppendHistory(db, seed: seed, workers: gateways.count, keys: 8, scans: true) { gateways[$0] }
            #expect(history.count > 40, "seed \(seed)")
            #expect(ListAppendChecker.violations(history) == [], "seed \(seed)")
        }
    }

    /// Transfers between accounts on four ranges from gateways with skewed clocks, while
    /// read-only transactions on every gateway sum all accounts: every sum is the total (each
    /// snapshot is consistent), and so is the final one (no lost update).
    @Test(arguments: [UInt64(21), 22, 23])
    func everySnapshotSeesTheSameTotal(seed: UInt64) throws {
        let accounts = 12
        let splits = [GatewayTests.b("acct03"), GatewayTests.b("acct06"), GatewayTests.b("acct09")]
        try withTxnDB(splitPoints: splits) { db in
            let gateways = GatewayTests.offsets.map { TxnGateway(offsetNanos: $0, maxOffsetNanos: TxnGateway.clusterMaxOffsetNanos) }
            let setup = db.begin()
            for i in 0..<accounts { try setup.put(GatewayTests.b(String(format: "acct%02d", i)), GatewayTests.b("100")) }
            try setup.commit()
            let wrongSums = Mutex<[Int]>([])
            let sums = Mutex(0)
            runThreads(gateways.count * 2) { worker in
                var rng = SplitMix64(seed: seed &* 1000 &+ UInt64(worker))
                let gateway = gateways[worker % gateways.count]
                if worker >= gateways.count {
                    // A reader: whole-table sums, half by point reads, half by a scan.
                    for n in 0..<40 {
                        let tx = db.begin(.serializable, lockTimeout: 5, gateway: gateway)
                        do {
                            var total = 0
                            if n % 2 == 0 {
                                for i in 0..<accounts {
                                    total += Int(String(decoding: try tx.get(GatewayTests.b(String(format: "acct%02d", i))) ?? [], as: UTF8.self)) ?? 0
                                }
                            } else {
                                for (_, v) in try tx.scan(lower: GatewayTests.b("acct"), upper: GatewayTests.b("acct99")) {
                                    total += Int(String(decoding: v, as: UTF8.self)) ?? 0
                                }
                            }
                            try tx.commit()
                            sums.withLock { $0 += 1 }
                            if total != accounts * 100 { wrongSums.withLock { $0.append(total) } }
                        } catch {
                            tx.rollback()
                        }
                    }
                    return
                }
                var done = 0, attempts = 0
                while done < 40 && attempts < 400 {
                    attempts += 1
                    let from = rng.uniform(accounts), to = rng.uniform(accounts)
                    if from == to { continue }
                    let tx = db.begin(.serializable, lockTimeout: 5, gateway: gateway)
                    do {
                        let kf = GatewayTests.b(String(format: "acct%02d", from)), kt = GatewayTests.b(String(format: "acct%02d", to))
                        let a = Int(String(decoding: try tx.get(kf) ?? [], as: UTF8.self)) ?? 0
                        let c = Int(String(decoding: try tx.get(kt) ?? [], as: UTF8.self)) ?? 0
                        try tx.put(kf, GatewayTests.b(String(a - 1)))
                        try tx.put(kt, GatewayTests.b(String(c + 1)))
                        try tx.commit()
                        done += 1
                    } catch {
                        tx.rollback()
                    }
                }
            }
            #expect(wrongSums.withLock { $0 } == [], "seed \(seed)")
            #expect(sums.withLock { $0 } > 40, "seed \(seed)")
            for g in gateways {
                var total = 0
                for (_, v) in try db.begin(gateway: g).scan(lower: GatewayTests.b("acct"), upper: GatewayTests.b("acct99")) {
                    total += Int(String(decoding: v, as: UTF8.self)) ?? 0
                }
                #expect(total == accounts * 100, "seed \(seed)")
            }
        }
    }

    /// A writer on a gateway whose clock is far behind writes a key that a gateway far ahead
    /// read: the write lands above that read, so the reader's snapshot stays right and the
    /// reader, refreshing, fails its write skew instead of committing it. (The gateways allow
    /// for the 10 s between their clocks.)
    @Test func aWriterBehindLandsAboveAReadAhead() throws {
        try withTxnDB(splitPoints: [GatewayTests.b("y")]) { db in
            let ahead = TxnGateway(offsetNanos: 5_000_000_000, maxOffsetNanos: 11_000_000_000)
            let behind = TxnGateway(offsetNanos: -5_000_000_000, maxOffsetNanos: 11_000_000_000)
            let setup = db.begin()
            try setup.put(GatewayTests.b("x"), GatewayTests.b("0"))
            try setup.put(GatewayTests.b("y"), GatewayTests.b("0"))
            try setup.commit()
            let t1 = db.begin(.serializable, gateway: ahead)
            #expect(try t1.get(GatewayTests.b("x")) == GatewayTests.b("0"))
            #expect(try t1.get(GatewayTests.b("y")) == GatewayTests.b("0"))
            // T2, 10 s behind, reads y: the setup committed above its clock, within the
            // uncertainty interval, so its read timestamp moves up and it reads the value.
            let t2 = db.begin(.serializable, gateway: behind)
            let t2Start = t2.readTS
            #expect(try t2.get(GatewayTests.b("y")) == GatewayTests.b("0"))
            #expect(t2.readTS > t2Start)
            // It writes x, which t1 read: the write lands above t1's read.
            try t2.put(GatewayTests.b("x"), GatewayTests.b("2"))
            #expect(t2.writeTS > t1.readTS, "the write landed below a read of its key")
            try t2.commit()
            // Write skew: t1 writes y, which t2 read (its refresh noted the read at its commit
            // timestamp, so t1's write lands above that); t2 committed x, which t1 read, above
            // t1's read timestamp: t1's refresh fails.
            try t1.put(GatewayTests.b("y"), GatewayTests.b("1"))
            var code: String?
            do { try t1.commit() } catch { code = (error as? KVError)?.code.code }
            #expect(code == "40001")
            // The gateway behind observed its pushed commit: its next transaction reads it.
            #expect(try db.begin(gateway: behind).get(GatewayTests.b("x")) == GatewayTests.b("2"))
            #expect(try db.begin(gateway: ahead).get(GatewayTests.b("y")) == GatewayTests.b("0"))
        }
    }

    /// A value committed on a gateway whose clock is ahead is read by a transaction that begins
    /// afterwards on a gateway behind it (the commit is within its uncertainty interval); a
    /// pending one is not waited for.
    @Test func aCommitOnAGatewayAheadIsSeenByALaterTransactionBehind() throws {
        try withTxnDB(splitPoints: []) { db in
            let ahead = TxnGateway(offsetNanos: 200_000_000, maxOffsetNanos: TxnGateway.clusterMaxOffsetNanos)
            let behind = TxnGateway(offsetNanos: -200_000_000, maxOffsetNanos: TxnGateway.clusterMaxOffsetNanos)
            let w = db.begin(gateway: ahead)
            try w.put(GatewayTests.b("k"), GatewayTests.b("v1"))
            try w.commit()
            let r = db.begin(.repeatableRead, gateway: behind)
            #expect(r.readTS < w.writeTS, "the clocks were not skewed")
            #expect(try r.get(GatewayTests.b("k")) == GatewayTests.b("v1"))
            // A pending write from ahead is concurrent: the reader pushes it and reads on.
            let p = db.begin(gateway: ahead)
            try p.put(GatewayTests.b("k"), GatewayTests.b("v2"))
            #expect(try r.get(GatewayTests.b("k")) == GatewayTests.b("v1"))
            try p.commit()
            // Now p's commit is within r's uncertainty interval, and r cannot tell that it came
            // after r began: r restarts (40001) rather than read a moved snapshot.
            var again: [UInt8]?
            var code: String?
            do { again = try r.get(GatewayTests.b("k")) } catch { code = (error as? KVError)?.code.code }
            #expect(code == "40001" || (code == nil && again == GatewayTests.b("v1")), "the snapshot moved")
            #expect(try db.begin(gateway: behind).get(GatewayTests.b("k")) == GatewayTests.b("v2"))
        }
    }
}

/// What a stop between a commit's record and its intents' resolution leaves: a COMMITTED record
/// and intents on other ranges. Readers count them as committed values (through the record),
/// within the uncertainty interval too, and a later writer keeps the committed value as a
/// version under its own intent.
@Suite struct UnresolvedCommitTests {
    private static func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// Lays intents of transaction 77 on "a" (its anchor) and "z", with a COMMITTED record at
    /// `commitTS`, as the record's durable write leaves them before resolution.
    private static func leaveCommitted(_ db: TxnDB, at commitTS: Timestamp) throws {
        var batch = WriteBatch()
        for k in ["a", "z"] {
            MVCCStore.putIntent(&batch, key: b(k), txn: 77, ts: commitTS, value: b("v-\(k)"), anchor: b("a"))
        }
        KVRange.putRecord(&batch, at: TxnRecord.key(77, anchor: b("a")),
                          TxnRecord(status: .committed, timestamp: commitTS, heartbeat: SystemClock.wallNanos()))
        try db.store.engine.write(batch, sync: true)
    }

    private static func withDB(_ body: (TxnDB) throws -> Void) throws {
        try withTxnDB(splitPoints: [b("m")], body)
    }

    @Test func committedIntentsAreReadThroughTheirRecord() throws {
        try UnresolvedCommitTests.withDB { db in
            let gateway = TxnGateway(maxOffsetNanos: TxnGateway.clusterMaxOffsetNanos)
            // Committed 100 ms ahead of the gateway's clock, on a gateway whose clock is ahead.
            let commitTS = Timestamp(wallNanos: gateway.now().wallNanos + 100_000_000)
            try UnresolvedCommitTests.leaveCommitted(db, at: commitTS)
            // A reader allowing for skewed clocks begins below the commit, within its
            // uncertainty interval: it moves up and reads both values.
            let r = db.begin(.repeatableRead, gateway: gateway)
            #expect(r.readTS < commitTS)
            #expect(try r.get(UnresolvedCommitTests.b("z")) == UnresolvedCommitTests.b("v-z"))
            #expect(r.readTS >= commitTS)
            #expect(try r.get(UnresolvedCommitTests.b("a")) == UnresolvedCommitTests.b("v-a"))
            // A reader on one clock (no uncertainty) below the commit does not see it.
            let early = db.begin(.repeatableRead)
            if early.readTS < commitTS {
                #expect(try early.scan(lower: UnresolvedCommitTests.b("a"), upper: UnresolvedCommitTests.b("zz")).isEmpty)
            }
        }
    }

    @Test func aLaterWriterKeepsTheCommittedValueAsAVersion() throws {
        try UnresolvedCommitTests.withDB { db in
            let commitTS = db.gateway.now()
            try UnresolvedCommitTests.leaveCommitted(db, at: commitTS)
            let w = db.begin(.serializable)
            #expect(w.readTS > commitTS)
            try w.put(UnresolvedCommitTests.b("z"), UnresolvedCommitTests.b("w-z"))
            // Before w commits, a reader sees the committed value (now a version under w's intent).
            #expect(try db.begin().get(UnresolvedCommitTests.b("z")) == UnresolvedCommitTests.b("v-z"))
            try w.commit()
            #expect(try db.begin().get(UnresolvedCommitTests.b("z")) == UnresolvedCommitTests.b("w-z"))
            // The committed value stays in the history at its timestamp (w was pushed above the
            // reader that met its intent).
            #expect(try db.store.latestVersion(UnresolvedCommitTests.b("z")) == w.commitTS)
            #expect(w.commitTS.map { $0 > w.writeTS } == true)
            #expect(try db.store.get(UnresolvedCommitTests.b("z"), readTS: commitTS, txn: 0, reportIntents: false) == .value(UnresolvedCommitTests.b("v-z")))
            // A REPEATABLE READ writer whose snapshot is below the commit fails (first committer wins).
            let stale = db.begin(.repeatableRead)
            let commit2 = stale.readTS.next
            var batch = WriteBatch()
            MVCCStore.putIntent(&batch, key: UnresolvedCommitTests.b("q"), txn: 78, ts: commit2, value: UnresolvedCommitTests.b("v-q"),
                                anchor: UnresolvedCommitTests.b("q"))
            KVRange.putRecord(&batch, at: TxnRecord.key(78, anchor: UnresolvedCommitTests.b("q")),
                              TxnRecord(status: .committed, timestamp: commit2, heartbeat: SystemClock.wallNanos()))
            try db.store.engine.write(batch, sync: true)
            var code: String?
            do { try stale.put(UnresolvedCommitTests.b("q"), UnresolvedCommitTests.b("lost")) } catch { code = (error as? KVError)?.code.code }
            #expect(code == "40001")
        }
    }
}

/// What the simulations do between operations besides moving the clock a little: now and then
/// a range's lease moves (`TxnDB.transferLease`), or the clock jumps by more than a heartbeat
/// timeout (plus the gateways' offset allowance), so that transactions idle across the jump
/// that a moved lease does not know are aborted by the next one to meet their intents.
struct SimulationEvents: CustomStringConvertible {
    /// The simulations' heartbeat timeout (with the 500 ms offset allowance, idle for 700 ms).
    static let heartbeatTimeoutNanos: Int64 = 200_000_000
    private(set) var leaseMoves = 0
    private(set) var jumps = 0

    /// Advances `clock`; returns true when the step was a lease move (no operation runs then).
    mutating func step(_ db: TxnDB, _ clock: SimulatedClock, _ rng: inout SplitMix64) -> Bool {
        if rng.uniform(50) == 0 {
            jumps += 1
            clock.advance(800_000_000)
        } else {
            clock.advance(UInt64(rng.uniform(2_000_000)))
        }
        guard rng.uniform(40) == 0 else { return false }
        db.transferLease(db.router.all[rng.uniform(db.router.all.count)])
        leaseMoves += 1
        return true
    }

    var description: String { "\(leaseMoves) lease moves, \(jumps) clock jumps" }
}

/// Physical time that the simulation moves forward by hand.
final class SimulatedClock: PhysicalClock, @unchecked Sendable {
    /// Starts at the system clock's time (so that it continues what a system-clock gateway wrote).
    private let now = Mutex<UInt64>(SystemClock().nowNanos())
    func nowNanos() -> UInt64 { now.withLock { $0 } }
    func advance(_ nanos: UInt64) { now.withLock { $0 += nanos } }
}

/// Transactions from four gateways with skewed clocks, interleaved one operation at a time by
/// a seeded scheduler on one thread, on a simulated clock, now and then a gateway failing and
/// being replaced, a range's lease moving (its timestamp cache, live transactions and locks
/// forgotten) and the clock jumping past heartbeat timeouts: every run is reproducible from its
/// seed. A lock held by another open transaction fails the request at once (no waiting on one
/// thread), and the transaction rolls back. The committed history must be serializable.
@Suite struct GatewaySimulationTests {
    private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    private struct Open {
        var txn: KVTxn
        var history = HistoryTxn()
        var ops = 0
    }

    @Test(arguments: 1...40)
    func interleavedHistoriesAreSerializable(seed: Int) throws {
        try withTxnDB(splitPoints: [b("list3"), b("list6")], heartbeatTimeoutNanos: SimulationEvents.heartbeatTimeoutNanos) { db in
            try run(db, seed: seed)
        }
    }

    private func run(_ db: TxnDB, seed: Int) throws {
        let clock = SimulatedClock()
        var gateways = GatewayTests.offsets.map {
            TxnGateway(offsetNanos: $0, maxOffsetNanos: TxnGateway.clusterMaxOffsetNanos, physical: clock)
        }
        var rng = SplitMix64(seed: UInt64(seed))
        var open: [Open] = []
        var committed: [HistoryTxn] = []
        var nextElement = 1
        func parse(_ v: [UInt8]?) -> [Int] {
            (v.map { String(decoding: $0, as: UTF8.self) } ?? "").split(separator: ",").compactMap { Int($0) }
        }
        var aborted = 0, failures = 0
        var events = SimulationEvents()
        for _ in 0..<500 {
            if events.step(db, clock, &rng) { continue }
            if rng.uniform(120) == 0 {
                // A gateway fails (its open transactions are aborted) and a new one, with the
                // same clock offset, takes its place.
                let g = rng.uniform(gateways.count)
                db.gatewayFailed(gateways[g])
                failures += 1
                gateways[g] = TxnGateway(offsetNanos: GatewayTests.offsets[g], maxOffsetNanos: TxnGateway.clusterMaxOffsetNanos,
                                         physical: clock)
                continue
            }
            if open.count < 4 && (open.isEmpty || rng.uniform(4) == 0) {
                let level: IsolationLevel = rng.uniform(5) == 0 ? .repeatableRead : .serializable
                open.append(Open(txn: db.begin(level, lockTimeout: 0, gateway: gateways[rng.uniform(gateways.count)])))
                continue
            }
            let i = rng.uniform(open.count)
            var t = open[i]
            do {
                if t.ops >= 4 || rng.uniform(6) == 0 {
                    try t.txn.commit()
                    // REPEATABLE READ may write skew: only SERIALIZABLE histories are checked.
                    if t.txn.isolation == .serializable { committed.append(t.history) }
                    open.remove(at: i)
                    continue
                }
                t.ops += 1
                switch rng.uniform(5) {
                case 0:
                    for (k, v) in try t.txn.scan(lower: b("list0"), upper: b("list9")) {
                        if let key = Int(String(decoding: k.dropFirst(4), as: UTF8.self)), t.history.reads[key] == nil,
                           t.history.appends[key] == nil {
                            t.history.reads[key] = parse(v)
                        }
                    }
                    for key in 0..<8 where t.history.reads[key] == nil && t.history.appends[key] == nil { t.history.reads[key] = [] }
                case 1, 2:
                    let key = rng.uniform(8)
                    let list = parse(try t.txn.get(b("list\(key)")))
                    if t.history.reads[key] == nil && t.history.appends[key] == nil { t.history.reads[key] = list }
                default:
                    let key = rng.uniform(8)
                    let list = parse(try t.txn.get(b("list\(key)")))
                    if t.history.reads[key] == nil && t.history.appends[key] == nil { t.history.reads[key] = list }
                    try t.txn.put(b("list\(key)"), b((list + [nextElement]).map(String.init).joined(separator: ",")))
                    t.history.appends[key, default: []].append(nextElement)
                    nextElement += 1
                }
                open[i] = t
            } catch {
                t.txn.rollback()
                open.remove(at: i)
                aborted += 1
            }
        }
        for t in open { t.txn.rollback() }
        #expect(committed.count > 20, "seed \(seed): \(committed.count) committed, \(aborted) aborted, \(failures) gateway failures, \(events)")
        #expect(ListAppendChecker.violations(committed) == [], "seed \(seed)")
    }
}

/// A gateway fails (its node is gone): its pending transactions are aborted on the ranges
/// holding their records, their locks go to the writers waiting, their intents are invisible
/// and overwritten, and the failed gateway's transactions cannot commit.
@Suite struct GatewayFailureTests {
    private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func aFailedGatewaysTransactionsAreAbortedAndTheirLocksGo() throws {
        try withTxnDB(splitPoints: [Array("m".utf8)]) { db in
            let a = TxnGateway(), other = TxnGateway()
            let setup = db.begin()
            try setup.put(b("k"), b("0"))
            try setup.commit()
            // A transaction on gateway a writes on both ranges, and a writer on the other
            // gateway queues behind its lock on "k".
            let t = db.begin(gateway: a)
            try t.put(b("k"), b("t"))
            try t.put(b("z"), b("t"))
            // Without the failure the writer would wait out its 30 s timeout.
            let writer = startQueuedWriter(db, key: b("k"), value: b("w"), gateway: other)
            #expect(db.gatewayFailed(a) == 1)
            #expect(writer() == "committed")
            #expect(try db.begin(gateway: other).get(b("k")) == b("w"))
            #expect(try db.begin(gateway: other).get(b("z")) == nil)
            // The failed gateway's transaction cannot go on.
            var code: String?
            do { try t.commit() } catch { code = (error as? KVError)?.code.code }
            #expect(code == "40001")
            let late = db.begin(gateway: a)
            code = nil
            do { try late.put(b("q"), b("late")) } catch { code = (error as? KVError)?.code.code }
            #expect(code == "40001")
            // A writer takes "z" over from the aborted intent.
            let x = db.begin(gateway: other)
            try x.put(b("z"), b("x"))
            try x.commit()
            #expect(try db.begin(gateway: other).get(b("z")) == b("x"))
            #expect(db.router.all.allSatisfy { $0.live.count == 0 })
        }
    }
}

/// Transfers and whole-table sums from four skewed gateways over three ranges, interleaved one
/// read or write at a time by a seeded scheduler on a simulated clock: every sum a transaction
/// completes, committed or not, is the total (its reads are one snapshot), and so is the end.
@Suite struct GatewayBankSimulationTests {
    private static let accounts = 9
    private static func key(_ i: Int) -> [UInt8] { Array("acct\(i)".utf8) }

    /// An open transaction and what it still has to do.
    private struct Open {
        var txn: KVTxn
        /// Transfer: from, to; sum: nil.
        var transfer: (from: Int, to: Int)?
        var step = 0
        var balances: [Int] = []
    }

    @Test(arguments: 1...30)
    func everySumIsTheTotal(seed: Int) throws {
        try withTxnDB(splitPoints: [Array("acct3".utf8), Array("acct6".utf8)], heartbeatTimeoutNanos: SimulationEvents.heartbeatTimeoutNanos) { db in
            try run(db, seed: seed)
        }
    }

    private func run(_ db: TxnDB, seed: Int) throws {
        let n = GatewayBankSimulationTests.accounts
        let setup = db.begin()
        for i in 0..<n { try setup.put(GatewayBankSimulationTests.key(i), Array("100".utf8)) }
        try setup.commit()
        let clock = SimulatedClock()
        let gateways = GatewayTests.offsets.map {
            TxnGateway(offsetNanos: $0, maxOffsetNanos: TxnGateway.clusterMaxOffsetNanos, physical: clock)
        }
        // The simulated clock starts where the system clock is, just after the set-up's commit:
        // a gateway behind reads below that commit, within its uncertainty interval, and must
        // move up to it (or its sums come out 0).
        var rng = SplitMix64(seed: UInt64(seed) &+ 1000)
        var open: [Open] = []
        var sums = 0, transfers = 0
        var events = SimulationEvents()
        func value(_ v: [UInt8]?) -> Int { Int(String(decoding: v ?? [], as: UTF8.self)) ?? 0 }
        for _ in 0..<600 {
            if events.step(db, clock, &rng) { continue }
            if open.count < 4 && (open.isEmpty || rng.uniform(3) == 0) {
                let level: IsolationLevel = rng.uniform(3) == 0 ? .repeatableRead : .serializable
                let txn = db.begin(level, lockTimeout: 0, gateway: gateways[rng.uniform(gateways.count)])
                let from = rng.uniform(n), to = (from + 1 + rng.uniform(n - 1)) % n
                open.append(Open(txn: txn, transfer: rng.uniform(2) == 0 ? (from, to) : nil))
                continue
            }
            let i = rng.uniform(open.count)
            var t = open[i]
            do {
                if let (from, to) = t.transfer {
                    switch t.step {
                    case 0: t.balances.append(value(try t.txn.get(GatewayBankSimulationTests.key(from))))
                    case 1: t.balances.append(value(try t.txn.get(GatewayBankSimulationTests.key(to))))
                    case 2: try t.txn.put(GatewayBankSimulationTests.key(from), Array(String(t.balances[0] - 1).utf8))
                    case 3: try t.txn.put(GatewayBankSimulationTests.key(to), Array(String(t.balances[1] + 1).utf8))
                    default:
                        try t.txn.commit()
                        transfers += 1
                        open.remove(at: i)
                        continue
                    }
                } else if t.step < n {
                    t.balances.append(value(try t.txn.get(GatewayBankSimulationTests.key(t.step))))
                } else {
                    #expect(t.balances.reduce(0, +) == n * 100, "seed \(seed): a sum read \(t.balances)")
                    try t.txn.commit()
                    sums += 1
                    open.remove(at: i)
                    continue
                }
                t.step += 1
                open[i] = t
            } catch {
                t.txn.rollback()
                open.remove(at: i)
            }
        }
        for t in open { t.txn.rollback() }
        #expect(sums > 5 && transfers > 5, "seed \(seed): \(sums) sums, \(transfers) transfers, \(events)")
        var total = 0
        for i in 0..<n { total += value(try db.begin(gateway: gateways[0]).get(GatewayBankSimulationTests.key(i))) }
        #expect(total == n * 100, "seed \(seed)")
    }
}
