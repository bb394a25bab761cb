// The memtable's group indexes (`MemtableGroupIndex`): a probe confined to one key's entries or
// one prefix's starts at the group's head instead of seeking. Method: differential. Over seeded
// random memtables (puts, deletions and range deletions over a few hundred keys in groups of a
// shared prefix, both comparators, index tables large enough and too small to hold every
// group), each probe with the group hint must stop where the same probe by skiplist seek stops,
// for targets before, inside and past the group's entries and for groups the memtable lacks.
// A threaded test then probes keys while one writer adds them: every key published before a
// probe must be found through its group's head (a publication-order bug in the index fails it).
import ApusCore
import Dispatch
import Synchronization
import Testing
@testable import ApusStorage

@Suite struct MemtableGroupIndexTests {
    /// Keys: a 2-byte group, then a suffix; the prefix is the group.
    static let byTwo = BloomPrefix(name: "test.group2") { key in key.count >= 2 ? 2 : nil }

    static func userKey(group: Int, suffix: Int) -> [UInt8] {
        [UInt8(65 + group / 26), UInt8(97 + group % 26), UInt8(48 + suffix / 10), UInt8(48 + suffix % 10)]
    }

    /// The stored key of `key` under `comparator` (an `MVCCKey` at `ts` for `.mvcc`).
    static func stored(_ key: [UInt8], _ comparator: KeyComparator, ts: Int) -> [UInt8] {
        comparator == .mvcc ? MVCCKey.encode(key, ts == 0 ? .zero : Timestamp(wallNanos: UInt64(ts))) : key
    }

    struct Entry: Equatable, CustomStringConvertible {
        var userKey: [UInt8], sequence: SequenceNumber, isPut: Bool, value: [UInt8]
        var description: String { "\(userKey)@\(sequence) \(isPut ? "put" : "del") \(value)" }
    }

    static func entry(_ e: ProbeEntry?) -> Entry? {
        e.map { Entry(userKey: $0.userKey, sequence: $0.sequence, isPut: $0.isPut, value: $0.value) }
    }

    @Test(arguments: [(1, KeyComparator.bytewise, nil), (2, .bytewise, 64), (3, .mvcc, nil), (4, .mvcc, 32), (5, .bytewise, 32)])
    func probesFromGroupHeadsMatchSeeks(seed: UInt64, comparator: KeyComparator, slots: Int?) throws {
        var rng = SplitMix64(seed: seed)
        let prefix = comparator == .mvcc ? MemtableGroupIndexTests.byTwo.onMVCCKeys : MemtableGroupIndexTests.byTwo
        let m = Memtable(comparator: comparator, capacityBytes: 1 << 20, randomSeed: seed, filtered: true,
                         bloomPrefix: prefix, groupSlots: slots)
        var sequence: SequenceNumber = 0
        let groups = 40
        for _ in 0..<3000 {
            let g = Int.random(in: 0..<groups, using: &rng), s = Int.random(in: 0..<30, using: &rng)
            let key = MemtableGroupIndexTests.stored(MemtableGroupIndexTests.userKey(group: g, suffix: s), comparator,
                                                      ts: Int.random(in: 0..<4, using: &rng) * 10)
            sequence += 1
            let roll = Int.random(in: 0..<20, using: &rng)
            if roll == 0 {
                // A range deletion over part of the group.
                let end = MemtableGroupIndexTests.stored(MemtableGroupIndexTests.userKey(group: g, suffix: min(s + 3, 99)), comparator, ts: 0)
                key.withUnsafeBytes { k in end.withUnsafeBytes { m.add(sequence: sequence, kind: .rangeDelete, key: k, value: $0) } }
            } else {
                let value = [UInt8(truncatingIfNeeded: sequence)]
                key.withUnsafeBytes { k in value.withUnsafeBytes { m.add(sequence: sequence, kind: roll < 4 ? .delete : .put, key: k, value: $0) } }
            }
        }
        if let slots {
            // Up to 1,200 keys fill any small table; 40 prefix groups fill 32 slots (24 used) but not 64 (48).
            let incomplete = m.groupIndexesIncomplete
            #expect(incomplete.keys, "seed \(seed): \(slots) slots hold every key")
            #expect(incomplete.prefixes == (slots == 32), "seed \(seed)")
        }
        var probes = 0
        for step in 0..<4000 {
            // Groups past `groups` are absent.
            let g = Int.random(in: 0..<(groups + 5), using: &rng)
            let readSequence = SequenceNumber.random(in: 1...sequence + 1, using: &rng)
            let filter: StorageEngine.ReadFilter
            var lower: [UInt8], upper: [UInt8]
            if step % 2 == 0 {
                // One key's entries (a point read): `filterKey` is the key (its MVCC key part).
                let key = MemtableGroupIndexTests.userKey(group: g, suffix: Int.random(in: 0..<31, using: &rng))
                lower = MemtableGroupIndexTests.stored(key, comparator, ts: 0)
                upper = MemtableGroupIndexTests.stored(key + [0], comparator, ts: 0)
                filter = StorageEngine.ReadFilter(hash: key.withUnsafeBytes { bloomHash($0) }, prefix: nil, group: key[...])
            } else {
                // One prefix's entries from some suffix on (an index lookup).
                let first = MemtableGroupIndexTests.userKey(group: g, suffix: Int.random(in: 0..<31, using: &rng))
                lower = MemtableGroupIndexTests.stored(first, comparator, ts: 0)
                upper = MemtableGroupIndexTests.stored(Array(first[0..<2]) + [0xFF], comparator, ts: 0)
                let p = try #require(prefix.sharedPrefix(lower: lower, upper: upper, comparator: comparator))
                filter = StorageEngine.ReadFilter(hash: p.hash, prefix: prefix, group: lower[0..<p.length])
            }
            let bounds = ProbeBounds(sequence: readSequence, upper: upper, skipping: nil, comparator: comparator)
            // Targets from the lower bound on: at it, at an older version, past the key.
            var targets = [lower]
            if comparator == .mvcc {
                let (k, _) = try #require(MVCCKey.decode(lower))
                targets.append(MVCCKey.encode(k, Timestamp(wallNanos: 15)))
                targets.append(MVCCKey.encode(k + [0], .zero))
            } else {
                targets.append(lower + [0])
            }
            for target in targets {
                let t = InternalKey.seekTarget(target, readSequence)
                let hinted = try t.withUnsafeBytes { try m.firstVisible(atOrAfter: $0, bounds, group: filter) }
                let sought = try t.withUnsafeBytes { try m.firstVisible(atOrAfter: $0, bounds) }
                #expect(MemtableGroupIndexTests.entry(hinted) == MemtableGroupIndexTests.entry(sought),
                        "seed \(seed) step \(step) group \(g) target \(target) at \(readSequence)")
                if hinted?.nextIsEnd != sought?.nextIsEnd { Issue.record("seed \(seed) step \(step): lookahead differs") }
                probes += 1
            }
        }
        #expect(probes == (comparator == .mvcc ? 12_000 : 8000))
    }

    /// The index answers `.absent` for a group the memtable lacks (no seek), the head for one it
    /// holds, and `.unknown` once full for groups it left out.
    @Test func headsAbsenceAndOverflow() throws {
        let m = Memtable(comparator: .bytewise, capacityBytes: 1 << 20, filtered: true, bloomPrefix: nil, groupSlots: 1024)
        func filter(_ key: [UInt8]) -> StorageEngine.ReadFilter {
            StorageEngine.ReadFilter(hash: key.withUnsafeBytes { bloomHash($0) }, prefix: nil, group: key[...])
        }
        let key = Array("k0001".utf8)
        #expect(m.groupHead(filter(key)) == .absent)
        key.withUnsafeBytes { k in [UInt8(1)].withUnsafeBytes { m.add(sequence: 1, kind: .put, key: k, value: $0) } }
        guard case .node = m.groupHead(filter(key)) else { Issue.record("the key's group has a head"); return }
        #expect(m.groupHead(filter(Array("k0002".utf8))) == .absent)
        // 768 groups fill three quarters of 1,024 slots; later ones are left out.
        for i in 2...800 {
            let k = Array(String(format: "k%04d", i).utf8)
            k.withUnsafeBytes { kk in [UInt8(1)].withUnsafeBytes { m.add(sequence: SequenceNumber(i), kind: .put, key: kk, value: $0) } }
        }
        #expect(m.groupIndexesIncomplete.keys)
        var unknown = 0
        for i in 1...800 {
            switch m.groupHead(filter(Array(String(format: "k%04d", i).utf8))) {
            case .node: break
            case .unknown: unknown += 1
            case .absent: Issue.record("key \(i) is in the memtable")
            }
        }
        #expect(unknown == 800 - 768)
        #expect(m.groupHead(filter(Array("zzzz".utf8))) == .unknown)
    }

    /// Key i of the threaded test: groups and suffixes in a scattered order.
    static func scattered(_ i: Int) -> [UInt8] {
        userKey(group: (i &* 7919) % 600, suffix: 0) + [UInt8(i % 251), UInt8(i / 251 % 256)]
    }

    /// One writer adds keys in groups while readers probe keys already published: each must be
    /// found from its group's head.
    @Test func probesDuringInsertsFindPublishedKeys() async throws {
        let m = Memtable(comparator: .bytewise, capacityBytes: 8 << 20, filtered: true, bloomPrefix: MemtableGroupIndexTests.byTwo)
        let total = 40_000
        let shared = GroupProbeProgress()
        let key = MemtableGroupIndexTests.scattered
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for i in 0..<total {
                    key(i).withUnsafeBytes { k in [UInt8(i % 256)].withUnsafeBytes { m.add(sequence: SequenceNumber(i + 1), kind: .put, key: k, value: $0) } }
                    shared.published.store(i + 1, ordering: .releasing)
                }
            }
            for r in 0..<2 {
                group.addTask {
                    var rng = SplitMix64(seed: UInt64(r))
                    var done = false
                    while !done {
                        let n = shared.published.load(ordering: .acquiring)
                        done = n == total
                        guard n > 0 else { continue }
                        let i = Int.random(in: 0..<n, using: &rng)
                        let k = key(i)
                        let useKey = rng.next() % 2 == 0
                        let lower = useKey ? k : Array(k[0..<2])
                        let upper = useKey ? k + [0] : Array(k[0..<2]) + [0xFF]
                        let filter = useKey
                            ? StorageEngine.ReadFilter(hash: k.withUnsafeBytes { bloomHash($0) }, prefix: nil, group: k[...])
                            : StorageEngine.ReadFilter(hash: Array(k[0..<2]).withUnsafeBytes { bloomHash($0) },
                                                       prefix: MemtableGroupIndexTests.byTwo, group: k[0..<2])
                        let bounds = ProbeBounds(sequence: SequenceNumber(n), upper: upper, skipping: nil, comparator: .bytewise)
                        // A probe from the key itself must stop at it.
                        let t = InternalKey.seekTarget(k, SequenceNumber(n))
                        let e = try? t.withUnsafeBytes { try m.firstVisible(atOrAfter: $0, bounds, group: filter) }
                        if e?.userKey != k {
                            let found = String(describing: e?.userKey)
                            shared.failures.withLock {
                                if $0.count < 5 { $0.append("reader \(r): key \(i) of \(n) published: \(found) (lower \(lower))") }
                            }
                        }
                    }
                }
            }
        }
        #expect(shared.failures.withLock { $0 } == [])
    }
}

/// What the writer and the readers of the threaded test share.
private final class GroupProbeProgress: Sendable {
    /// Keys added so far; stored with release after each add.
    let published = Atomic<Int>(0)
    let failures = Mutex<[String]>([])
}
