import ApusCore
@testable import ApusKV
import ApusStorage
import Foundation
import Testing

/// One committed transaction of a list-append history: reads of whole lists and appends.
struct HistoryTxn: Sendable {
    var reads: [Int: [Int]] = [:]
    var appends: [Int: [Int]] = [:]
}

/// A list-append serializability checker in the spirit of Elle: the longest read of each key fixes
/// its version order; from it come ww (appender of element i → appender of element i+1), wr
/// (appender of a read's last element → the reader) and rw (reader of a prefix → appender of the
/// next element) edges. A cycle in that graph, or a read that is not a prefix of the longest one,
/// is a serializability violation.
enum ListAppendChecker {
    static func violations(_ txns: [HistoryTxn]) -> [String] {
        var problems: [String] = []
        var appender: [Int: Int] = [:]  // element -> txn index (elements are unique)
        for (i, t) in txns.enumerated() { for (_, els) in t.appends { for e in els { appender[e] = i } } }
        var longest: [Int: [Int]] = [:]
        for t in txns { for (k, l) in t.reads where l.count > (longest[k]?.count ?? -1) { longest[k] = l } }
        var edges = Array(repeating: Set<Int>(), count: txns.count)
        for (k, order) in longest {
            for i in 1..<max(order.count, 1) {
                if let a = appender[order[i - 1]], let b = appender[order[i]], a != b { edges[a].insert(b) }
            }
            for (r, t) in txns.enumerated() {
                guard let l = t.reads[k] else { continue }
                if Array(order.prefix(l.count)) != l { problems.append("read of \(k) \(l) is not a prefix of \(order)") }
                if let last = l.last, let w = appender[last], w != r { edges[w].insert(r) }
                if l.count < order.count, let w = appender[order[l.count]], w != r { edges[r].insert(w) }
            }
        }
        // Cycle search: iterative DFS with colours.
        var colour = Array(repeating: 0, count: txns.count)
        for start in 0..<txns.count where colour[start] == 0 {
            var stack: [(Int, [Int])] = [(start, Array(edges[start]).sorted())]
            colour[start] = 1
            while !stack.isEmpty {
                if let next = stack[stack.count - 1].1.popLast() {
                    if colour[next] == 1 { problems.append("dependency cycle through transaction \(next)") ; return problems }
                    if colour[next] == 0 { colour[next] = 1; stack.append((next, Array(edges[next]).sorted())) }
                } else {
                    colour[stack.removeLast().0] = 2
                }
            }
        }
        return problems
    }
}

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
