// Table builder and reader against a sorted-array model.
//
// Method: random entries (seeded; the seed is in every failure message) are written with
// randomized block sizes, restart intervals and compression, then read back through `get`, the
// two-level iterator (forward, backward, seek, seekForPrev) and compared with the same entries
// held in a sorted array. A failure means the reader disagrees with what the builder was given:
// a format, ordering or decoding bug.

import ApusCore
@testable import ApusStorage
import Testing
#if canImport(Glibc)
import Glibc
#endif

struct SSTTestEntry {
    var key: [UInt8]
    var value: [UInt8]
}

/// Builds a table at `path` in `fs` from `entries` (already sorted) and `tombstones`.
@discardableResult
func sstTestBuild(_ fs: SSTTestFileSystem, _ path: String, _ options: StorageOptions, _ entries: [SSTTestEntry],
                  tombstones: [RangeTombstone] = []) throws -> TableProperties {
    let file = try fs.createFile(path)
    let builder = TableBuilder(file: file, options: options)
    for e in entries { try builder.add(e.key, e.value) }
    for t in tombstones { try builder.addRangeTombstone(t) }
    #expect(builder.entryCount == entries.count)
    let props = try builder.finish()
    try file.sync()
    try file.close()
    return props
}

func sstTestOpen(_ fs: SSTTestFileSystem, _ path: String, _ options: StorageOptions, fileNumber: UInt64 = 1,
                 cache: BlockCache? = nil) throws(StorageError) -> TableReader {
    try TableReader.open(file: try fs.openFile(path), path: path, fileNumber: fileNumber, options: options,
                         blockCache: cache)
}

/// Random sorted, distinct internal keys: user keys from a small alphabet (so prefixes repeat),
/// some user keys at several sequence numbers.
func sstTestEntries(count: Int, comparator: KeyComparator, rng: inout SSTTestRandom) -> [SSTTestEntry] {
    var out = [SSTTestEntry]()
    out.reserveCapacity(count)
    while out.count < count {
        let length = Int.random(in: 1...20, using: &rng)
        let base = (0..<length).map { _ in UInt8.random(in: 97...102, using: &rng) }
        let user: [UInt8]
        switch comparator {
        case .bytewise: user = base
        case .mvcc:
            let ts = Bool.random(using: &rng) && Bool.random(using: &rng)
                ? Timestamp.zero : Timestamp(wallNanos: UInt64.random(in: 1...1000, using: &rng),
                                             logical: UInt32.random(in: 0...3, using: &rng))
            user = MVCCKey.encode(base, ts)
        }
        let versions = Int.random(in: 1...3, using: &rng)
        for _ in 0..<versions {
            let seq = UInt64.random(in: 1...1_000_000, using: &rng)
            let kind: ValueKind = Int.random(in: 0..<10, using: &rng) == 0 ? .delete : .put
            let value = kind == .delete ? [] : (0..<Int.random(in: 0...60, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            out.append(SSTTestEntry(key: InternalKey.make(user, seq, kind), value: value))
        }
    }
    out.sort { comparator.compareInternal($0.key, $1.key) < 0 }
    var distinct = [SSTTestEntry]()
    for e in out where distinct.last.map({ comparator.compareInternal($0.key, e.key) != 0 }) ?? true {
        distinct.append(e)
    }
    return distinct
}

func sstTestOptions(_ comparator: KeyComparator, rng: inout SSTTestRandom) -> StorageOptions {
    var options = StorageOptions()
    options.comparator = comparator
    options.blockBytes = [256, 1024, 4096].randomElement(using: &rng) ?? 4096
    options.blockRestartInterval = [1, 4, 16].randomElement(using: &rng) ?? 16
    options.compression = [BlockCompression.none, .lz4, .zstd].randomElement(using: &rng) ?? .none
    return options
}

/// Index of the first model entry >= target.
func sstTestLowerBound(_ model: [SSTTestEntry], _ target: [UInt8], _ c: KeyComparator) -> Int {
    var low = 0, high = model.count
    while low < high {
        let mid = (low + high) / 2
        if c.compareInternal(model[mid].key, target) < 0 { low = mid + 1 } else { high = mid }
    }
    return low
}

@Suite struct TableTests {
    @Test(arguments: [(KeyComparator.bytewise, UInt64(1)), (.bytewise, 2), (.mvcc, 3), (.mvcc, 4)])
    func roundTrip(comparator: KeyComparator, seed: UInt64) throws {
        var rng = SSTTestRandom(seed: seed)
        let options = sstTestOptions(comparator, rng: &rng)
        let model = sstTestEntries(count: 3000, comparator: comparator, rng: &rng)
        let fs = SSTTestFileSystem()
        let props = try sstTestBuild(fs, "/t/000001.sst", options, model)
        #expect(props.entryCount == model.count, "seed \(seed)")
        #expect(props.fileBytes == fs.contents("/t/000001.sst").count, "seed \(seed)")
        #expect(props.smallestKey == model.first?.key, "seed \(seed)")
        #expect(props.largestKey == model.last?.key, "seed \(seed)")
        let reader = try sstTestOpen(fs, "/t/000001.sst", options, cache: BlockCache(capacityBytes: 1 << 20))
        #expect(reader.properties == props, "seed \(seed)")

        let it = reader.makeIterator()
        try it.seekToFirst()
        var i = 0
        while it.isValid {
            guard i < model.count else { break }
            #expect(it.key == model[i].key && it.value == model[i].value, "seed \(seed) forward at \(i)")
            try it.next()
            i += 1
        }
        #expect(i == model.count && !it.isValid, "seed \(seed)")
        try it.seekToLast()
        i = model.count - 1
        while it.isValid {
            guard i >= 0 else { break }
            #expect(it.key == model[i].key && it.value == model[i].value, "seed \(seed) backward at \(i)")
            try it.prev()
            i -= 1
        }
        #expect(i == -1, "seed \(seed)")

        // Every present key is found by its exact internal key and by a newest-version target.
        for (j, e) in model.enumerated() where j % 3 == 0 {
            let got = try reader.get(e.key)
            #expect(got?.key == e.key && got?.value == e.value, "seed \(seed) get \(j)")
            let user = Array(InternalKey.userKey(e.key))
            let newest = try reader.get(InternalKey.seekTarget(user, maxSequenceNumber))
            let expected = model[sstTestLowerBound(model, InternalKey.seekTarget(user, maxSequenceNumber), comparator)]
            #expect(newest?.key == expected.key, "seed \(seed) newest \(j)")
        }
        // Absent user keys (digits never occur in generated keys) miss.
        for j in 0..<500 {
            var user = Array("zz\(j)".utf8)
            if comparator == .mvcc { user = MVCCKey.encode(user, Timestamp(wallNanos: 5)) }
            #expect(try reader.get(InternalKey.seekTarget(user, maxSequenceNumber)) == nil, "seed \(seed) miss \(j)")
        }
        // A target past a user key's oldest version returns nil rather than the next user key.
        if let last = model.last, let parsed = InternalKey.parse(last.key), parsed.sequence > 0 {
            let target = InternalKey.seekTarget(Array(parsed.userKey), parsed.sequence - 1)
            #expect(try reader.get(target) == nil, "seed \(seed)")
        }
    }

    @Test(arguments: [UInt64(11), 12, 13, 14, 15, 16])
    func iteratorMatchesModel(seed: UInt64) throws {
        var rng = SSTTestRandom(seed: seed)
        let comparator: KeyComparator = seed % 2 == 0 ? .bytewise : .mvcc
        let options = sstTestOptions(comparator, rng: &rng)
        let model = sstTestEntries(count: Int.random(in: 1...1500, using: &rng), comparator: comparator, rng: &rng)
        let fs = SSTTestFileSystem()
        try sstTestBuild(fs, "/t/x.sst", options, model)
        let reader = try sstTestOpen(fs, "/t/x.sst", options, cache: Bool.random(using: &rng) ? BlockCache(capacityBytes: 64 << 10) : nil)
        let it = reader.makeIterator()
        var position = -1  // model index, or -1 / model.count when invalid
        for step in 0..<2000 {
            let op = Int.random(in: 0..<8, using: &rng)
            // Targets: existing keys, and keys between/around them with perturbed trailers.
            var target = model[Int.random(in: 0..<model.count, using: &rng)].key
            if Bool.random(using: &rng) {
                let user = Array(InternalKey.userKey(target))
                let extra: [UInt8] = Bool.random(using: &rng) ? [UInt8(Int.random(in: 96...103, using: &rng))] : []
                let perturbed: [UInt8]
                if comparator == .mvcc, let (base, ts) = MVCCKey.decode(user) {
                    // Targets stay well-formed MVCC keys, as the engine's are.
                    let newTS = Bool.random(using: &rng) ? ts : Timestamp(wallNanos: UInt64.random(in: 0...1001, using: &rng))
                    perturbed = MVCCKey.encode(base + extra, newTS)
                } else {
                    perturbed = user + extra
                }
                target = InternalKey.make(perturbed, UInt64.random(in: 0...1_000_001, using: &rng), .put)
            }
            switch op {
            case 0:
                try it.seekToFirst(); position = 0
            case 1:
                try it.seekToLast(); position = model.count - 1
            case 2, 3:
                try it.seek(target); position = sstTestLowerBound(model, target, comparator)
            case 4:
                try it.seekForPrev(target)
                let lb = sstTestLowerBound(model, target, comparator)
                position = lb < model.count && comparator.compareInternal(model[lb].key, target) == 0 ? lb : lb - 1
            case 5, 6:
                if it.isValid { try it.next(); position += 1 }
            default:
                if it.isValid { try it.prev(); position -= 1 }
            }
            let expectValid = position >= 0 && position < model.count
            #expect(it.isValid == expectValid, "seed \(seed) step \(step) op \(op)")
            if it.isValid != expectValid { return }
            if expectValid {
                #expect(it.key == model[position].key, "seed \(seed) step \(step) op \(op)")
                #expect(it.value == model[position].value, "seed \(seed) step \(step) op \(op)")
            } else {
                position = -1
            }
        }
    }

    @Test func bloomFalsePositiveRate() throws {
        let seed: UInt64 = 21
        var options = StorageOptions()
        options.bloomBitsPerKey = 10
        var entries = [SSTTestEntry]()
        for i in 0..<10_000 {
            entries.append(SSTTestEntry(key: InternalKey.make(Array("key\(i)".utf8), 1, .put), value: [1]))
        }
        entries.sort { options.comparator.compareInternal($0.key, $1.key) < 0 }
        let fs = SSTTestFileSystem()
        let props = try sstTestBuild(fs, "/t/b.sst", options, entries)
        #expect(props.filterBytes > 10_000 * 10 / 8, "seed \(seed)")
        let reader = try sstTestOpen(fs, "/t/b.sst", options)
        for e in entries { #expect(reader.mayContain(userKey: Array(InternalKey.userKey(e.key)))) }
        var falsePositives = 0
        for i in 0..<10_000 where reader.mayContain(userKey: Array("absent\(i)".utf8)) { falsePositives += 1 }
        #expect(Double(falsePositives) / 10_000 < 0.03, "false positive rate \(falsePositives) / 10000")
    }

    @Test func mvccFilterUsesPrefix() throws {
        var options = StorageOptions()
        options.comparator = .mvcc
        let entries = (0..<100).map { i in
            SSTTestEntry(key: InternalKey.make(MVCCKey.encode(Array("k\(i)".utf8), Timestamp(wallNanos: 10)), 1, .put),
                         value: [])
        }.sorted { options.comparator.compareInternal($0.key, $1.key) < 0 }
        let fs = SSTTestFileSystem()
        try sstTestBuild(fs, "/t/m.sst", options, entries)
        let reader = try sstTestOpen(fs, "/t/m.sst", options)
        // The same key at another timestamp consults the same filter bits.
        for i in 0..<100 {
            #expect(reader.mayContain(userKey: MVCCKey.encode(Array("k\(i)".utf8), Timestamp(wallNanos: 99))))
        }
    }

    @Test func tombstonesRoundTripAndBound() throws {
        let options = StorageOptions()
        let tombstones = [
            RangeTombstone(start: Array("m".utf8), end: Array("q".utf8), sequence: 50),
            RangeTombstone(start: Array("a".utf8), end: Array("c".utf8), sequence: 7),
            RangeTombstone(start: Array("x".utf8), end: Array("zz".utf8), sequence: 900),
        ]
        let entries = [SSTTestEntry(key: InternalKey.make(Array("b".utf8), 20, .put), value: [1]),
                       SSTTestEntry(key: InternalKey.make(Array("n".utf8), 30, .put), value: [2])]
        let fs = SSTTestFileSystem()
        let props = try sstTestBuild(fs, "/t/r.sst", options, entries, tombstones: tombstones)
        #expect(props.rangeTombstoneCount == 3)
        #expect(props.smallestKey == InternalKey.make(Array("a".utf8), 7, .rangeDelete))
        #expect(props.largestKey == InternalKey.make(Array("zz".utf8), maxSequenceNumber, .rangeDelete))
        #expect(props.smallestSequence == 7 && props.largestSequence == 900)
        let reader = try sstTestOpen(fs, "/t/r.sst", options)
        #expect(reader.rangeTombstones == tombstones)
        #expect(reader.properties.entryCount == 2)

        // A table of tombstones only.
        let props2 = try sstTestBuild(fs, "/t/r2.sst", options, [], tombstones: [tombstones[0]])
        #expect(props2.smallestSequence == 50 && props2.largestSequence == 50)
        let reader2 = try sstTestOpen(fs, "/t/r2.sst", options)
        #expect(reader2.rangeTombstones == [tombstones[0]])
        let it = reader2.makeIterator()
        try it.seekToFirst()
        #expect(!it.isValid)
    }

    @Test(arguments: [0, 10])
    func emptyTable(bloomBitsPerKey: Int) throws {
        var options = StorageOptions()
        options.bloomBitsPerKey = bloomBitsPerKey
        let fs = SSTTestFileSystem()
        let props = try sstTestBuild(fs, "/t/e.sst", options, [])
        #expect(props.entryCount == 0 && props.smallestKey.isEmpty && props.dataBlockCount == 0)
        let reader = try sstTestOpen(fs, "/t/e.sst", options)
        #expect(try reader.get(InternalKey.seekTarget(Array("a".utf8), 5)) == nil)
        let it = reader.makeIterator()
        try it.seekToFirst(); #expect(!it.isValid)
        try it.seekToLast(); #expect(!it.isValid)
        try it.seek(InternalKey.seekTarget(Array("a".utf8), 5)); #expect(!it.isValid)
        try it.seekForPrev(InternalKey.seekTarget(Array("a".utf8), 5)); #expect(!it.isValid)
        #expect(try reader.approximateOffset(of: InternalKey.seekTarget(Array("a".utf8), 5)) == 0)
    }

    @Test(arguments: [BlockCompression.none, .lz4, .zstd])
    func compressionRoundTrip(compression: BlockCompression) throws {
        var options = StorageOptions()
        options.compression = compression
        // Repetitive values compress well; random ones do not (and are stored raw).
        var rng = SSTTestRandom(seed: 31)
        var entries = [SSTTestEntry]()
        for i in 0..<2000 {
            let value: [UInt8] = i % 2 == 0 ? Array(repeating: UInt8(i % 7), count: 100)
                : (0..<100).map { _ in UInt8.random(in: 0...255, using: &rng) }
            entries.append(SSTTestEntry(key: InternalKey.make(Array("key\(100000 + i)".utf8), 9, .put), value: value))
        }
        let fs = SSTTestFileSystem()
        let props = try sstTestBuild(fs, "/t/c.sst", options, entries)
        #expect(props.compression == compression)
        if compression != .none {
            #expect(props.dataBytes < props.rawKeyBytes + props.rawValueBytes - 50_000, "compressed \(props.dataBytes)")
        }
        let reader = try sstTestOpen(fs, "/t/c.sst", options)
        let it = reader.makeIterator()
        try it.seekToFirst()
        for e in entries {
            #expect(it.isValid && it.key == e.key && it.value == e.value)
            if !it.isValid { return }
            try it.next()
        }
        #expect(!it.isValid)
    }

    @Test func codecRejectsGarbage() {
        var rng = SSTTestRandom(seed: 41)
        for type in [BlockCompression.lz4, .zstd] {
            for n in [0, 1, 2, 5, 40, 300] {
                let garbage = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
                let out = garbage.withUnsafeBytes { BlockCodec.decompress($0, type) }
                #expect(out == nil || out?.count ?? 0 <= TableFormat.blockBytesMax)
            }
            // A valid stream with a wrong length prefix is rejected.
            let raw = [UInt8](repeating: 7, count: 1000)
            var compressed = [UInt8]()
            #expect(BlockCodec.compress(raw, type, into: &compressed))
            #expect(compressed.withUnsafeBytes { BlockCodec.decompress($0, type) } == raw)
            compressed[0] = compressed[0] &+ 1
            #expect(compressed.withUnsafeBytes { BlockCodec.decompress($0, type) } == nil)
            // Incompressible data is not stored compressed.
            let random = (0..<1000).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(!BlockCodec.compress(random, type, into: &compressed))
        }
    }

    @Test func flippedByteInDataBlockIsNamed() throws {
        var options = StorageOptions()
        options.blockBytes = 512
        let entries = (0..<500).map { i in
            SSTTestEntry(key: InternalKey.make(Array("key\(10000 + i)".utf8), 3, .put), value: Array(repeating: 1, count: 20))
        }
        let fs = SSTTestFileSystem()
        try sstTestBuild(fs, "/t/000042.sst", options, entries)
        let clean = try sstTestOpen(fs, "/t/000042.sst", options)
        // Find the second data block's offset through the index, then corrupt a byte inside it.
        let it = clean.makeIterator()
        try it.seekToFirst()
        var second = it.key
        let firstOffset = try clean.approximateOffset(of: it.key)
        while it.isValid, try clean.approximateOffset(of: it.key) == firstOffset { try it.next(); second = it.key }
        let blockOffset = try clean.approximateOffset(of: second)
        #expect(blockOffset > 0)
        var bytes = fs.contents("/t/000042.sst")
        bytes[blockOffset + 7] ^= 0x10
        fs.setContents("/t/000042.sst", bytes)
        let reader = try sstTestOpen(fs, "/t/000042.sst", options)
        #expect(try reader.get(entries[0].key)?.value == entries[0].value)
        do {
            _ = try reader.get(second)
            Issue.record("corruption not detected")
        } catch {
            #expect(error.code == .corruption)
            #expect(error.path == "/t/000042.sst")
            #expect(error.offset == blockOffset)
            #expect(error.message.contains("block checksum mismatch"))
        }
        let scan = reader.makeIterator()
        #expect(throws: StorageError.self) {
            try scan.seekToFirst()
            while scan.isValid { try scan.next() }
        }
    }

    @Test func badFooterRejected() throws {
        let options = StorageOptions()
        let fs = SSTTestFileSystem()
        try sstTestBuild(fs, "/t/f.sst", options, [SSTTestEntry(key: InternalKey.make([1], 1, .put), value: [])])
        let good = fs.contents("/t/f.sst")

        var badMagic = good
        badMagic[badMagic.count - 1] ^= 0xFF
        fs.setContents("/t/f.sst", badMagic)
        do { _ = try sstTestOpen(fs, "/t/f.sst", options); Issue.record("bad magic accepted") } catch {
            #expect(error.code == .corruption && error.path == "/t/f.sst" && error.message.contains("magic"))
            #expect(error.description.contains("/t/f.sst"))
        }

        var newer = good
        let footer = newer.count - TableFormat.footerLength
        newer[footer + 64] = 2
        let crc = newer.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[footer..<(footer + 68)])) }
        let masked = CRC32C.mask(crc)
        for i in 0..<4 { newer[footer + 68 + i] = UInt8(truncatingIfNeeded: masked >> (8 * UInt32(i))) }
        fs.setContents("/t/f.sst", newer)
        do { _ = try sstTestOpen(fs, "/t/f.sst", options); Issue.record("newer version accepted") } catch {
            #expect(error.code == .unsupportedVersion && error.path == "/t/f.sst" && error.message.contains("version 2"))
        }

        var badFooterCRC = good
        badFooterCRC[footer + 3] ^= 1
        fs.setContents("/t/f.sst", badFooterCRC)
        do { _ = try sstTestOpen(fs, "/t/f.sst", options); Issue.record("bad footer accepted") } catch {
            #expect(error.code == .corruption && error.path == "/t/f.sst")
        }

        fs.setContents("/t/f.sst", Array(good.suffix(10)))
        do { _ = try sstTestOpen(fs, "/t/f.sst", options); Issue.record("short file accepted") } catch {
            #expect(error.code == .corruption && error.path == "/t/f.sst")
        }

        var mvcc = StorageOptions()
        mvcc.comparator = .mvcc
        fs.setContents("/t/f.sst", good)
        do { _ = try sstTestOpen(fs, "/t/f.sst", mvcc); Issue.record("comparator mismatch accepted") } catch {
            #expect(error.code == .invalidArgument && error.path == "/t/f.sst")
        }
    }

    /// Every single-byte flip anywhere in a small table is either detected or harmless: never a trap.
    @Test func everyByteFlipIsSafe() throws {
        var options = StorageOptions()
        options.blockBytes = 256
        options.compression = .lz4
        let entries = (0..<60).map { i in
            SSTTestEntry(key: InternalKey.make(Array("k\(1000 + i)".utf8), UInt64(i + 1), .put), value: Array(repeating: UInt8(i), count: 9))
        }
        let fs = SSTTestFileSystem()
        try sstTestBuild(fs, "/t/g.sst", options, entries, tombstones: [RangeTombstone(start: [1], end: [2], sequence: 3)])
        let good = fs.contents("/t/g.sst")
        for position in 0..<good.count {
            var bad = good
            bad[position] ^= 0x5A
            fs.setContents("/t/g.sst", bad)
            do {
                let reader = try sstTestOpen(fs, "/t/g.sst", options)
                let it = reader.makeIterator()
                try it.seekToFirst()
                var n = 0
                while it.isValid && n < 1000 { try it.next(); n += 1 }
                _ = try reader.get(entries[30].key)
            } catch {
                #expect(error.code == .corruption || error.code == .unsupportedVersion, "flip at \(position)")
            }
        }
    }

    @Test func realFileRoundTrip() throws {
        let path = "/tmp/apus-sst-test-\(getpid()).sst"
        defer { _ = path.withCString { unlink($0) } }
        var options = StorageOptions()
        options.compression = .zstd
        var rng = SSTTestRandom(seed: 51)
        let model = sstTestEntries(count: 2000, comparator: .bytewise, rng: &rng)
        let out = try SSTTestPOSIXWritableFile(path: path)
        let builder = TableBuilder(file: out, options: options)
        for e in model { try builder.add(e.key, e.value) }
        let props = try builder.finish()
        try out.sync()
        try out.close()
        let reader = try TableReader.open(file: try SSTTestPOSIXReadableFile(path: path), path: path, fileNumber: 9,
                                          options: options, blockCache: nil)
        #expect(reader.properties.fileBytes == props.fileBytes)
        let it = reader.makeIterator()
        try it.seekToLast()
        var i = model.count - 1
        while it.isValid && i >= 0 {
            #expect(it.key == model[i].key && it.value == model[i].value, "seed 51 at \(i)")
            try it.prev()
            i -= 1
        }
        #expect(i == -1 && !it.isValid)
    }

    @Test func builderEstimatesAndRawAdd() throws {
        let options = StorageOptions()
        let fs = SSTTestFileSystem()
        let file = try fs.createFile("/t/h.sst")
        let builder = TableBuilder(file: file, options: options)
        for i in 0..<1000 {
            let k = InternalKey.make(Array("key\(10000 + i)".utf8), 1, .put)
            let v = [UInt8](repeating: 3, count: 50)
            try k.withUnsafeBytes { kr in try v.withUnsafeBytes { vr in try builder.add(kr, vr) } }
        }
        #expect(builder.estimatedFileBytes > 50_000)
        let props = try builder.finish()
        #expect(props.fileBytes >= builder.estimatedFileBytes)
        #expect(props.dataBlockCount > 10)
        #expect(props.dataBytes + props.indexBytes + props.filterBytes < props.fileBytes)
    }

    @Test func noFilterWhenBitsPerKeyIsZero() throws {
        var options = StorageOptions()
        options.bloomBitsPerKey = 0
        let entries = (0..<300).map { i in
            SSTTestEntry(key: InternalKey.make(Array("k\(1000 + i)".utf8), 1, .put), value: [UInt8(i % 256)])
        }
        let fs = SSTTestFileSystem()
        let props = try sstTestBuild(fs, "/t/n.sst", options, entries)
        #expect(props.filterBytes == TableFormat.blockTrailerLength)
        let reader = try sstTestOpen(fs, "/t/n.sst", options)
        #expect(reader.mayContain(userKey: Array("absent".utf8)))
        #expect(try reader.get(InternalKey.seekTarget(Array("absent".utf8), 5)) == nil)
        #expect(try reader.get(entries[123].key)?.value == entries[123].value)
    }

    /// Garbage inside blocks whose checksums were recomputed reaches the decoders themselves:
    /// each must report corruption (or decode something), never trap.
    @Test(arguments: [BlockCompression.none, .lz4, .zstd])
    func garbageBehindValidChecksumsIsSafe(compression: BlockCompression) throws {
        let seed: UInt64 = 61 + UInt64(compression.rawValue)
        var rng = SSTTestRandom(seed: seed)
        var options = StorageOptions()
        options.blockBytes = 256
        options.blockRestartInterval = 4
        options.compression = compression
        let entries = (0..<200).map { i in
            SSTTestEntry(key: InternalKey.make(Array("key\(1000 + i)".utf8), UInt64(i + 1), .put),
                         value: Array(repeating: UInt8(i % 3), count: 24))
        }
        let fs = SSTTestFileSystem()
        try sstTestBuild(fs, "/t/z.sst", options, entries, tombstones: [RangeTombstone(start: [1], end: [2], sequence: 3)])
        let good = fs.contents("/t/z.sst")
        // Every block: the data blocks (from the index) and the four footer blocks.
        let clean = try sstTestOpen(fs, "/t/z.sst", options)
        var handles = [BlockHandle]()
        for i in 0..<clean.indexBlock.restartCount {
            if let e = clean.indexBlock.restartEntry(i), let h = BlockHandle.decodeVarints(e.value) { handles.append(h) }
        }
        let footer = try TableFooter.decode(Array(good.suffix(TableFormat.footerLength)), path: "", fileSize: good.count)
        handles += [footer.index, footer.filter, footer.rangeDeletions, footer.properties]
        var outcomes = (ok: 0, corrupt: 0)
        for step in 0..<3000 {
            let h = handles[Int.random(in: 0..<handles.count, using: &rng)]
            guard h.size > 0 else { continue }
            var bad = good
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                bad[h.offset + Int.random(in: 0..<h.size, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            let crc = bad.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[h.offset...(h.offset + h.size)])) }
            let masked = CRC32C.mask(crc)
            for i in 0..<4 { bad[h.offset + h.size + 1 + i] = UInt8(truncatingIfNeeded: masked >> (8 * UInt32(i))) }
            fs.setContents("/t/z.sst", bad)
            do {
                let reader = try sstTestOpen(fs, "/t/z.sst", options)
                let it = reader.makeIterator()
                try it.seekToFirst()
                var n = 0
                while it.isValid && n < 1000 { try it.next(); n += 1 }
                try it.seekToLast()
                n = 0
                while it.isValid && n < 1000 { try it.prev(); n += 1 }
                try it.seek(entries[Int.random(in: 0..<entries.count, using: &rng)].key)
                try it.seekForPrev(entries[Int.random(in: 0..<entries.count, using: &rng)].key)
                _ = try reader.get(entries[Int.random(in: 0..<entries.count, using: &rng)].key)
                outcomes.ok += 1
            } catch {
                #expect(error.code == .corruption || error.code == .invalidArgument, "seed \(seed) step \(step): \(error)")
                outcomes.corrupt += 1
            }
        }
        #expect(outcomes.corrupt > 0, "seed \(seed): decoders reported corruption")
    }
}
