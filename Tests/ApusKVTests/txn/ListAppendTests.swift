import ApusCore
@testable import ApusKV
import ApusStorage
import Foundation
import Testing

final class HistoryLog: @unchecked Sendable {
    private let lock = NSLock()
    private var txns: [HistoryTxn] = []
    func add(_ t: HistoryTxn) { lock.lock(); txns.append(t); lock.unlock() }
    var all: [HistoryTxn] { lock.lock(); defer { lock.unlock() }; return txns }
}

@Suite struct ListAppendTests {
    @Test func checkerFindsAWriteSkewCycle() {
        // T0 and T1 both read empty lists of keys 1 and 2, then append to different keys: rw cycle.
        var t0 = HistoryTxn(), t1 = HistoryTxn(), t2 = HistoryTxn()
        t0.reads = [1: [], 2: []]; t0.appends = [1: [10]]
        t1.reads = [1: [], 2: []]; t1.appends = [2: [20]]
        t2.reads = [1: [10], 2: [20]]
        #expect(!ListAppendChecker.violations([t0, t1, t2]).isEmpty)
        var t1s = t1
        t1s.reads = [1: [10], 2: []]
        #expect(ListAppendChecker.violations([t0, t1s, t2]).isEmpty)
    }

    /// A reader that began after an append returned and still read the list without it is a
    /// real-time violation (serializable, not strictly); with overlapping times it is fine, and
    /// without times no real-time order is checked.
    @Test func checkerFindsAStaleReadAfterACommitReturned() {
        let writer = HistoryTxn(appends: [1: [10]], began: 1, ended: 2)
        let stale = HistoryTxn(reads: [1: []], began: 3, ended: 4)
        let final = HistoryTxn(reads: [1: [10]])
        #expect(!ListAppendChecker.violations([writer, stale, final]).isEmpty)
        var overlapping = stale
        overlapping.began = 2
        #expect(ListAppendChecker.violations([writer, overlapping, final]).isEmpty)
        #expect(ListAppendChecker.violations([HistoryTxn(appends: [1: [10]]), HistoryTxn(reads: [1: []]), final]).isEmpty)
        // Real-time order that agrees with the data: no violation.
        let fresh = HistoryTxn(reads: [1: [10]], began: 3, ended: 4)
        #expect(ListAppendChecker.violations([writer, fresh, final]).isEmpty)
    }

    @Test(arguments: [UInt64(7), 8])
    func concurrentSerializableHistoryIsSerializable(seed: UInt64) throws {
        try withTxnDB { db in try run(db, seed: seed) }
    }

    private func run(_ db: TxnDB, seed: UInt64) throws {
        let history = listAppendHistory(db, seed: seed)
        #expect(history.count > 20, "seed \(seed)")
        #expect(ListAppendChecker.violations(history) == [], "seed \(seed)")
    }
}
