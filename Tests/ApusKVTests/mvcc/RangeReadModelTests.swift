// `KVRange.get` and `KVRange.scan` against a model of versions and intents: random committed
// versions (also below newer ones), intents of transactions that are running, committed or
// aborted, resolutions, range deletions (in half the runs: without them reads probe the engine,
// with them the probes fall back to iterators), flushes and compactions; every key (and keys
// never written, and keys that are prefixes of others) read at many timestamps by the intents'
// owner and by others must give what the model says, and so must scans forward and in reverse,
// of the whole span, of one key's span and of a key with the keys it prefixes, and scans that
// stop after a few keys.
import ApusCore
@testable import ApusKV
import ApusStorage
import Foundation
import Testing

@Suite struct RangeReadModelTests {
    /// What the model holds for one key: versions by timestamp (nil value: a deletion) and the intent.
    struct Entry {
        var versions: [Timestamp: [UInt8]?] = [:]
        var intent: Intent?
    }

    /// Owners of intents: 1 and 2 are running, 3 committed at 55, 4 aborted.
    static func committedAt(_ txn: TxnID) -> Timestamp? { txn == 3 ? Timestamp(wallNanos: 55) : nil }

    static func visibility(_ i: Intent, _ k: [UInt8], _ s: Snapshot) -> IntentVisibility {
        committedAt(i.txn).map { .committed($0) } ?? .invisible
    }

    static func expected(_ e: Entry?, readTS: Timestamp, txn: TxnID) -> [UInt8]? {
        guard let e else { return nil }
        if let i = e.intent {
            if i.txn == txn { return i.value }
            if let cts = committedAt(i.txn), cts <= readTS { return i.value }
        }
        guard let newest = e.versions.keys.filter({ $0 <= readTS }).max() else { return nil }
        return e.versions[newest]!
    }

    @Test(arguments: [41 as UInt64, 42, 43], [true, false])
    func readsMatchTheModel(seed: UInt64, rangeDeletes: Bool) throws {
        var rng = SplitMix64(seed: seed)
        var o = StorageOptions()
        o.comparator = .mvcc
        o.memtableBytesMax = 64 << 10
        o.tableBytesTarget = 64 << 10
        o.level1BytesMax = 128 << 10
        o.levelSizeMultiplier = 2
        o.blockBytes = 512
        o.compactionBytesPerSecondMax = nil
        let engine = try StorageEngine.open(directory: "/db", options: o, fileSystem: MemoryFileSystem())
        defer { try? engine.close() }
        let range = KVRange(id: 1, start: [], end: nil, engine: engine)
        // "k", "k1", "k10"...: keys that are prefixes of others.
        let keys = (0..<30).map { Array("k\($0 == 0 ? "" : String($0))".utf8) }
        let absent = [Array("j".utf8), Array("k1x".utf8), Array("k100".utf8), Array("l".utf8)]
        var model: [[UInt8]: Entry] = [:]
        var clock: UInt64 = 0
        func value() -> [UInt8]? {
            rng.next() % 8 == 0 ? nil : (0..<(4 + Int(rng.next() % 60))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }
        for round in 0..<6 {
            for _ in 0..<1200 {
                let k = keys[Int(rng.next() % UInt64(keys.count))]
                var b = WriteBatch()
                switch rng.next() % 100 {
                case 0..<45:
                    // A committed version, usually the newest; sometimes one below newer ones.
                    clock += 1 + rng.next() % 3
                    let ts = Timestamp(wallNanos: rng.next() % 10 == 0 ? 1 + rng.next() % clock : clock, logical: UInt32(rng.next() % 2))
                    let v = value()
                    KVRange.putVersion(&b, key: k, ts: ts, value: v)
                    model[k, default: Entry()].versions[ts] = v
                case 45..<65:
                    let txn = 1 + rng.next() % 4
                    let ts = Timestamp(wallNanos: 1 + rng.next() % (clock + 1))
                    let v = value()
                    MVCCStore.putIntent(&b, key: k, txn: txn, ts: ts, value: v)
                    model[k, default: Entry()].intent = Intent(txn: txn, timestamp: ts, value: v)
                case 65..<80:
                    // Resolution: the intent goes, as a version or not at all.
                    b.delete(MVCCKey.encode(k, .zero))
                    if let i = model[k]?.intent, rng.next() % 2 == 0 {
                        KVRange.putVersion(&b, key: k, ts: i.timestamp, value: i.value)
                        model[k]!.versions[i.timestamp] = i.value
                    }
                    model[k]?.intent = nil
                case 80..<82 where rangeDeletes:
                    let end = keys[Int(rng.next() % UInt64(keys.count))]
                    guard k.lexicographicallyPrecedes(end) else { continue }
                    b.deleteRange(MVCCKey.encode(k, .zero), MVCCKey.encode(end, .zero))
                    for m in model.keys where !m.lexicographicallyPrecedes(k) && m.lexicographicallyPrecedes(end) { model[m] = nil }
                case 82..<86:
                    try engine.flush()
                    continue
                default:
                    // An old version rewritten as a deletion (as a compaction's GC might leave none).
                    guard let ts = model[k]?.versions.keys.randomElement(using: &rng) else { continue }
                    b.delete(MVCCKey.encode(k, ts))
                    model[k]!.versions.removeValue(forKey: ts)
                }
                try range.write(b, sync: false)
            }
            if round == 3 { try engine.compactAll() }
            // Also below the commit timestamp of txn 3 (55), whose intents are then invisible.
            for readTS in [Timestamp(wallNanos: 1 + rng.next() % (clock + 1)), Timestamp(wallNanos: clock / 2), Timestamp(wallNanos: 40), .max] {
                for txn in [1, 3, 9] as [TxnID] {
                    let context = "seed \(seed) rangeDeletes \(rangeDeletes) round \(round) readTS \(readTS) txn \(txn)"
                    var want: [([UInt8], [UInt8])] = []
                    for k in (keys + absent).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                        let w = RangeReadModelTests.expected(model[k], readTS: readTS, txn: txn)
                        #expect(try range.get(k, readTS: readTS, txn: txn, visibility: RangeReadModelTests.visibility) == w, "\(context) key \(k)")
                        if let w { want.append((k, w)) }
                    }
                    for reverse in [false, true] {
                        var got: [([UInt8], [UInt8])] = []
                        try range.scan(lower: Array("k".utf8), upper: Array("l".utf8), readTS: readTS, txn: txn, reverse: reverse,
                                       visibility: RangeReadModelTests.visibility) { k, v in
                            got.append((k, v))
                            return true
                        }
                        let w = reverse ? want.reversed() : want
                        #expect(got.count == w.count && zip(got, w).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 },
                                "\(context) scan reverse \(reverse)")
                    }
                    try checkShortScans(range, want: want, readTS: readTS, txn: txn, context)
                }
            }
        }
        #expect(engine.metrics().levelFiles.reduce(0, +) > 0, "seed \(seed): data reached tables")
        #expect(engine.metrics().keyFilterSkips > 0, "seed \(seed): reads of absent keys skipped no table or memtable")
    }

    /// Scans of one key's span, of a key with the keys it prefixes, and of the whole span
    /// stopped after a few keys (at the probes' start, and past it where the iterator takes
    /// over), against `want`, the visible keys of `k`...`l` in order.
    func checkShortScans(_ range: KVRange, want: [([UInt8], [UInt8])], readTS: Timestamp, txn: TxnID,
                         _ context: String) throws {
        func scan(_ lower: [UInt8], _ upper: [UInt8], stopAfter: Int = .max) throws -> ([([UInt8], [UInt8])], [UInt8]?) {
            var got: [([UInt8], [UInt8])] = []
            let stopped = try range.scan(lower: lower, upper: upper, readTS: readTS, txn: txn, reverse: false,
                                         visibility: RangeReadModelTests.visibility) { k, v in
                got.append((k, v))
                return got.count < stopAfter
            }
            return (got, stopped)
        }
        func same(_ a: [([UInt8], [UInt8])], _ b: [([UInt8], [UInt8])]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        }
        for k in ["k", "k1", "k2", "k17", "k1x"].map({ Array($0.utf8) }) {
            let (one, _) = try scan(k, k + [0])
            #expect(same(one, want.filter { $0.0 == k }), "\(context) scan of \(k) alone")
            let (prefixed, _) = try scan(k, k + [0xFF])
            #expect(same(prefixed, want.filter { $0.0.starts(with: k) }), "\(context) scan of \(k) and the keys it prefixes")
        }
        for n in 1...5 {
            let (got, stopped) = try scan(Array("k".utf8), Array("l".utf8), stopAfter: n)
            #expect(same(got, Array(want.prefix(n))), "\(context) scan stopped after \(n)")
            #expect(stopped == (want.count >= n ? want[n - 1].0 : nil), "\(context) scan stopped after \(n): the key returned")
        }
    }
}
