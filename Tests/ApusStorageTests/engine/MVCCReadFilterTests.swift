// Filtered reads under the `.mvcc` comparator: prefix filters built by a `BloomPrefix` composed
// with MVCC key decoding (`onMVCCKeys`), and one-key reads (`IteratorOptions.onlyKey`) that
// leave out the memtables and tables whose whole-key filters lack the key. Over random
// versioned and unversioned entries spread across the memtable, level-0 tables and deeper
// levels, with deletes and range deletes, every read must return what a sorted model holds (a
// filter may never hide an entry), reads of absent keys and groups must skip tables, and
// reopening with another prefix function must still read correctly.
import ApusCore
import Foundation
import Testing
@testable import ApusStorage

@Suite struct MVCCReadFilterTests {
    let cmp = KeyComparator.mvcc

    /// `PrefixFilterTests`' small engine under the `.mvcc` comparator.
    func options(_ prefix: BloomPrefix?) -> StorageOptions {
        var o = PrefixFilterTests.options(prefix)
        o.comparator = .mvcc
        return o
    }

    /// The key part of an encoded entry.
    static func keyPart(_ encoded: [UInt8]) -> [UInt8] { MVCCKey.decode(encoded)!.key }

    /// Every entry of the engine in `[lower@0, upper@0)` (or of `onlyKey`), in order.
    func read(_ e: StorageEngine, _ o: IteratorOptions) throws -> [([UInt8], [UInt8])] {
        let it = try e.makeIterator(o)
        try it.seekToFirst()
        var out: [([UInt8], [UInt8])] = []
        while it.isValid {
            out.append((it.key, it.value))
            try it.next()
        }
        return out
    }

    /// The model's entries whose key parts satisfy `include`, in the comparator's order.
    func expected(_ model: [[UInt8]: [UInt8]], _ include: ([UInt8]) -> Bool) -> [([UInt8], [UInt8])] {
        model.filter { include(MVCCReadFilterTests.keyPart($0.key)) }.sorted { cmp.compare($0.key, $1.key) < 0 }.map { ($0.key, $0.value) }
    }

    func same(_ a: [([UInt8], [UInt8])], _ b: [([UInt8], [UInt8])]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    func check(_ e: StorageEngine, _ model: [[UInt8]: [UInt8]], groups: Int, _ context: String) throws {
        for g in 0..<groups {
            let group = PrefixFilterTests.group(g)
            var upper = group
            upper[2] += 1
            let bounded = { (lo: [UInt8], hi: [UInt8]) in
                IteratorOptions(lowerBound: MVCCKey.encode(lo, .zero), upperBound: MVCCKey.encode(hi, .zero))
            }
            let want = expected(model) { $0.starts(with: group) }
            #expect(same(try read(e, bounded(group, upper)), want), "\(context) group \(g)")
            // A narrower read inside the group, and one from this group into the next.
            let inside = group + [0x40]
            #expect(same(try read(e, bounded(inside, upper)), expected(model) { $0.starts(with: group) && !$0.lexicographicallyPrecedes(inside) }),
                    "\(context) group \(g) from 0x40")
            let next = PrefixFilterTests.group(g + 1) + [0x60]
            #expect(same(try read(e, bounded(inside, next)),
                         expected(model) { !$0.lexicographicallyPrecedes(inside) && $0.lexicographicallyPrecedes(next) }),
                    "\(context) groups \(g) and \(g + 1)")
            // One key's entries, of keys written and never written (a key that is a prefix of
            // others must not return theirs).
            for suffix in [[], [UInt8(g % 7)], [UInt8(g % 7), 1], [201]] as [[UInt8]] {
                let k = group + suffix
                #expect(same(try read(e, IteratorOptions(onlyKey: k)), expected(model) { $0 == k }), "\(context) key \(k)")
            }
        }
    }

    @Test(arguments: [31 as UInt64, 32, 33])
    func filteredReadsMatchTheModel(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let fs = MemoryFileSystem()
        var e = try StorageEngine.open(directory: "/db", options: options(PrefixFilterTests.byGroup.onMVCCKeys), fileSystem: fs)
        var model: [[UInt8]: [UInt8]] = [:]
        // Groups 0..<24 exist (20..<24 are "z" groups, without a prefix); 24..<40 never do.
        let written = 24, groups = 40
        for round in 0..<4 {
            for _ in 0..<1500 {
                // Short suffixes, so that keys are prefixes of others; timestamps zero or 1...6.
                var user = PrefixFilterTests.group(Int(rng.next() % UInt64(written)))
                for _ in 0..<(rng.next() % 3) { user.append(UInt8(truncatingIfNeeded: rng.next() % 7)) }
                let wall = rng.next() % 7
                let k = MVCCKey.encode(user, Timestamp(wallNanos: wall))
                switch rng.next() % 100 {
                case 0..<70:
                    let v = (0..<(8 + Int(rng.next() % 40))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                    try e.put(k, v)
                    model[k] = v
                case 70..<95:
                    try e.delete(k)
                    model[k] = nil
                case 95..<97:
                    var b = user
                    b[b.count - 1] = b[b.count - 1] &+ 2
                    if user.lexicographicallyPrecedes(b) {
                        try e.deleteRange(MVCCKey.encode(user, .zero), MVCCKey.encode(b, .zero))
                        for m in model.keys {
                            let p = MVCCReadFilterTests.keyPart(m)
                            if !p.lexicographicallyPrecedes(user) && p.lexicographicallyPrecedes(b) { model[m] = nil }
                        }
                    }
                default:
                    try e.flush()
                }
            }
            if round == 2 { try e.compactAll() }
            try check(e, model, groups: groups, "seed \(seed) round \(round)")
        }
        #expect(e.metrics().levelFiles[0] + e.metrics().levelFiles[1] > 0, "seed \(seed): data reached tables")
        #expect(e.metrics().prefixFilterSkips > 0, "seed \(seed): reads of absent groups skipped no table")
        #expect(e.metrics().keyFilterSkips > 0, "seed \(seed): reads of absent keys skipped no table")
        // The prefix function on whole encodings, another one, and none: the tables' filters
        // hold other prefixes and must not be used for them.
        for other in [PrefixFilterTests.byGroup, PrefixFilterTests.byTwo.onMVCCKeys, nil] as [BloomPrefix?] {
            try e.close()
            e = try StorageEngine.open(directory: "/db", options: options(other), fileSystem: fs)
            try check(e, model, groups: groups, "seed \(seed) reopened with \(other?.name ?? "no prefix")")
        }
        try e.close()
    }

    /// The composed function takes the prefix of the key part, and has none for malformed keys.
    @Test func onMVCCKeysCutsTheKeyPart() {
        let fn = PrefixFilterTests.byGroup.onMVCCKeys
        #expect(fn.name != PrefixFilterTests.byGroup.name)
        for ts in [Timestamp.zero, Timestamp(wallNanos: 5, logical: 2)] {
            MVCCKey.encode(Array("gAB1".utf8), ts).withUnsafeBytes { #expect(fn.length($0) == 3) }
            // A key part shorter than the prefix has none (the timestamp bytes do not count).
            MVCCKey.encode(Array("gA".utf8), ts).withUnsafeBytes { #expect(fn.length($0) == nil) }
        }
        [UInt8]([0x67, 0x41, 0x42, 7]).withUnsafeBytes { #expect(fn.length($0) == nil) }
    }
}
