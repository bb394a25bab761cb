// `KVRange.get` and `KVRange.scan` against a model of versions and intents: random committed
// versions (also below newer ones), intents of transactions that are running, committed or
// aborted, resolutions, range deletions (in half the runs: without them reads probe the engine,
// with them the probes fall back to iterators), flushes and compactions; every key (and keys
// never written, and keys that are prefixes of others) read at many timestamps by the intents'
// owner and by others must give what the model says, and so must scans forward and in reverse,
// of the whole span, of one key's span and of a key with the keys it prefixes. Scans of random
// sub-spans that stop after a random number of keys, and scans of one key (`pointKey`), must
// give the model's keys up to the stop and the stop key; a scan reads one engine snapshot,
// which is also what `visibility` gets. Every failure names its seed.
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

    /// An engine with the MVCC comparator and small memtables, tables and blocks, so that a
    /// few thousand writes reach several levels.
    static func openEngine() throws -> StorageEngine {
        var o = StorageOptions()
        o.comparator = .mvcc
        o.memtableBytesMax = 64 << 10
        o.tableBytesTarget = 64 << 10
        o.level1BytesMax = 128 << 10
        o.levelSizeMultiplier = 2
        o.blockBytes = 512
        o.compactionBytesPerSecondMax = nil
        return try StorageEngine.open(directory: "/db", options: o, fileSystem: MemoryFileSystem())
    }

    /// The model and its clock (the newest committed timestamp's wall time).
    struct Model {
        var entries: [[UInt8]: Entry] = [:]
        var clock: UInt64 = 0

        /// The pairs a reader sees in `[lower, upper)` among `keys`, in key order.
        func visible(_ keys: [[UInt8]], lower: [UInt8], upper: [UInt8], readTS: Timestamp, txn: TxnID) -> [([UInt8], [UInt8])] {
            keys.sorted { $0.lexicographicallyPrecedes($1) }
                .filter { !$0.lexicographicallyPrecedes(lower) && $0.lexicographicallyPrecedes(upper) }
                .compactMap { k in RangeReadModelTests.expected(entries[k], readTS: readTS, txn: txn).map { (k, $0) } }
        }
    }

    /// One random write to `range` on one of `keys`, applied to `model` too: a committed
    /// version (sometimes below newer ones), an intent of transaction 1 to 4, a resolution, a
    /// range deletion (when `rangeDeletes`), a flush, or an old version deleted.
    static func randomWrite(_ rng: inout SplitMix64, _ model: inout Model, _ range: KVRange, _ keys: [[UInt8]],
                            rangeDeletes: Bool) throws {
        func value() -> [UInt8]? {
            rng.next() % 8 == 0 ? nil : (0..<(4 + Int(rng.next() % 60))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }
        let k = keys[Int(rng.next() % UInt64(keys.count))]
        var b = WriteBatch()
        switch rng.next() % 100 {
        case 0..<45:
            // A committed version, usually the newest; sometimes one below newer ones.
            model.clock += 1 + rng.next() % 3
            let ts = Timestamp(wallNanos: rng.next() % 10 == 0 ? 1 + rng.next() % model.clock : model.clock, logical: UInt32(rng.next() % 2))
            let v = value()
            KVRange.putVersion(&b, key: k, ts: ts, value: v)
            model.entries[k, default: Entry()].versions[ts] = v
        case 45..<65:
            let txn = 1 + rng.next() % 4
            let ts = Timestamp(wallNanos: 1 + rng.next() % (model.clock + 1))
            let v = value()
            MVCCStore.putIntent(&b, key: k, txn: txn, ts: ts, value: v)
            model.entries[k, default: Entry()].intent = Intent(txn: txn, timestamp: ts, value: v)
        case 65..<80:
            // Resolution: the intent goes, as a version or not at all.
            b.delete(MVCCKey.encode(k, .zero))
            if let i = model.entries[k]?.intent, rng.next() % 2 == 0 {
                KVRange.putVersion(&b, key: k, ts: i.timestamp, value: i.value)
                model.entries[k]!.versions[i.timestamp] = i.value
            }
            model.entries[k]?.intent = nil
        case 80..<82 where rangeDeletes:
            let end = keys[Int(rng.next() % UInt64(keys.count))]
            guard k.lexicographicallyPrecedes(end) else { return }
            b.deleteRange(MVCCKey.encode(k, .zero), MVCCKey.encode(end, .zero))
            for m in model.entries.keys where !m.lexicographicallyPrecedes(k) && m.lexicographicallyPrecedes(end) { model.entries[m] = nil }
        case 82..<86:
            try range.engine.flush()
            return
        default:
            // An old version rewritten as a deletion (as a compaction's GC might leave none).
            guard let ts = model.entries[k]?.versions.keys.randomElement(using: &rng) else { return }
            b.delete(MVCCKey.encode(k, ts))
            model.entries[k]!.versions.removeValue(forKey: ts)
        }
        try range.write(b, sync: false)
    }

    @Test(arguments: [41 as UInt64, 42, 43], [true, false])
    func readsMatchTheModel(seed: UInt64, rangeDeletes: Bool) throws {
        var rng = SplitMix64(seed: seed)
        let engine = try RangeReadModelTests.openEngine()
        defer { try? engine.close() }
        let range = KVRange(id: 1, start: [], end: nil, engine: engine)
        // "k", "k1", "k10"...: keys that are prefixes of others.
        let keys = (0..<30).map { Array("k\($0 == 0 ? "" : String($0))".utf8) }
        let absent = [Array("j".utf8), Array("k1x".utf8), Array("k100".utf8), Array("l".utf8)]
        var m = Model()
        for round in 0..<6 {
            for _ in 0..<1200 { try RangeReadModelTests.randomWrite(&rng, &m, range, keys, rangeDeletes: rangeDeletes) }
            let clock = m.clock, model = m.entries
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

    /// Scans of random sub-spans, forward and backward, that stop after a random number of keys
    /// (or run out), and scans of one key, against the model. Keys hold the bytes 0x00 and
    /// 0xFF and are prefixes of one another, so that comparing user-key parts in place meets
    /// every case; about a fifth of the writes leave a key's versions for the next key's.
    @Test(arguments: [7 as UInt64, 8, 9, 10])
    func stoppedAndPointScansMatchTheModel(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let engine = try RangeReadModelTests.openEngine()
        defer { try? engine.close() }
        let range = KVRange(id: 1, start: [], end: nil, engine: engine)
        let alphabet: [UInt8] = [0x00, 0x01, 0x61, 0xFE, 0xFF]
        var keySet = Set<[UInt8]>()
        while keySet.count < 60 {
            keySet.insert((0..<(1 + Int(rng.next() % 4))).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
        }
        let keys = Array(keySet)
        let absent = [[], [0x61, 0x61, 0x61, 0x61, 0x61], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF]] as [[UInt8]]
        let bounds = keys + absent
        var m = Model()
        for round in 0..<4 {
            // Range deletions in half the seeds (with them the probes at a scan's start fall back to iterators).
            for _ in 0..<900 { try RangeReadModelTests.randomWrite(&rng, &m, range, keys, rangeDeletes: seed % 2 == 0) }
            if round == 2 { try engine.compactAll() }
            for check in 0..<60 {
                let readTS = rng.next() % 4 == 0 ? Timestamp.max : Timestamp(wallNanos: 1 + rng.next() % (m.clock + 1))
                let txn = [1, 2, 3, 4, 9][Int(rng.next() % 5)] as TxnID
                let a = bounds[Int(rng.next() % UInt64(bounds.count))], b = bounds[Int(rng.next() % UInt64(bounds.count))]
                let (lower, upper) = a.lexicographicallyPrecedes(b) ? (a, b) : (b, a)
                let reverse = rng.next() % 2 == 0
                let context = "seed \(seed) round \(round) check \(check) readTS \(readTS) txn \(txn) [\(lower), \(upper)) reverse \(reverse)"
                var want = m.visible(keys, lower: lower, upper: upper, readTS: readTS, txn: txn)
                if reverse { want.reverse() }
                let stopAfter = 1 + Int(rng.next() % UInt64(want.count + 1))
                var got: [([UInt8], [UInt8])] = []
                let stop = try range.scan(lower: lower, upper: upper, readTS: readTS, txn: txn, reverse: reverse,
                                          visibility: RangeReadModelTests.visibility) { k, v in
                    got.append((k, v))
                    return got.count < stopAfter
                }
                let w = want.prefix(stopAfter)
                #expect(got.count == w.count && zip(got, w).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }, "\(context) stop after \(stopAfter)")
                #expect(stop == (stopAfter <= want.count ? want[stopAfter - 1].0 : nil), "\(context) stop after \(stopAfter)")
                // One key, read through its own entries (`pointKey`), both ways.
                let k = bounds[Int(rng.next() % UInt64(bounds.count))]
                let expected = RangeReadModelTests.expected(m.entries[k], readTS: readTS, txn: txn)
                var point: [([UInt8], [UInt8])] = []
                try range.scan(lower: k, upper: k + [0], readTS: readTS, txn: txn, reverse: reverse, pointKey: k,
                               visibility: RangeReadModelTests.visibility) { k, v in
                    point.append((k, v))
                    return true
                }
                #expect(point.count == (expected == nil ? 0 : 1) && point.first.map { $0.0 == k && $0.1 == expected } ?? true,
                        "\(context) point key \(k)")
            }
        }
        #expect(engine.metrics().levelFiles.reduce(0, +) > 0, "seed \(seed): data reached tables")
    }

    /// A scan reads the engine snapshot taken when it starts, and `visibility` gets that same
    /// snapshot: writes made while the scan runs (from its body) are seen by neither.
    @Test func aScanAndItsVisibilityCallsReadOneSnapshot() throws {
        let engine = try RangeReadModelTests.openEngine()
        defer { try? engine.close() }
        let range = KVRange(id: 1, start: [], end: nil, engine: engine)
        let keys = (0..<8).map { [UInt8(0x61 + $0)] }
        var b = WriteBatch()
        for k in keys {
            KVRange.putVersion(&b, key: k, ts: Timestamp(wallNanos: 10), value: k + [1])
            // Transaction 3 committed at 55: its intents count.
            MVCCStore.putIntent(&b, key: k, txn: 3, ts: Timestamp(wallNanos: 50), value: k + [3])
        }
        try range.write(b, sync: false)
        for reverse in [false, true] {
            var snapshots: [Snapshot] = []
            var got: [([UInt8], [UInt8])] = []
            try range.scan(lower: [], upper: [0xFF], readTS: Timestamp(wallNanos: 60), txn: 9, reverse: reverse,
                           visibility: { i, k, s in
                               snapshots.append(s)
                               // What the snapshot holds of every key is what the scan started with.
                               for other in keys {
                                   #expect((try? range.intent(on: other, snapshot: s))??.txn == 3, "reverse \(reverse)")
                               }
                               return RangeReadModelTests.visibility(i, k, s)
                           }) { k, v in
                got.append((k, v))
                // Replace every key's intent by a newer committed version while the scan runs.
                var w = WriteBatch()
                for other in keys {
                    w.delete(MVCCKey.encode(other, .zero))
                    KVRange.putVersion(&w, key: other, ts: Timestamp(wallNanos: 58), value: other + [58])
                }
                try range.write(w, sync: false)
                return true
            }
            let order = reverse ? Array(keys.reversed()) : keys
            #expect(got.map(\.0) == order && got.allSatisfy { $0.1 == $0.0 + [3] }, "reverse \(reverse): \(got)")
            #expect(snapshots.count == keys.count && snapshots.allSatisfy { $0 === snapshots[0] }, "reverse \(reverse)")
            // Back to the first state for the other direction.
            var w = WriteBatch()
            for k in keys {
                w.delete(MVCCKey.encode(k, Timestamp(wallNanos: 58)))
                MVCCStore.putIntent(&w, key: k, txn: 3, ts: Timestamp(wallNanos: 50), value: k + [3])
            }
            try range.write(w, sync: false)
        }
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
