// Tests of the memtable (arena skiplist) against a naive model: a plain array of entries sorted
// with the comparator's internal-key order. Seeded random scripts of puts, deletes and range
// deletes over a small key space (so keys have many versions) run under both comparators; then
// point lookups at random snapshot sequences, full forward and backward scans, and seek /
// seekForPrev followed by random next/prev walks must agree with the model exactly, as must the
// range-tombstone side list and the counters. Capacity tests fill small arenas to their bound.
// Each test takes its seed as an argument, so a failure names the seed that reproduces it; a
// failure means the skiplist misorders, loses or corrupts an entry, or the lookup rules differ
// from the engine's visibility rule (newest put/delete with sequence <= the snapshot).
import ApusCore
import Testing
@testable import ApusStorage

/// SplitMix64: a small, seeded, reproducible generator for test scripts.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One entry of the model: what `add` was given.
private struct ModelEntry {
    var userKey: [UInt8]
    var sequence: SequenceNumber
    var kind: ValueKind
    var value: [UInt8]
    var internalKey: [UInt8] { InternalKey.make(userKey, sequence, kind) }
}

/// The naive memtable: every entry in an array, sorted on demand.
private struct Model {
    let comparator: KeyComparator
    var entries: [ModelEntry] = []

    func sortedKeys() -> [(key: [UInt8], value: [UInt8])] {
        entries.map { ($0.internalKey, $0.value) }.sorted { comparator.compareInternal($0.key, $1.key) < 0 }
    }

    func get(_ userKey: [UInt8], _ sequence: SequenceNumber) -> MemtableLookup {
        var best: ModelEntry?
        for e in entries where e.kind != .rangeDelete && e.sequence <= sequence
            && comparator.compare(e.userKey, userKey) == 0 {
            if best.map({ e.sequence > $0.sequence }) ?? true { best = e }
        }
        guard let best else { return .notFound }
        return best.kind == .put ? .found(best.value, best.sequence) : .deleted(best.sequence)
    }
}

/// Makes user keys for one comparator from a small space, so that keys repeat.
private func randomUserKey(_ comparator: KeyComparator, _ rng: inout SplitMix64) -> [UInt8] {
    let base: [UInt8] = Array("k\(rng.next() % 40)".utf8) + (rng.next() % 5 == 0 ? [0x00, 0xFF] : [])
    switch comparator {
    case .bytewise:
        return rng.next() % 20 == 0 ? [] : base
    case .mvcc:
        let ts = rng.next() % 4 == 0 ? Timestamp.zero
            : Timestamp(wallNanos: 1 + rng.next() % 6, logical: UInt32(rng.next() % 3))
        return MVCCKey.encode(base, ts)
    }
}

private func randomBytes(_ count: Int, _ rng: inout SplitMix64) -> [UInt8] {
    (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
}

/// Builds a memtable and its model from a seeded script of `count` operations.
private func buildRandom(_ comparator: KeyComparator, seed: UInt64, count: Int) -> (Memtable, Model) {
    var rng = SplitMix64(seed: seed)
    let memtable = Memtable(comparator: comparator, capacityBytes: 4 << 20, randomSeed: seed)
    var model = Model(comparator: comparator)
    var sequence: SequenceNumber = 0
    for _ in 0..<count {
        sequence += 1 + rng.next() % 3
        let userKey = randomUserKey(comparator, &rng)
        let roll = rng.next() % 10
        let kind: ValueKind = roll < 7 ? .put : (roll < 9 ? .delete : .rangeDelete)
        let value: [UInt8] = switch kind {
        case .put: randomBytes(Int(rng.next() % 24), &rng)
        case .delete: []
        case .rangeDelete: randomUserKey(comparator, &rng)
        }
        memtable.add(sequence: sequence, kind: kind, key: userKey, value: value)
        model.entries.append(ModelEntry(userKey: userKey, sequence: sequence, kind: kind, value: value))
    }
    return (memtable, model)
}

/// A random internal key to seek to: near the data, any sequence, any kind.
private func randomTarget(_ comparator: KeyComparator, _ maxSequence: SequenceNumber,
                          _ rng: inout SplitMix64) -> [UInt8] {
    let kind = ValueKind(rawValue: UInt8(rng.next() % 3)) ?? .put
    return InternalKey.make(randomUserKey(comparator, &rng), rng.next() % (maxSequence + 2), kind)
}

@Suite struct MemtableTests {
    static let comparators: [KeyComparator] = [.bytewise, .mvcc]
    static let seeds: [UInt64] = [1, 2, 3, 0xDEAD_BEEF]

    @Test func emptyMemtable() throws {
        let memtable = Memtable(comparator: .bytewise, capacityBytes: 64 << 10)
        #expect(memtable.isEmpty)
        #expect(memtable.entryCount == 0)
        #expect(memtable.get(userKey: [1, 2, 3], sequence: maxSequenceNumber) == .notFound)
        #expect(memtable.rangeTombstones().isEmpty)
        let it = memtable.makeIterator()
        #expect(!it.isValid)
        try it.seekToFirst()
        #expect(!it.isValid)
        try it.seekToLast()
        #expect(!it.isValid)
        try it.seek(InternalKey.seekTarget([1], 5))
        #expect(!it.isValid)
        try it.seekForPrev(InternalKey.seekTarget([1], 5))
        #expect(!it.isValid)
    }

    @Test func getHonorsSnapshotsAndKinds() {
        let m = Memtable(comparator: .bytewise, capacityBytes: 64 << 10)
        let a: [UInt8] = Array("a".utf8), b: [UInt8] = Array("b".utf8), ab: [UInt8] = Array("ab".utf8)
        m.add(sequence: 10, kind: .put, key: a, value: [1])
        m.add(sequence: 20, kind: .delete, key: a, value: [])
        m.add(sequence: 30, kind: .put, key: a, value: [3])
        m.add(sequence: 35, kind: .rangeDelete, key: a, value: b)
        m.add(sequence: 40, kind: .put, key: ab, value: [4])
        m.add(sequence: 50, kind: .put, key: [], value: [5])
        #expect(m.get(userKey: a, sequence: 9) == .notFound)
        #expect(m.get(userKey: a, sequence: 10) == .found([1], 10))
        #expect(m.get(userKey: a, sequence: 19) == .found([1], 10))
        #expect(m.get(userKey: a, sequence: 20) == .deleted(20))
        #expect(m.get(userKey: a, sequence: 30) == .found([3], 30))
        // The range deletion at 35 is skipped by get; the engine applies tombstones separately.
        #expect(m.get(userKey: a, sequence: 100) == .found([3], 30))
        #expect(m.get(userKey: ab, sequence: 39) == .notFound)
        #expect(m.get(userKey: ab, sequence: 40) == .found([4], 40))
        #expect(m.get(userKey: b, sequence: 100) == .notFound)
        #expect(m.get(userKey: [], sequence: 100) == .found([5], 50))
        #expect(m.get(userKey: a, sequence: maxSequenceNumber) == .found([3], 30))
        #expect(m.rangeTombstones() == [RangeTombstone(start: a, end: b, sequence: 35)])
        #expect(m.entryCount == 6)
    }

    @Test(arguments: comparators, seeds)
    func matchesModel(comparator: KeyComparator, seed: UInt64) throws {
        let (memtable, model) = buildRandom(comparator, seed: seed, count: 1500)
        var rng = SplitMix64(seed: seed ^ 0x5EED)
        let maxSequence = model.entries.last?.sequence ?? 0

        // Point lookups at random snapshots, for present and absent keys.
        for _ in 0..<1500 {
            let userKey = randomUserKey(comparator, &rng)
            let snapshot = rng.next() % 8 == 0 ? maxSequenceNumber : rng.next() % (maxSequence + 2)
            let expected = model.get(userKey, snapshot)
            let actual = memtable.get(userKey: userKey, sequence: snapshot)
            try #require(actual == expected, "seed \(seed) \(comparator) key \(userKey) at \(snapshot)")
        }

        // Full scans both ways.
        let sorted = model.sortedKeys()
        let it = memtable.makeIterator()
        try it.seekToFirst()
        for (i, e) in sorted.enumerated() {
            try #require(it.isValid, "seed \(seed): forward scan ended at \(i)")
            try #require(it.key == e.key && it.value == e.value, "seed \(seed): forward entry \(i)")
            try it.next()
        }
        #expect(!it.isValid)
        try it.seekToLast()
        for (i, e) in sorted.enumerated().reversed() {
            try #require(it.isValid, "seed \(seed): backward scan ended at \(i)")
            try #require(it.key == e.key && it.value == e.value, "seed \(seed): backward entry \(i)")
            try it.prev()
        }
        #expect(!it.isValid)

        // Seeks followed by random walks; `position` is the model index (nil = invalid).
        for _ in 0..<300 {
            let target = randomTarget(comparator, maxSequence, &rng)
            var position: Int?
            if rng.next() % 2 == 0 {
                try it.seek(target)
                position = sorted.firstIndex { comparator.compareInternal($0.key, target) >= 0 }
            } else {
                try it.seekForPrev(target)
                position = sorted.lastIndex { comparator.compareInternal($0.key, target) <= 0 }
            }
            for step in 0..<8 {
                guard let p = position else {
                    try #require(!it.isValid, "seed \(seed): valid past the model at step \(step)")
                    break
                }
                try #require(it.isValid && it.key == sorted[p].key && it.value == sorted[p].value,
                             "seed \(seed): seek target \(target) step \(step)")
                if rng.next() % 2 == 0 {
                    try it.next()
                    position = p + 1 < sorted.count ? p + 1 : nil
                } else {
                    try it.prev()
                    position = p > 0 ? p - 1 : nil
                }
            }
        }

        let tombstones = model.entries.filter { $0.kind == .rangeDelete }
            .map { RangeTombstone(start: $0.userKey, end: $0.value, sequence: $0.sequence) }
        #expect(memtable.rangeTombstones() == tombstones)
        #expect(memtable.entryCount == model.entries.count)
        #expect(!memtable.isEmpty)
    }

    /// Entries inserted in descending and ascending order exercise the head and tail splices.
    @Test func sequentialInsertOrders() throws {
        for descending in [false, true] {
            let m = Memtable(comparator: .bytewise, capacityBytes: 1 << 20)
            let n = 2000
            for i in 0..<n {
                let k = descending ? n - 1 - i : i
                m.add(sequence: SequenceNumber(i + 1), kind: .put, key: bigEndianKey(k), value: bigEndianKey(k * 3))
            }
            let it = m.makeMemtableIterator()
            it.seekToFirst()
            var count = 0
            while it.isValid {
                let expected = InternalKey.make(bigEndianKey(count), SequenceNumber(descending ? n - count : count + 1), .put)
                try #require(it.key == expected, "descending \(descending) entry \(count)")
                it.withValue { #expect(Array($0) == bigEndianKey(count * 3)) }
                count += 1
                it.next()
            }
            #expect(count == n)
        }
    }

    /// Runs of keys that each sort right after the one before (what the kept splice of the
    /// previous insert serves), runs going down, keys equal to earlier ones (new versions) and
    /// random keys, interleaved: the order and every lookup must match the model.
    @Test(arguments: seeds)
    func interleavedRunsKeepOrder(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let m = Memtable(comparator: .bytewise, capacityBytes: 8 << 20, randomSeed: seed)
        var model = Model(comparator: .bytewise)
        var sequence: SequenceNumber = 0
        var k = 0
        for _ in 0..<4000 {
            switch rng.next() % 10 {
            case 0..<5: k += 1 + Int(rng.next() % 2)
            case 5..<7: k = max(k - 1, 0)
            case 7: break
            default: k = Int(rng.next() % 3000)
            }
            sequence += 1
            let key = bigEndianKey(k)
            m.add(sequence: sequence, kind: .put, key: key, value: bigEndianKey(Int(sequence)))
            model.entries.append(ModelEntry(userKey: key, sequence: sequence, kind: .put, value: bigEndianKey(Int(sequence))))
        }
        let sorted = model.sortedKeys()
        let it = m.makeMemtableIterator()
        it.seekToFirst()
        for (i, e) in sorted.enumerated() {
            try #require(it.isValid && it.key == e.key, "seed \(seed): entry \(i)")
            it.next()
        }
        #expect(!it.isValid)
        for probe in stride(from: -2, to: 3002, by: 7) {
            let key = bigEndianKey(max(probe, 0))
            #expect(m.get(userKey: key, sequence: maxSequenceNumber) == model.get(key, maxSequenceNumber), "seed \(seed) key \(probe)")
        }
    }

    /// Filling a small arena stops exactly when `hasRoom` says so, never past the capacity.
    @Test(arguments: seeds)
    func capacityIsRespected(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let capacity = 32 << 10
        let m = Memtable(comparator: .bytewise, capacityBytes: capacity, randomSeed: seed)
        var model = Model(comparator: .bytewise)
        var sequence: SequenceNumber = 0
        while true {
            let key = randomBytes(1 + Int(rng.next() % 40), &rng)
            let value = randomBytes(Int(rng.next() % 300), &rng)
            guard m.hasRoom(keyBytes: key.count, valueBytes: value.count) else { break }
            let before = m.approximateBytes
            sequence += 1
            m.add(sequence: sequence, kind: .put, key: key, value: value)
            model.entries.append(ModelEntry(userKey: key, sequence: sequence, kind: .put, value: value))
            // A node costs its header, 1...maxHeight links, the internal key and the value.
            let grown = m.approximateBytes - before
            #expect(grown >= SkipList.nodeBytes(height: 1, keyBytes: key.count + 8, valueBytes: value.count))
            #expect(grown <= SkipList.nodeBytes(height: SkipList.maxHeight, keyBytes: key.count + 8,
                                                valueBytes: value.count))
        }
        #expect(m.approximateBytes <= capacity)
        #expect(m.approximateBytes > capacity - SkipList.nodeBytes(height: SkipList.maxHeight, keyBytes: 48,
                                                                   valueBytes: 300))
        #expect(!m.hasRoom(keyBytes: 1 << 20, valueBytes: 0))
        // Everything added is still intact.
        let it = m.makeIterator()
        try it.seekToFirst()
        for e in model.sortedKeys() {
            try #require(it.isValid && it.key == e.key && it.value == e.value, "seed \(seed)")
            try it.next()
        }
        #expect(!it.isValid)
    }

    /// Adding past the capacity is a caller bug (the engine must check `hasRoom`) and stops the process.
    @Test func addWithoutRoomStopsTheProcess() async {
        await #expect(processExitsWith: .failure) {
            let m = Memtable(comparator: .bytewise, capacityBytes: 1024)
            m.add(sequence: 1, kind: .put, key: [1], value: [UInt8](repeating: 0, count: 2048))
        }
    }

    /// An iterator keeps the arena alive after the memtable is released (a flush may outlive it).
    @Test func iteratorOutlivesMemtable() throws {
        var m: Memtable? = Memtable(comparator: .bytewise, capacityBytes: 64 << 10)
        m?.add(sequence: 1, kind: .put, key: [7], value: [8, 9])
        let it = m?.makeIterator()
        m = nil
        try it?.seekToFirst()
        #expect(it?.key == InternalKey.make([7], 1, .put))
        #expect(it?.value == [8, 9])
    }

    /// Pins the in-arena link representation: 4-byte offsets, 4-byte aligned, no padding.
    @Test func linkLayoutIsPinned() {
        #expect(MemoryLayout<SkipList.LinkStorage>.size == 4)
        #expect(MemoryLayout<SkipList.LinkStorage>.stride == 4)
        #expect(MemoryLayout<SkipList.LinkStorage>.alignment <= Arena.alignment)
        #expect(SkipList.nodeBytes(height: 1, keyBytes: 24, valueBytes: 100) == 140)
        #expect(SkipList.nodeBytes(height: 2, keyBytes: 9, valueBytes: 0) == 32)
    }
}

/// An 8-byte big-endian key, so byte order equals numeric order.
private func bigEndianKey(_ i: Int) -> [UInt8] {
    var out: [UInt8] = []
    out.appendBigEndian64(UInt64(i))
    return out
}

/// The memtable's filter (`MemtableFilter`, the table filters' blocked rule over atomic words):
/// never excludes a hash it was given, and excludes most others.
@Suite struct MemtableFilterTests {
    @Test(arguments: [1 << 16, 1 << 20, 3_000_000])
    func noFalseNegativesFewFalsePositives(bits: Int) {
        var rng = SplitMix64(seed: UInt64(bits))
        let filter = MemtableFilter(bits: bits)
        let members = (0..<bits / 20).map { _ in rng.next() }
        for h in members { filter.add(h) }
        for h in members { #expect(filter.mayContain(h), "bits \(bits)") }
        let absent = (0..<20_000).map { _ in rng.next() }
        let falsePositives = absent.filter { filter.mayContain($0) }.count
        // Ten bits per hash under six probes in one block: about 1%.
        #expect(Double(falsePositives) / Double(absent.count) < 0.03, "bits \(bits): \(falsePositives) false positives")
    }
}
