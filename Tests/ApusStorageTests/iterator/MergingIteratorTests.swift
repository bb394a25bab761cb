// Tests of the merging iterator against a naive model: the children's entries concatenated and
// stably sorted by (internal key, child index), the merge order the iterator documents. Seeded
// random children (some empty, some sharing internal keys with others, some memtables, some
// plain sorted arrays) are merged; then random scripts of seekToFirst / seekToLast / seek /
// seekForPrev each followed by a random walk of next and prev calls (so direction switches
// happen at every kind of position) must visit exactly the model's entries. Error tests make a
// child fail on its n-th call and expect the error to surface and the iterator to go invalid.
// Each test takes its seed as an argument, so a failure names the seed that reproduces it; a
// failure means the heap or a direction switch skips, repeats or misorders entries.
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

/// A child over a sorted array that can fail: every positioning call counts, and the call
/// numbered `failingCall` throws an injected error instead of moving.
private final class ArrayIterator: InternalIterator {
    private let entries: [(key: [UInt8], value: [UInt8])]
    private let comparator: KeyComparator
    private var position: Int?
    var calls = 0
    var failingCall: Int?

    init(_ entries: [(key: [UInt8], value: [UInt8])], comparator: KeyComparator) {
        self.entries = entries
        self.comparator = comparator
    }

    var isValid: Bool { position != nil }
    var key: [UInt8] { entries[position.unsafelyUnwrapped].key }
    var value: [UInt8] { entries[position.unsafelyUnwrapped].value }

    private func count() throws(StorageError) {
        calls += 1
        if calls == failingCall {
            position = nil
            throw StorageError(.injected, "array iterator call \(calls)")
        }
    }

    func seekToFirst() throws(StorageError) {
        try count()
        position = entries.isEmpty ? nil : 0
    }

    func seekToLast() throws(StorageError) {
        try count()
        position = entries.isEmpty ? nil : entries.count - 1
    }

    func seek(_ target: [UInt8]) throws(StorageError) {
        try count()
        position = entries.firstIndex { comparator.compareInternal($0.key, target) >= 0 }
    }

    func seekForPrev(_ target: [UInt8]) throws(StorageError) {
        try count()
        position = entries.lastIndex { comparator.compareInternal($0.key, target) <= 0 }
    }

    func next() throws(StorageError) {
        try count()
        let p = position.unsafelyUnwrapped
        position = p + 1 < entries.count ? p + 1 : nil
    }

    func prev() throws(StorageError) {
        try count()
        let p = position.unsafelyUnwrapped
        position = p > 0 ? p - 1 : nil
    }
}

/// A random internal key over a small space so children overlap and keys interleave.
private func randomInternalKey(_ rng: inout SplitMix64) -> [UInt8] {
    let userKey: [UInt8] = Array("u\(rng.next() % 30)".utf8)
    let kind = ValueKind(rawValue: UInt8(rng.next() % 3)) ?? .put
    return InternalKey.make(userKey, 1 + rng.next() % 20, kind)
}

/// Random children and the model of their merge. Child entries are unique within a child; some
/// internal keys are copied into several children to exercise ties.
private func makeChildren(seed: UInt64, comparator: KeyComparator)
    -> (children: [any InternalIterator], model: [(key: [UInt8], value: [UInt8])]) {
    var rng = SplitMix64(seed: seed)
    let childCount = Int(rng.next() % 6)
    var shared: [[UInt8]] = (0..<4).map { _ in randomInternalKey(&rng) }
    shared = shared.reduce(into: []) { acc, k in if !acc.contains(k) { acc.append(k) } }
    var children: [any InternalIterator] = []
    var tagged: [(key: [UInt8], value: [UInt8], child: Int)] = []
    for c in 0..<childCount {
        var keys: [[UInt8]] = []
        let size = rng.next() % 4 == 0 ? 0 : Int(rng.next() % 60)
        for _ in 0..<size {
            let k = rng.next() % 8 == 0 ? shared[Int(rng.next() % UInt64(shared.count))] : randomInternalKey(&rng)
            if !keys.contains(k) { keys.append(k) }
        }
        keys.sort { comparator.compareInternal($0, $1) < 0 }
        let entries = keys.map { (key: $0, value: [UInt8(c)] + $0.prefix(3)) }
        tagged += entries.map { ($0.key, $0.value, c) }
        if rng.next() % 2 == 0 {
            let memtable = Memtable(comparator: comparator, capacityBytes: 64 << 10, randomSeed: seed)
            for e in entries {
                guard let (userKey, sequence, kind) = InternalKey.parse(e.key) else { continue }
                memtable.add(sequence: sequence, kind: kind, key: Array(userKey), value: e.value)
            }
            children.append(memtable.makeIterator())
        } else {
            children.append(ArrayIterator(entries, comparator: comparator))
        }
    }
    // Stable order by (key, child): sort with the child index as the tie-break.
    tagged.sort { a, b in
        let c = comparator.compareInternal(a.key, b.key)
        return c != 0 ? c < 0 : a.child < b.child
    }
    return (children, tagged.map { ($0.key, $0.value) })
}

@Suite struct MergingIteratorTests {
    @Test(arguments: Array(UInt64(1)...UInt64(40)))
    func matchesMergedModel(seed: UInt64) throws {
        let comparator: KeyComparator = .bytewise
        let (children, model) = makeChildren(seed: seed, comparator: comparator)
        let it = MergingIterator(children: children, comparator: comparator)
        #expect(!it.isValid)

        // Full scans both ways.
        try it.seekToFirst()
        for (i, e) in model.enumerated() {
            try #require(it.isValid && it.key == e.key && it.value == e.value, "seed \(seed): forward \(i)")
            try it.next()
        }
        #expect(!it.isValid, "seed \(seed)")
        try it.seekToLast()
        for (i, e) in model.enumerated().reversed() {
            try #require(it.isValid && it.key == e.key && it.value == e.value, "seed \(seed): backward \(i)")
            try it.prev()
        }
        #expect(!it.isValid, "seed \(seed)")

        // Random positioning and walks with direction switches; `position` indexes the model.
        var rng = SplitMix64(seed: seed ^ 0xABCD)
        for round in 0..<60 {
            var position: Int?
            let target = randomInternalKey(&rng)
            switch rng.next() % 4 {
            case 0:
                try it.seekToFirst()
                position = model.isEmpty ? nil : 0
            case 1:
                try it.seekToLast()
                position = model.isEmpty ? nil : model.count - 1
            case 2:
                try it.seek(target)
                position = model.firstIndex { comparator.compareInternal($0.key, target) >= 0 }
            default:
                try it.seekForPrev(target)
                position = model.lastIndex { comparator.compareInternal($0.key, target) <= 0 }
            }
            for step in 0..<12 {
                guard let p = position else {
                    try #require(!it.isValid, "seed \(seed) round \(round) step \(step): valid past the model")
                    break
                }
                try #require(it.isValid && it.key == model[p].key && it.value == model[p].value,
                             "seed \(seed) round \(round) step \(step)")
                if rng.next() % 2 == 0 {
                    try it.next()
                    position = p + 1 < model.count ? p + 1 : nil
                } else {
                    try it.prev()
                    position = p > 0 ? p - 1 : nil
                }
            }
        }
    }

    @Test func mvccKeysMergeInComparatorOrder() throws {
        let comparator: KeyComparator = .mvcc
        let ts = { (w: UInt64) in Timestamp(wallNanos: w) }
        let a = Memtable(comparator: comparator, capacityBytes: 64 << 10)
        a.add(sequence: 1, kind: .put, key: MVCCKey.encode(Array("k".utf8), ts(5)), value: [1])
        a.add(sequence: 2, kind: .put, key: MVCCKey.encode(Array("m".utf8), .zero), value: [2])
        let b = Memtable(comparator: comparator, capacityBytes: 64 << 10)
        b.add(sequence: 3, kind: .put, key: MVCCKey.encode(Array("k".utf8), ts(9)), value: [3])
        b.add(sequence: 4, kind: .put, key: MVCCKey.encode(Array("k".utf8), .zero), value: [4])
        let it = MergingIterator(children: [a.makeIterator(), b.makeIterator()], comparator: comparator)
        var values: [[UInt8]] = []
        try it.seekToFirst()
        while it.isValid {
            values.append(it.value)
            try it.next()
        }
        // k (unversioned) first, then k@9, k@5, then m.
        #expect(values == [[4], [3], [1], [2]])
    }

    @Test func noChildren() throws {
        let it = MergingIterator(children: [], comparator: .bytewise)
        try it.seekToFirst()
        #expect(!it.isValid)
        try it.seekForPrev(InternalKey.seekTarget([1], 1))
        #expect(!it.isValid)
    }

    /// A child failing on any of its calls makes that call's error surface from the merge.
    @Test(arguments: Array(1...12))
    func childErrorsPropagate(failingCall: Int) throws {
        let comparator: KeyComparator = .bytewise
        let entries = (0..<5).map { (key: InternalKey.make([UInt8(2 * $0)], 1, .put), value: [UInt8($0)]) }
        let other = (0..<5).map { (key: InternalKey.make([UInt8(2 * $0 + 1)], 1, .put), value: [UInt8($0)]) }
        let failing = ArrayIterator(entries, comparator: comparator)
        failing.failingCall = failingCall
        let it = MergingIterator(children: [ArrayIterator(other, comparator: comparator), failing],
                                 comparator: comparator)
        var thrown: StorageError?
        do {
            // Partly forward, switch back, then full scans both ways and a seek: the failing
            // child sees more than 12 calls when nothing fails.
            try it.seekToFirst()
            for _ in 0..<4 { try it.next() }
            for _ in 0..<2 { try it.prev() }
            try it.seekToFirst()
            while it.isValid { try it.next() }
            try it.seekToLast()
            while it.isValid { try it.prev() }
            try it.seek(InternalKey.seekTarget([3], 1))
        } catch {
            thrown = error
        }
        #expect(thrown?.code == .injected, "failing call \(failingCall)")
        #expect(!it.isValid)
        // A later successful seek recovers.
        failing.failingCall = nil
        try it.seekToFirst()
        #expect(it.isValid && it.key == InternalKey.make([0], 1, .put))
    }
}
