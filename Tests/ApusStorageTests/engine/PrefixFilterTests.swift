// Prefix filters (`BloomPrefix`): a bounded read whose keys share one prefix leaves out the
// tables whose filter lacks it. Over random groups of keys spread across the memtable, level-0
// tables and deeper levels, with overwrites, deletes and range deletes, every such read must
// return what a sorted model holds (a filter may never hide a key), reads of absent groups
// must skip tables, and a reopen with another prefix function must still read correctly (its
// hashes do not match the tables' filters, which it must therefore not use).
import ApusCore
import Foundation
import Testing
@testable import ApusStorage

@Suite struct PrefixFilterTests {
    /// Keys: a 3-byte group, then a suffix; the prefix is the group (none for keys under "z").
    static let byGroup = BloomPrefix(name: "test.group3") { key in key.count >= 3 && key[0] != UInt8(ascii: "z") ? 3 : nil }
    static let byTwo = BloomPrefix(name: "test.group2") { key in key.count >= 2 ? 2 : nil }

    /// Small memtables, tables and levels (data reaches every level quickly), with `prefix`.
    static func options(_ prefix: BloomPrefix?) -> StorageOptions {
        var o = StorageOptions()
        o.bloomPrefix = prefix
        o.memtableBytesMax = 64 << 10
        o.tableBytesTarget = 64 << 10
        o.level1BytesMax = 128 << 10
        o.levelSizeMultiplier = 2
        o.blockBytes = 512
        o.compactionBytesPerSecondMax = nil
        return o
    }

    static func group(_ g: Int) -> [UInt8] {
        [UInt8(ascii: (20..<24).contains(g) ? "z" : "g"), UInt8(g / 16 + 65), UInt8(g % 16 + 65)]
    }

    func scan(_ e: StorageEngine, _ lower: [UInt8], _ upper: [UInt8]) throws -> [[UInt8]: [UInt8]] {
        let it = try e.makeIterator(IteratorOptions(lowerBound: lower, upperBound: upper))
        try it.seek(lower)
        var out: [[UInt8]: [UInt8]] = [:]
        while it.isValid {
            out[it.key] = it.value
            try it.next()
        }
        return out
    }

    func check(_ e: StorageEngine, _ model: [[UInt8]: [UInt8]], groups: Int, _ context: String) throws {
        for g in 0..<groups {
            var lower = PrefixFilterTests.group(g)
            var upper = lower
            upper[2] += 1
            let want = model.filter { $0.key.starts(with: lower) }
            #expect(try scan(e, lower, upper) == want, "\(context) group \(g)")
            // A narrower read inside the group (a longer lower bound, the same prefix).
            lower.append(0x40)
            let inside = model.filter { $0.key.starts(with: PrefixFilterTests.group(g)) && !$0.key.lexicographicallyPrecedes(lower) }
            #expect(try scan(e, lower, upper) == inside, "\(context) group \(g) from 0x40")
            // A read from this group into the next: its keys share no one prefix.
            let next = PrefixFilterTests.group(g + 1) + [0x60]
            let across = model.filter { !$0.key.lexicographicallyPrecedes(lower) && $0.key.lexicographicallyPrecedes(next) }
            #expect(try scan(e, lower, next) == across, "\(context) groups \(g) and \(g + 1)")
        }
    }

    @Test(arguments: [21 as UInt64, 22, 23])
    func boundedReadsMatchTheModel(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let fs = MemoryFileSystem()
        var e = try StorageEngine.open(directory: "/db", options: PrefixFilterTests.options(PrefixFilterTests.byGroup), fileSystem: fs)
        var model: [[UInt8]: [UInt8]] = [:]
        // Groups 0..<24 exist (20..<24 are "z" groups, without a prefix); 24..<40 never do.
        let written = 24, groups = 40
        for round in 0..<4 {
            for _ in 0..<1500 {
                let k = PrefixFilterTests.group(Int(rng.next() % UInt64(written))) + [UInt8(truncatingIfNeeded: rng.next() % 200)]
                switch rng.next() % 100 {
                case 0..<70:
                    let v = (0..<(8 + Int(rng.next() % 40))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                    try e.put(k, v)
                    model[k] = v
                case 70..<95:
                    try e.delete(k)
                    model[k] = nil
                case 95..<97:
                    var b = k
                    b[b.count - 1] = b[b.count - 1] &+ 30
                    if k.lexicographicallyPrecedes(b) {
                        try e.deleteRange(k, b)
                        for m in model.keys where !m.lexicographicallyPrecedes(k) && m.lexicographicallyPrecedes(b) { model[m] = nil }
                    }
                default:
                    try e.flush()
                }
            }
            if round == 2 { try e.compactAll() }
            try check(e, model, groups: groups, "seed \(seed) round \(round)")
        }
        let skips = e.metrics().prefixFilterSkips
        #expect(skips > 0, "seed \(seed): reads of absent groups skipped no table")
        // Another prefix function: the tables' filters hold other prefixes and must not be used.
        try e.close()
        e = try StorageEngine.open(directory: "/db", options: PrefixFilterTests.options(PrefixFilterTests.byTwo), fileSystem: fs)
        try check(e, model, groups: groups, "seed \(seed) reopened with another prefix")
        // New tables written with it are used, and still agree.
        for g in 0..<written {
            let k = PrefixFilterTests.group(g) + [250]
            try e.put(k, [1])
            model[k] = [1]
        }
        try e.compactAll()
        try check(e, model, groups: groups, "seed \(seed) rewritten with another prefix")
        try e.close()
        e = try StorageEngine.open(directory: "/db", options: PrefixFilterTests.options(nil), fileSystem: fs)
        try check(e, model, groups: groups, "seed \(seed) reopened without a prefix")
        try e.close()
    }

    /// Memtables have a filter of their own: reads of absent groups and keys skip them, and
    /// everything written is found, before any flush and while entries are added concurrently.
    @Test func memtableFilterNeverHidesAKey() throws {
        let e = try StorageEngine.open(directory: "/db", options: PrefixFilterTests.options(PrefixFilterTests.byGroup), fileSystem: MemoryFileSystem())
        defer { try? e.close() }
        var model: [[UInt8]: [UInt8]] = [:]
        for g in 0..<20 where g % 2 == 0 {
            for i in 0..<30 {
                let k = PrefixFilterTests.group(g) + [UInt8(i)]
                try e.put(k, [UInt8(g), UInt8(i)])
                model[k] = [UInt8(g), UInt8(i)]
            }
        }
        #expect(e.metrics().levelFiles.reduce(0, +) == 0, "everything is still in the memtable")
        try check(e, model, groups: 20, "memtable")
        #expect(e.metrics().prefixFilterSkips > 0)
        for (k, v) in model { #expect(try e.get(k) == v) }
        #expect(try e.get(PrefixFilterTests.group(1) + [3]) == nil)
        // A writer adds keys while a reader looks up what was written before each read began.
        let done = DispatchSemaphore(value: 0)
        let writer = Thread {
            for i in 0..<2000 { try? e.put(PrefixFilterTests.group(30 + i % 8) + [UInt8(i % 250), UInt8(i / 250)], [1]) }
            done.signal()
        }
        writer.start()
        for round in 0..<200 {
            let k = PrefixFilterTests.group(round % 20 / 2 * 2) + [UInt8(round % 30)]
            #expect(try e.get(k) == model[k])
        }
        done.wait()
        for i in 0..<2000 {
            #expect(try e.get(PrefixFilterTests.group(30 + i % 8) + [UInt8(i % 250), UInt8(i / 250)]) == [1])
        }
    }
}

/// `BloomPrefix.sharedPrefixHash`, which compares in place, against its definition: over
/// random bounds of bytes near the edges (0x00, 0xFF), a hash is given only when every key in
/// the bounds starts with the lower bound's prefix (checked by enumerating short keys), and it
/// is given exactly when the bounds end by the prefix's end (built as an array here).
@Suite struct SharedPrefixHashTests {
    static let alphabet: [UInt8] = [0x00, 0x01, 0x61, 0xFE, 0xFF]

    /// The reference: the prefix's end as an array, compared with the standard library.
    static func expected(_ fn: BloomPrefix, _ lower: [UInt8], _ upper: [UInt8], _ cmp: KeyComparator) -> UInt64? {
        guard let n = lower.withUnsafeBytes({ fn.length($0) }), n > 0, n <= lower.count else { return nil }
        var end = Array(lower[0..<n])
        while let last = end.last, last == 0xFF { end.removeLast() }
        if !end.isEmpty {
            end[end.count - 1] += 1
            switch cmp {
            case .bytewise:
                guard upper.lexicographicallyPrecedes(end) || upper == end else { return nil }
            case .mvcc:
                guard let (u, ts) = MVCCKey.decode(upper), u.lexicographicallyPrecedes(end) || (u == end && ts.isZero) else { return nil }
            }
        }
        return lower.withUnsafeBytes { bloomHash(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }

    @Test(arguments: [1, 2, 3])
    func matchesTheDefinition(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        func key(_ maxLength: Int) -> [UInt8] {
            (0..<Int.random(in: 0...maxLength, using: &rng)).map { _ in SharedPrefixHashTests.alphabet.randomElement(using: &rng)! }
        }
        var all: [[UInt8]] = [[]]
        for _ in 0..<4 { all += all.filter { $0.count == all.last!.count }.flatMap { k in SharedPrefixHashTests.alphabet.map { k + [$0] } } }
        let byTwo = PrefixFilterTests.byTwo
        var given = 0
        for step in 0..<400 {
            var lower = key(4)
            // Every third upper bound shares the lower one's first two bytes.
            var upper = step % 3 == 0 ? Array(lower.prefix(2)) + key(2) : key(4)
            if upper.lexicographicallyPrecedes(lower) { swap(&lower, &upper) }
            let got = byTwo.sharedPrefixHash(lower: lower, upper: upper, comparator: .bytewise)
            #expect(got == SharedPrefixHashTests.expected(byTwo, lower, upper, .bytewise), "seed \(seed) step \(step) \(lower) \(upper)")
            if got != nil {
                given += 1
                for k in all where !k.lexicographicallyPrecedes(lower) && k.lexicographicallyPrecedes(upper) {
                    #expect(k.starts(with: lower[0..<2]), "seed \(seed) step \(step): \(k) in [\(lower), \(upper))")
                }
            }
            // The same bounds as MVCC encodings, the upper one at timestamp zero or not.
            let mvcc = byTwo.onMVCCKeys
            let lo = MVCCKey.encode(lower, .zero)
            let hi = MVCCKey.encode(upper, step % 2 == 0 ? .zero : Timestamp(wallNanos: 7))
            #expect(mvcc.sharedPrefixHash(lower: lo, upper: hi, comparator: .mvcc)
                    == SharedPrefixHashTests.expected(mvcc, lo, hi, .mvcc), "seed \(seed) step \(step) mvcc")
        }
        #expect(given > 40, "seed \(seed): the bounds gave \(given) hashes")
    }
}

/// Flushes and compactions put the data blocks they write into the block cache: a read right
/// after either finds its block there instead of reading the new table file.
@Suite struct BlockCacheWarmingTests {
    @Test func newTablesAreReadFromTheCache() throws {
        var o = StorageOptions()
        o.memtableBytesMax = 64 << 10
        o.compactionBytesPerSecondMax = nil
        let e = try StorageEngine.open(directory: "/db", options: o, fileSystem: MemoryFileSystem())
        defer { try? e.close() }
        func key(_ i: Int) -> [UInt8] { Array(String(format: "key%05d", i).utf8) }
        for i in 0..<3000 { try e.put(key(i), Array(repeating: UInt8(i % 251), count: 40)) }
        try e.flush()
        #expect(e.metrics().levelFiles.reduce(0, +) > 0)
        var misses = e.metrics().blockCacheMisses
        for i in stride(from: 0, to: 3000, by: 7) { #expect(try e.get(key(i)) == Array(repeating: UInt8(i % 251), count: 40)) }
        #expect(e.metrics().blockCacheMisses == misses, "reads after a flush")
        try e.compactAll()
        misses = e.metrics().blockCacheMisses
        for i in stride(from: 3, to: 3000, by: 7) { #expect(try e.get(key(i)) == Array(repeating: UInt8(i % 251), count: 40)) }
        #expect(e.metrics().blockCacheMisses == misses, "reads after a compaction")
    }
}
