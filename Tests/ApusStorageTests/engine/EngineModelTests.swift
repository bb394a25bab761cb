// EngineModel-based randomized test of the whole engine: thousands of seeded operations (puts,
// deletes, range deletes, multi-op batches, gets, snapshots and reads through them, bounded
// forward and backward iteration, flushes, full compactions, clean reopen, and simulated
// crashes of the in-memory file system that lose unsynced writes) run against the engine and
// against a sorted in-memory map, and every read must agree. After a crash the engine must hold
// exactly the state after some write between the last synced one and the last one (a prefix of
// the history: nothing acknowledged as synced lost, nothing half-applied). The seed is printed on
// failure; APUS_MODEL_SEED=S replays one seed, APUS_MODEL_SEEDS=N runs N seeds.
import ApusCore
import Foundation
import Testing
@testable import ApusStorage

@Suite struct EngineModelTests {
    static var seeds: [UInt64] {
        let env = ProcessInfo.processInfo.environment
        if let s = env["APUS_MODEL_SEED"].flatMap(UInt64.init) { return [s] }
        let n = env["APUS_MODEL_SEEDS"].flatMap(Int.init) ?? 6
        return (0..<UInt64(n)).map { 1000 + $0 * 7919 }
    }

    @Test(arguments: [KeyComparator.bytewise, KeyComparator.mvcc])
    func randomizedAgainstModel(comparator: KeyComparator) throws {
        for seed in Self.seeds {
            var run = ModelRun(seed: seed, comparator: comparator)
            try run.execute(operations: 2500)
        }
    }
}

typealias EngineModel = [[UInt8]: [UInt8]]

struct ModelRun {
    let seed: UInt64
    let comparator: KeyComparator
    var rng: TestRNG
    let fs = MemoryFileSystem()
    let dir = "/db"
    var options = StorageOptions()
    var engine: StorageEngine
    var model: EngineModel = [:]
    /// States after each write since the last synced write (the first is the synced state).
    var history: [EngineModel] = [[:]]
    var snapshots: [(Snapshot, EngineModel)] = []

    init(seed: UInt64, comparator: KeyComparator) {
        self.seed = seed
        self.comparator = comparator
        rng = TestRNG(seed: seed)
        options.comparator = comparator
        options.memtableBytesMax = 64 << 10
        options.tableBytesTarget = 64 << 10
        options.level1BytesMax = 128 << 10
        options.levelSizeMultiplier = 2
        options.level0CompactionTrigger = 2
        options.blockBytes = 512
        options.blockCacheBytes = 64 << 10
        options.compactionBytesPerSecondMax = nil
        options.compression = [BlockCompression.none, .lz4, .zstd][Int(seed % 3)]
        // A freshly created engine; a failure to open stops the test with the reason.
        do { engine = try StorageEngine.open(directory: "/db", options: options, fileSystem: fs) } catch { fatalError("open: \(error)") }
    }

    func key(_ i: Int) -> [UInt8] {
        let base = Array(String(format: "key%05d", i).utf8)
        switch comparator {
        case .bytewise: return base
        case .mvcc: return MVCCKey.encode(Array(String(format: "k%03d", i / 4).utf8), Timestamp(wallNanos: UInt64(i % 4 + 1) * 10))
        }
    }

    func ordered(_ m: EngineModel) -> [([UInt8], [UInt8])] {
        m.sorted { comparator.compare($0.key, $1.key) < 0 }.map { ($0.key, $0.value) }
    }

    func context(_ step: Int, _ what: String) -> Comment {
        Comment(rawValue: "seed \(seed) comparator \(comparator.name) step \(step): \(what)")
    }

    mutating func recordWrite(sync: Bool) {
        if sync { history = [model] } else { history.append(model) }
    }

    mutating func execute(operations: Int) throws {
        let keySpace = 400
        for step in 0..<operations {
            let r = rng.uniform(100)
            switch r {
            case 0..<30:
                let k = key(rng.uniform(keySpace)), v = rng.bytes(rng.uniform(300))
                let sync = rng.chance(0.3)
                try engine.put(k, v, sync: sync)
                model[k] = v
                recordWrite(sync: sync)
            case 30..<40:
                let k = key(rng.uniform(keySpace))
                let sync = rng.chance(0.3)
                try engine.delete(k, sync: sync)
                model[k] = nil
                recordWrite(sync: sync)
            case 40..<43:
                var a = key(rng.uniform(keySpace)), b = key(rng.uniform(keySpace))
                if comparator.compare(a, b) > 0 { swap(&a, &b) }
                let sync = rng.chance(0.5)
                try engine.deleteRange(a, b, sync: sync)
                for k in model.keys where comparator.compare(a, k) <= 0 && comparator.compare(k, b) < 0 { model[k] = nil }
                recordWrite(sync: sync)
            case 43..<50:
                var batch = WriteBatch()
                for _ in 0..<(1 + rng.uniform(20)) {
                    let k = key(rng.uniform(keySpace))
                    if rng.chance(0.7) {
                        let v = rng.bytes(rng.uniform(100))
                        batch.put(k, v)
                        model[k] = v
                    } else {
                        batch.delete(k)
                        model[k] = nil
                    }
                }
                let sync = rng.chance(0.5)
                try engine.write(batch, sync: sync)
                recordWrite(sync: sync)
            case 50..<65:
                let k = key(rng.uniform(keySpace))
                #expect(try engine.get(k) == model[k], context(step, "get \(k)"))
            case 65..<73:
                try checkIteration(step, snapshot: nil, model: model)
            case 73..<76:
                if snapshots.count < 4 { snapshots.append((engine.snapshot(), model)) }
            case 76..<81:
                if let (snap, m) = snapshots.randomElement(using: &rng) {
                    let k = key(rng.uniform(keySpace))
                    #expect(try engine.get(k, snapshot: snap) == m[k], context(step, "snapshot get"))
                    if rng.chance(0.3) { try checkIteration(step, snapshot: snap, model: m) }
                }
            case 81..<84:
                if !snapshots.isEmpty { snapshots.removeFirst() }
            case 84..<88:
                try engine.flush()
            case 88..<89:
                try engine.compactAll()
            case 89..<91:
                try engine.close()
                snapshots = []
                engine = try StorageEngine.open(directory: dir, options: options, fileSystem: fs)
                history = [model]
                try checkAll(step, "after reopen")
            case 91..<93:
                try crashAndRecover(step)
            default:
                let k = key(rng.uniform(keySpace))
                #expect(try engine.get(k) == model[k], context(step, "get"))
            }
        }
        try checkAll(operations, "final")
        try engine.close()
    }

    mutating func crashAndRecover(_ step: Int) throws {
        engine.closeForCrashTest()
        snapshots = []
        fs.crash(mode: rng.chance(0.5) ? .torn(seed: rng.next()) : .dropUnsynced)
        engine = try StorageEngine.open(directory: dir, options: options, fileSystem: fs)
        let state = try readAll(snapshot: nil)
        guard let match = history.lastIndex(where: { ordered($0).elementsEqual(state, by: { $0.0 == $1.0 && $0.1 == $1.1 }) }) else {
            Issue.record(context(step, "state after crash matches no prefix of the history (\(history.count) candidates, \(state.count) keys)"))
            throw CancellationError()
        }
        model = history[match]
        history = [model]
    }

    func readAll(snapshot: Snapshot?) throws -> [([UInt8], [UInt8])] {
        let it = try engine.makeIterator(snapshot: snapshot)
        var out: [([UInt8], [UInt8])] = []
        try it.seekToFirst()
        while it.isValid {
            out.append((it.key, it.value))
            try it.next()
        }
        return out
    }

    func checkAll(_ step: Int, _ what: String) throws {
        let got = try readAll(snapshot: nil)
        let want = ordered(model)
        #expect(got.map(\.0) == want.map(\.0), context(step, "\(what): keys"))
        #expect(got.map(\.1) == want.map(\.1), context(step, "\(what): values"))
        // Backward iteration sees the same, reversed.
        let it = try engine.makeIterator()
        var back: [[UInt8]] = []
        try it.seekToLast()
        while it.isValid { back.append(it.key); try it.prev() }
        #expect(back == want.map(\.0).reversed(), context(step, "\(what): backward keys"))
    }

    mutating func checkIteration(_ step: Int, snapshot: Snapshot?, model m: EngineModel) throws {
        let all = ordered(m)
        var a = key(rng.uniform(400)), b = key(rng.uniform(400))
        if comparator.compare(a, b) > 0 { swap(&a, &b) }
        let useLower = rng.chance(0.5), useUpper = rng.chance(0.5)
        let expected = all.filter { (k, _) in
            (!useLower || comparator.compare(k, a) >= 0) && (!useUpper || comparator.compare(k, b) < 0)
        }
        let it = try engine.makeIterator(IteratorOptions(lowerBound: useLower ? a : nil, upperBound: useUpper ? b : nil),
                                         snapshot: snapshot)
        let limit = 1 + rng.uniform(40)
        if rng.chance(0.5) {
            try it.seekToFirst()
            var got: [[UInt8]] = []
            while it.isValid && got.count < limit { got.append(it.key); try it.next() }
            #expect(got == Array(expected.prefix(limit).map(\.0)), context(step, "forward iteration"))
            // Switch direction once: prev from the current position.
            if it.isValid && got.count >= 2 {
                try it.prev()
                #expect(it.isValid && it.key == got[got.count - 1], context(step, "direction switch"))
            }
        } else {
            try it.seekToLast()
            var got: [[UInt8]] = []
            while it.isValid && got.count < limit { got.append(it.key); try it.prev() }
            #expect(got == Array(expected.reversed().prefix(limit).map(\.0)), context(step, "backward iteration"))
        }
        // A seek lands on the first key >= target.
        let target = key(rng.uniform(400))
        try it.seek(target)
        let want = expected.first { comparator.compare($0.0, target) >= 0 }
        let gotKey: [UInt8]? = it.isValid ? it.key : nil
        #expect(gotKey == want?.0, context(step, "seek"))
        if it.isValid { #expect(it.value == want?.1, context(step, "seek value")) }
    }
}

extension Array {
    func randomElement(using rng: inout TestRNG) -> Element? {
        isEmpty ? nil : self[rng.uniform(count)]
    }
}
