import ApusCore
@testable import ApusKV
import Testing

/// Random request and release sequences on a few keys, checking the lock table's invariants
/// after every step: holders of a key are compatible, what `holds` reports matches the grants
/// the table announced, a waiting transaction waits on one key, and once every transaction has
/// released, nothing is locked.
@Suite struct LockTableRandomTests {
    @Test(arguments: 1...30)
    func invariantsHoldUnderRandomRequests(seed: Int) {
        var rng = SplitMix64(seed: UInt64(seed))
        var t = LockTable()
        let keys = (0..<3).map { Array("k\($0)".utf8) }
        let txns: [TxnID] = [1, 2, 3, 4, 5]
        // What each transaction holds per key, from the table's own answers.
        var held: [TxnID: [Int: LockMode]] = [:]
        var waiting: [TxnID: (key: Int, mode: LockMode)] = [:]
        func granted(_ id: TxnID) {
            guard let w = waiting.removeValue(forKey: id) else { return }
            let before = held[id]?[w.key]
            held[id, default: [:]][w.key] = before == .exclusive ? .exclusive : w.mode
        }
        for step in 0..<400 {
            let id = txns[Int(rng.next() % UInt64(txns.count))]
            if waiting[id] != nil {
                // A blocked transaction can only give up (timeout, cancel).
                if rng.next() % 3 == 0 {
                    waiting[id] = nil
                    for g in t.cancelWait(id) { granted(g) }
                }
                continue
            }
            if rng.next() % 4 == 0 {
                held[id] = nil
                for g in t.releaseAll(id) { granted(g) }
            } else {
                let key = Int(rng.next() % UInt64(keys.count))
                let mode: LockMode = rng.next() % 2 == 0 ? .shared : .exclusive
                switch t.acquire(id, key: keys[key], mode: mode) {
                case .granted:
                    let before = held[id]?[key]
                    held[id, default: [:]][key] = before == .exclusive ? .exclusive : mode
                case .queued:
                    waiting[id] = (key, mode)
                case .deadlock:
                    // The requester aborts: it releases everything.
                    held[id] = nil
                    for g in t.releaseAll(id) { granted(g) }
                }
            }
            for (k, key) in keys.enumerated() {
                let holders = txns.filter { held[$0]?[k] != nil }
                let exclusive = holders.filter { held[$0]?[k] == .exclusive }
                #expect(exclusive.isEmpty || holders.count == 1, "seed \(seed) step \(step): key \(k) holders \(holders)")
                for id in txns {
                    let mine = held[id]?[k]
                    #expect(t.holds(id, key: key, mode: .shared) == (mine != nil), "seed \(seed) step \(step)")
                    #expect(t.holds(id, key: key, mode: .exclusive) == (mine == .exclusive), "seed \(seed) step \(step)")
                }
            }
            for id in txns { #expect(t.isWaiting(id) == (waiting[id] != nil), "seed \(seed) step \(step)") }
        }
        for id in txns {
            waiting[id] = nil
            for g in t.cancelWait(id) { granted(g) }
        }
        for id in txns { _ = t.releaseAll(id) }
        #expect(t.lockedKeyCount == 0, "seed \(seed)")
    }
}
