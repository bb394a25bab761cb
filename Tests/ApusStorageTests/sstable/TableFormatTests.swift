// The frozen table format: constants, footer layout, and a pinned checksum of a small table.
//
// Method: golden values. The constants and the CRC-32C of a table built from fixed entries
// were read and checked by hand against the diagram in TableFormat.swift when the format was
// written. A failure means the bytes a builder writes changed: old tables may no longer read
// the same, so the change needs a new format version (and an RFC), not a new golden value.
// (The golden table changed once, compatibly: filters became blocked, marked by their last
// byte, and readers still read the classic filters of older tables; see the filter tests.)

import ApusCore
@testable import ApusStorage
import Testing

@Suite struct TableFormatTests {
    @Test func constantsAreFrozen() {
        #expect(TableFormat.formatVersion == 1)
        var magic = [UInt8]()
        magic.appendFixed64(TableFormat.magicNumber)
        #expect(magic == Array("ApusSST1".utf8))
        // Four handles of two UInt64, the version, the footer CRC and the magic number.
        #expect(TableFormat.footerLength == 4 * 16 + 4 + 4 + 8)
        #expect(TableFormat.blockTrailerLength == 1 + 4)
        #expect(BlockCompression.none.rawValue == 0 && BlockCompression.lz4.rawValue == 1
                && BlockCompression.zstd.rawValue == 2)
        #expect(BloomFilter.probeCount(bitsPerKey: 10) == 6)
    }

    @Test func footerLayout() throws {
        let footer = TableFooter(index: BlockHandle(offset: 1000, size: 50), filter: BlockHandle(offset: 10, size: 20),
                                 rangeDeletions: BlockHandle(offset: 30, size: 1), properties: BlockHandle(offset: 36, size: 200))
        let bytes = footer.encode()
        #expect(bytes.count == TableFormat.footerLength)
        #expect(decodeFixed64(bytes, at: 0) == 1000 && decodeFixed64(bytes, at: 8) == 50)
        #expect(decodeFixed64(bytes, at: 16) == 10 && decodeFixed64(bytes, at: 24) == 20)
        #expect(decodeFixed64(bytes, at: 32) == 30 && decodeFixed64(bytes, at: 48) == 36)
        #expect(decodeFixed32(bytes, at: 64) == 1)
        #expect(decodeFixed64(bytes, at: 72) == TableFormat.magicNumber)
        let decoded = try TableFooter.decode(bytes, path: "f", fileSize: 2000)
        #expect(decoded == footer)
        // A handle reaching into the footer is rejected.
        #expect(throws: StorageError.self) { _ = try TableFooter.decode(bytes, path: "f", fileSize: 1100) }
    }

    @Test func bloomHashIsFrozen() {
        let empty = [UInt8]().withUnsafeBytes { bloomHash($0) }
        let short = Array("apus".utf8).withUnsafeBytes { bloomHash($0) }
        let long = Array("the quick brown fox jumps".utf8).withUnsafeBytes { bloomHash($0) }
        #expect([empty, short, long] == TableFormatTests.goldenHashes, "hashes \([empty, short, long].map { String($0, radix: 16) })")
    }

    /// The blocked filter's bits, derived here from the diagram in TableFormat.swift: each
    /// hash sets k bits in the 64-byte block its low half picks, and only there.
    @Test func blockedFilterLayoutIsFrozen() {
        let hashes: [UInt64] = [0x0123_4567_89AB_CDEF, 0xFFFF_FFFF_0000_0000, 0x8000_0000_FFFF_FFFF, 42]
        let filter = BloomFilter.buildBlocked(hashes: hashes, bitsPerKey: 10)
        #expect(filter.count == 64 + 1, "4 hashes of 10 bits: one block")
        #expect(filter.last.map(Int.init) == 0x46, "k = 6, tagged blocked")
        let many = BloomFilter.buildBlocked(hashes: (0..<1000).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }, bitsPerKey: 10)
        #expect(many.count == 20 * 64 + 1, "10,000 bits: 20 blocks")
        let blocks = 20
        var expected = [UInt8](repeating: 0, count: blocks * 64)
        for i in 0..<1000 {
            let h = UInt64(i) &* 0x9E37_79B9_7F4A_7C15
            let block = Int(((h & 0xFFFF_FFFF) * UInt64(blocks)) >> 32)
            var x = UInt32(h >> 32)
            for _ in 0..<6 {
                let bit = block * 512 + Int(x >> 23)
                expected[bit / 8] |= 1 << (bit % 8)
                x = x &* 0x9E37_79B9
            }
        }
        #expect(Array(many.dropLast()) == expected)
        for i in 0..<1000 {
            #expect(many.withUnsafeBytes { BloomFilter.mayContain($0, hash: UInt64(i) &* 0x9E37_79B9_7F4A_7C15) })
        }
    }

    /// Tables written before filters were blocked keep their classic filters: read the same.
    @Test func classicAndBlockedFiltersBothRead() {
        var rng = SplitMix64(seed: 5)
        let members = (0..<5000).map { _ in rng.next() }
        let absent = (0..<20000).map { _ in rng.next() }
        for filter in [BloomFilter.build(hashes: members, bitsPerKey: 10), BloomFilter.buildBlocked(hashes: members, bitsPerKey: 10)] {
            let loaded = LoadedFilter(filter)
            for h in members { #expect(loaded.mayContain(h)) }
            let falsePositives = absent.filter { loaded.mayContain($0) }.count
            #expect(Double(falsePositives) / Double(absent.count) < 0.02, "tag \(filter.last!): \(falsePositives) false positives")
        }
        // A classic filter's last byte is k alone, so its bits are probed the classic way.
        #expect(BloomFilter.build(hashes: members, bitsPerKey: 10).last == 6)
    }

    /// A filter whose tag names no known format (a later one), or whose blocked bits are not
    /// whole blocks, filters nothing rather than answering wrongly.
    @Test func unknownFiltersMatchEverything() {
        var rng = SplitMix64(seed: 9)
        var blocked = BloomFilter.buildBlocked(hashes: [1, 2, 3], bitsPerKey: 10)
        blocked[blocked.count - 1] = 0x40 | 31
        var truncated = BloomFilter.buildBlocked(hashes: [1, 2, 3], bitsPerKey: 10)
        truncated.remove(at: 0)
        for filter in [blocked, truncated, [0, 0x80], [0xFF]] {
            for _ in 0..<100 { #expect(filter.withUnsafeBytes { BloomFilter.mayContain($0, hash: rng.next()) }) }
        }
    }

    static let goldenHashes: [UInt64] = [0x9CA0_66F1_A4AB_2EEA, 0x3FB2_9A14_E1F9_AB2F, 0x5E17_D353_FA22_3594]

    @Test func smallTableBytesAreFrozen() throws {
        var options = StorageOptions()
        options.blockBytes = 256
        options.blockRestartInterval = 4
        let fs = SSTTestFileSystem()
        let entries = (0..<50).map { i in
            SSTTestEntry(key: InternalKey.make(Array("key\(100 + i)".utf8), UInt64(i + 1), i % 5 == 0 ? .delete : .put),
                         value: Array("value\(i)".utf8))
        }
        try sstTestBuild(fs, "/t/golden.sst", options, entries,
                         tombstones: [RangeTombstone(start: Array("a".utf8), end: Array("b".utf8), sequence: 77)])
        let bytes = fs.contents("/t/golden.sst")
        // The first entry, whole: shared 0, unshared 14 (6 key bytes + 8 trailer), value 6.
        #expect(Array(bytes[0..<3]) == [0, 14, 6])
        #expect(Array(bytes[3..<9]) == Array("key100".utf8))
        #expect(Array(bytes[9..<17]) == [0, 1, 0, 0, 0, 0, 0, 0])  // sequence 1, kind delete
        #expect(Array(bytes[17..<23]) == Array("value0".utf8))
        // The second entry shares "key10": shared 5, unshared 1 + 8.
        #expect(Array(bytes[23..<26]) == [5, 9, 6])
        let crc = CRC32C.checksum(bytes)
        #expect(bytes.count == TableFormatTests.goldenSize && crc == TableFormatTests.goldenCRC,
                "table bytes changed: size \(bytes.count) crc 0x\(String(crc, radix: 16))")
    }

    /// One byte more than with the classic filter (1485, 0xAC35FA18): 50 keys of 10 bits fill
    /// one 64-byte block where the classic filter took 63 bytes.
    static let goldenSize = 1486
    static let goldenCRC: UInt32 = 0x80CA_8CEA
}
