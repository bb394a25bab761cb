// Random walks of the engine's iterator (next, prev, seek, seekForPrev, seekToFirst, seekToLast,
// with and without bounds, live and at snapshots) over data spread across the memtable, level-0
// tables and deeper levels, with overwrites, deletes and range deletes, compared at every step
// (validity, key and value) with a sorted model. The seed is printed on failure;
// APUS_WALK_SEED=S replays one seed.
import ApusCore
import Foundation
import Testing
@testable import ApusStorage

@Suite struct IteratorWalkTests {
    static var seeds: [UInt64] {
        if let s = ProcessInfo.processInfo.environment["APUS_WALK_SEED"].flatMap(UInt64.init) { return [s] }
        return [11, 12, 13, 14]
    }

    @Test(arguments: [KeyComparator.bytewise, KeyComparator.mvcc])
    func walksAgreeWithModel(comparator: KeyComparator) throws {
        for seed in Self.seeds {
            try walk(seed: seed, comparator: comparator)
        }
    }

    private func key(_ i: Int, _ comparator: KeyComparator) -> [UInt8] {
        switch comparator {
        case .bytewise: return Array(String(format: "key%04d", i).utf8)
        case .mvcc: return MVCCKey.encode(Array(String(format: "k%03d", i / 3).utf8), Timestamp(wallNanos: UInt64(i % 3 + 1) * 10))
        }
    }

    private func walk(seed: UInt64, comparator: KeyComparator) throws {
        var rng = SplitMix64(seed: seed)
        var options = StorageOptions()
        options.comparator = comparator
        options.memtableBytesMax = 64 << 10
        options.tableBytesTarget = 64 << 10
        options.level1BytesMax = 64 << 10
        options.levelSizeMultiplier = 2
        options.level0CompactionTrigger = 4
        options.blockBytes = 256
        options.compactionBytesPerSecondMax = nil
        let engine = try StorageEngine.open(directory: "/db", options: options, fileSystem: MemoryFileSystem())
        defer { try? engine.close() }
        let keySpace = 240
        var model: [[UInt8]: [UInt8]] = [:]
        var snapshots: [(Snapshot, [[UInt8]: [UInt8]])] = []
        for round in 0..<6 {
            // Writes: puts (many overwrites), deletes and a few range deletes, with flushes and
            // compactions between them so that versions of one key lie in several sources.
            for _ in 0..<400 {
                let k = key(rng.uniform(keySpace), comparator)
                switch rng.uniform(100) {
                case 0..<65:
                    let v = rng.bytes(1 + rng.uniform(40))
                    try engine.put(k, v)
                    model[k] = v
                case 65..<90:
                    try engine.delete(k)
                    model[k] = nil
                case 90..<93:
                    var a = k, b = key(rng.uniform(keySpace), comparator)
                    if comparator.compare(a, b) > 0 { swap(&a, &b) }
                    try engine.deleteRange(a, b)
                    for m in model.keys where comparator.compare(a, m) <= 0 && comparator.compare(m, b) < 0 { model[m] = nil }
                case 93..<95:
                    try engine.flush()
                case 95..<96:
                    if rng.chance(0.3) { try engine.compactAll() }
                default:
                    if snapshots.count < 3 { snapshots.append((engine.snapshot(), model)) }
                }
            }
            var views: [(Snapshot?, [[UInt8]: [UInt8]])] = [(nil, model)]
            views += snapshots.map { ($0.0, $0.1) }
            for (snapshot, m) in views {
                for walkIndex in 0..<6 {
                    let where_ = "seed \(seed) comparator \(comparator.name) round \(round) walk \(walkIndex)"
                    try walkOnce(engine: engine, snapshot: snapshot, model: m, comparator: comparator, keySpace: keySpace,
                                 rng: &rng, context: where_)
                }
            }
            if rng.chance(0.5), !snapshots.isEmpty { snapshots.removeFirst() }
        }
    }

    private func walkOnce(engine: StorageEngine, snapshot: Snapshot?, model: [[UInt8]: [UInt8]], comparator: KeyComparator,
                          keySpace: Int, rng: inout SplitMix64, context: String) throws {
        var lower: [UInt8]? = rng.chance(0.4) ? key(rng.uniform(keySpace), comparator) : nil
        var upper: [UInt8]? = rng.chance(0.4) ? key(rng.uniform(keySpace), comparator) : nil
        if let l = lower, let u = upper, comparator.compare(l, u) > 0 { (lower, upper) = (u, l) }
        let expected = model.filter { (k, _) in
            (lower.map { comparator.compare(k, $0) >= 0 } ?? true) && (upper.map { comparator.compare(k, $0) < 0 } ?? true)
        }.sorted { comparator.compare($0.key, $1.key) < 0 }
        let it = try engine.makeIterator(IteratorOptions(lowerBound: lower, upperBound: upper), snapshot: snapshot)
        var position: Int?  // index into `expected`, nil when invalid
        for step in 0..<60 {
            var what: String
            let r = rng.uniform(100)
            if position == nil || r < 12 {
                switch rng.uniform(4) {
                case 0:
                    what = "seekToFirst"
                    try it.seekToFirst()
                    position = expected.isEmpty ? nil : 0
                case 1:
                    what = "seekToLast"
                    try it.seekToLast()
                    position = expected.isEmpty ? nil : expected.count - 1
                case 2:
                    let t = key(rng.uniform(keySpace + 2) - 1, comparator)
                    what = "seek \(t)"
                    try it.seek(t)
                    position = expected.firstIndex { comparator.compare($0.key, t) >= 0 }
                default:
                    let t = key(rng.uniform(keySpace + 2) - 1, comparator)
                    what = "seekForPrev \(t)"
                    try it.seekForPrev(t)
                    position = expected.lastIndex { comparator.compare($0.key, t) <= 0 }
                }
            } else if r < 60 {
                what = "next"
                try it.next()
                position = position! + 1 < expected.count ? position! + 1 : nil
            } else {
                what = "prev"
                try it.prev()
                position = position! > 0 ? position! - 1 : nil
            }
            let c = Comment(rawValue: "\(context) step \(step) \(what) bounds \(String(describing: lower))..<\(String(describing: upper))")
            #expect(it.isValid == (position != nil), c)
            if let p = position, it.isValid {
                #expect(it.key == expected[p].key, c)
                #expect(it.value == expected[p].value, c)
                if it.key != expected[p].key || it.value != expected[p].value { return }
            } else if it.isValid != (position != nil) {
                return
            }
        }
    }
}
