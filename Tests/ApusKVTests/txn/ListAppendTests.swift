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

    @Test(arguments: [UInt64(7), 8])
    func concurrentSerializableHistoryIsSerializable(seed: UInt64) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apuskv-\(UInt64.random(in: 0...UInt64.max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = StorageOptions()
        o.comparator = .mvcc
        let engine = try StorageEngine.open(directory: dir, options: o)
        defer { try? engine.close() }
        let db = TxnDB(engine: engine)
        let log = HistoryLog()
        runThreads(4) { worker in
            var rng = SplitMix64(seed: seed &* 100 &+ UInt64(worker))
            for n in 0..<40 {
                let tx = db.begin(.serializable, lockTimeout: 5)
                var h = HistoryTxn()
                do {
                    for op in 0..<3 {
                        let key = Int(rng.next() % 4)
                        let raw = try tx.get(Array("list\(key)".utf8)).map { String(decoding: $0, as: UTF8.self) } ?? ""
                        let list = raw.split(separator: ",").compactMap { Int($0) }
                        if h.reads[key] == nil && h.appends[key] == nil { h.reads[key] = list }
                        if rng.next() % 2 == 0 {
                            let el = worker * 100_000 + n * 10 + op
                            try tx.put(Array("list\(key)".utf8), Array((list + [el]).map(String.init).joined(separator: ",").utf8))
                            h.appends[key, default: []].append(el)
                        }
                    }
                    try tx.commit()
                    log.add(h)
                } catch {
                    tx.rollback()
                }
            }
        }
        let history = log.all
        #expect(history.count > 20, "seed \(seed)")
        #expect(ListAppendChecker.violations(history) == [], "seed \(seed)")
    }
}
