// Direct probes (`StorageEngine.first`) against the merging iterator as the oracle. Random puts
// and deletes (and, in some runs, range deletes, which the probe leaves to an iterator) spread
// over tables on several levels, the engine's memtable and newer memtables built by hand, read at
// old and new snapshots, under both comparators, with and without a prefix filter: for every
// query (one key's entries from any of its versions, a span inside one prefix group, a span
// across groups) the probe must return exactly the key and value that an iterator with the same
// bounds, snapshot and read state shows after seeking to the target. A failure names the seed and
// the query, and reruns from them.
import ApusCore
import Testing
@testable import ApusStorage

@Suite struct EngineProbeTests {
    struct Case: Sendable, CustomStringConvertible {
        let seed: UInt64
        let comparator: KeyComparator
        let prefixFilter: Bool
        let rangeDeletes: Bool
        var description: String { "seed \(seed) \(comparator.name) prefix \(prefixFilter) rangeDeletes \(rangeDeletes)" }
    }

    static let cases: [Case] = [
        Case(seed: 71, comparator: .bytewise, prefixFilter: false, rangeDeletes: false),
        Case(seed: 72, comparator: .bytewise, prefixFilter: true, rangeDeletes: false),
        Case(seed: 73, comparator: .mvcc, prefixFilter: false, rangeDeletes: false),
        Case(seed: 74, comparator: .mvcc, prefixFilter: true, rangeDeletes: false),
        Case(seed: 75, comparator: .bytewise, prefixFilter: true, rangeDeletes: true),
        Case(seed: 76, comparator: .mvcc, prefixFilter: true, rangeDeletes: true),
    ]

    /// A user key: a prefix group, then up to two short suffix bytes (so keys are prefixes of
    /// others); under `.mvcc` encoded at a timestamp of 0...6 (0: the unversioned entry).
    static func key(_ rng: inout SplitMix64, _ c: Case, groups: Int) -> [UInt8] {
        var user = PrefixFilterTests.group(Int(rng.next() % UInt64(groups)))
        for _ in 0..<(rng.next() % 3) { user.append(UInt8(truncatingIfNeeded: rng.next() % 5)) }
        return c.comparator == .mvcc ? MVCCKey.encode(user, Timestamp(wallNanos: rng.next() % 7)) : user
    }

    /// The engine key of a user-level bound (timestamp zero under `.mvcc`, the first entry).
    static func bound(_ user: [UInt8], _ c: Case) -> [UInt8] {
        c.comparator == .mvcc ? MVCCKey.encode(user, .zero) : user
    }

    static func value(_ rng: inout SplitMix64) -> [UInt8] {
        (0..<(1 + Int(rng.next() % 24))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    /// What an iterator over `state` shows first after seeking to `target`.
    static func oracle(_ e: StorageEngine, _ target: [UInt8], _ upper: [UInt8], _ filterKey: [UInt8]?, _ snap: Snapshot,
                       _ state: StorageEngine.ReadState) throws -> ([UInt8], [UInt8])? {
        let it = try e.makeIterator(IteratorOptions(lowerBound: target, upperBound: upper, onlyKey: filterKey),
                                    snapshot: snap, state: state)
        try it.seek(target)
        return it.isValid ? (it.key, it.value) : nil
    }

    /// A target at or after `k` for a cursor's next probe: `k` itself again, the key after all
    /// of `k`'s user key, or under `.mvcc` an older version of it.
    static func successor(_ k: [UInt8], _ c: Case, _ rng: inout SplitMix64) -> [UInt8] {
        guard c.comparator == .mvcc, let (user, ts) = MVCCKey.decode(k) else { return rng.next() % 4 == 0 ? k : k + [0] }
        switch rng.next() % 4 {
        case 0: return k
        case 1:
            // Versions sort newest first after the unversioned entry: an older one is later.
            let older = ts.isZero ? 7 : ts.wallNanos - 1
            if older > 0 { return MVCCKey.encode(user, Timestamp(wallNanos: older)) }
            return MVCCKey.encode(user + [0], .zero)
        default: return MVCCKey.encode(user + [0], .zero)
        }
    }

    @Test(arguments: cases)
    func probesMatchTheIterator(_ c: Case) throws {
        var rng = SplitMix64(seed: c.seed)
        var o = PrefixFilterTests.options(c.prefixFilter ? PrefixFilterTests.byGroup : nil)
        o.comparator = c.comparator
        if c.comparator == .mvcc { o.bloomPrefix = o.bloomPrefix?.onMVCCKeys }
        let e = try StorageEngine.open(directory: "/db", options: o, fileSystem: MemoryFileSystem())
        defer { try? e.close() }
        let written = 12, groups = 16
        // Tables on several levels, and snapshots taken along the way.
        var snapshots: [Snapshot] = []
        for round in 0..<4 {
            for _ in 0..<1500 {
                let k = EngineProbeTests.key(&rng, c, groups: written)
                switch rng.next() % 100 {
                case 0..<62: try e.put(k, EngineProbeTests.value(&rng))
                case 62..<92: try e.delete(k)
                case 92..<94 where c.rangeDeletes:
                    let end = EngineProbeTests.key(&rng, c, groups: written)
                    if c.comparator.compare(k, end) < 0 { try e.deleteRange(k, end) }
                case 94..<96: try e.flush()
                default: if snapshots.count < 8 { snapshots.append(e.snapshot()) }
                }
            }
            if round == 1 { try e.compactAll() }
        }
        #expect(e.metrics().levelFiles.filter { $0 > 0 }.count >= 2, "\(c): tables on several levels")
        // Two newer memtables, made by hand above the engine's last sequence.
        let engineState = e.readState()
        var sequence = e.snapshot().sequence
        var extra: [Memtable] = []
        for _ in 0..<2 {
            let m = Memtable(options: o, capacityBytes: 1 << 20)
            for _ in 0..<200 {
                sequence += 1
                let k = EngineProbeTests.key(&rng, c, groups: written)
                if rng.next() % 3 == 0 {
                    m.add(sequence: sequence, kind: .delete, key: k, value: [])
                } else {
                    m.add(sequence: sequence, kind: .put, key: k, value: EngineProbeTests.value(&rng))
                }
            }
            extra.insert(m, at: 0)
            snapshots.append(Snapshot(sequence: sequence - 100, registry: e.snapshots))
        }
        snapshots.append(Snapshot(sequence: sequence, registry: e.snapshots))
        let state = StorageEngine.ReadState(memtables: extra + engineState.memtables, version: engineState.version)
        let probed = !state.tablesHaveRangeTombstones && !state.memtables.contains { $0.hasRangeTombstones }
        #expect(probed == !c.rangeDeletes, "\(c): range deletions (only) send probes to the iterator")

        var found = 0, cursorSteps = 0
        for q in 0..<3000 {
            let snap = snapshots[Int(rng.next() % UInt64(snapshots.count))]
            let target: [UInt8], upper: [UInt8], filterKey: [UInt8]?
            var user = PrefixFilterTests.group(Int(rng.next() % UInt64(groups)))
            switch q % 3 {
            case 0:
                // One key's entries, from its first or from one of its versions.
                for _ in 0..<(rng.next() % 3) { user.append(UInt8(truncatingIfNeeded: rng.next() % 5)) }
                filterKey = user
                upper = EngineProbeTests.bound(user + [0], c)
                target = c.comparator == .mvcc && rng.next() % 2 == 0
                    ? MVCCKey.encode(user, Timestamp(wallNanos: rng.next() % 8)) : EngineProbeTests.bound(user, c)
            case 1:
                // Inside one group (one prefix).
                var end = user
                end[2] += 1
                if rng.next() % 2 == 0 { user.append(UInt8(truncatingIfNeeded: rng.next() % 5)) }
                (target, upper, filterKey) = (EngineProbeTests.bound(user, c), EngineProbeTests.bound(end, c), nil)
            default:
                // Across groups.
                let end = PrefixFilterTests.group(Int(rng.next() % UInt64(groups))) + [2]
                (target, upper, filterKey) = (EngineProbeTests.bound(user, c), EngineProbeTests.bound(end, c), nil)
            }
            let want = try EngineProbeTests.oracle(e, target, upper, filterKey, snap, state)
            let got = try e.first(from: target, below: upper, filterKey: filterKey, snapshot: snap, state: state)
            #expect(got?.key == want?.0 && got?.value == want?.1,
                    "\(c) query \(q): from \(target) below \(upper) filterKey \(String(describing: filterKey)) at \(snap.sequence)")
            if want != nil { found += 1 }
            // A cursor over the same bounds at ascending targets: each answer is a fresh probe's
            // (the iterator's), though the cursor probes again only sources before the target.
            let cursor = try ProbeCursor(engine: e, lower: target, upper: upper, filterKey: filterKey, snapshot: snap, state: state)
            var next = target
            for step in 0..<4 {
                let expected = try EngineProbeTests.oracle(e, next, upper, filterKey, snap, state)
                let answer = try cursor.first(from: next)
                #expect(answer?.key == expected?.0 && answer?.value == expected?.1,
                        "\(c) query \(q) cursor step \(step): from \(next) below \(upper) at \(snap.sequence)")
                guard let k = answer?.key else { break }
                // Now and then a step back to the first target: probed afresh, still right.
                next = step == 2 && q % 7 == 0 ? target : EngineProbeTests.successor(k, c, &rng)
                cursorSteps += 1
            }
        }
        #expect(cursorSteps > 1000, "\(c): cursors answered several targets (\(cursorSteps))")
        #expect(found > 500 && found < 2900, "\(c): queries find keys and miss others (\(found))")
        // The engine's own read state, through the public entry point.
        for _ in 0..<200 {
            let user = PrefixFilterTests.group(Int(rng.next() % UInt64(groups))) + [UInt8(rng.next() % 5)]
            let target = EngineProbeTests.bound(user, c), upper = EngineProbeTests.bound(user + [0xFF], c)
            let snap = e.snapshot()
            let want = try EngineProbeTests.oracle(e, target, upper, nil, snap, e.readState())
            let got = try e.first(from: target, below: upper, snapshot: snap)
            #expect(got?.key == want?.0 && got?.value == want?.1, "\(c): from \(target) below \(upper)")
        }
        if c.prefixFilter && !c.rangeDeletes {
            #expect(e.metrics().prefixFilterSkips > 0 && e.metrics().keyFilterSkips > 0, "\(c): probes skipped filtered sources")
        }
    }
}

extension EngineProbeTests {
    /// A probe from a table's first or last key finds it, in level 0 and after a compaction
    /// moved the table down: the file bounds are inclusive. The random queries seldom hit a
    /// file's exact bounds.
    @Test func probesFromATablesBounds() throws {
        let e = try StorageEngine.open(directory: "/db", options: PrefixFilterTests.options(nil), fileSystem: MemoryFileSystem())
        defer { try? e.close() }
        for k in ["b", "m"] { try e.put(Array(k.utf8), Array("v\(k)".utf8)) }
        try e.flush()
        try e.put(Array("z".utf8), Array("vz".utf8))
        for compacted in [false, true] {
            if compacted { try e.compactAll() }
            #expect(e.metrics().levelFiles[0] == (compacted ? 0 : 1), "compacted \(compacted): where the table is")
            for k in ["b", "m"] {
                let got = try e.first(from: Array(k.utf8), below: Array("zz".utf8), snapshot: e.snapshot())
                #expect(got?.key == Array(k.utf8) && got?.value == Array("v\(k)".utf8), "compacted \(compacted): from \(k)")
            }
            let past = try e.first(from: Array("m\u{0}".utf8), below: Array("zz".utf8), snapshot: e.snapshot())
            #expect(past?.key == Array("z".utf8), "compacted \(compacted): past the table")
        }
    }
}
