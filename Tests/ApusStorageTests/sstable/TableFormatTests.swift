// The frozen table format: constants, footer layout, and a pinned checksum of a small table.
//
// Method: golden values. The constants and the CRC-32C of a table built from fixed entries
// were read and checked by hand against the diagram in TableFormat.swift when the format was
// written. A failure means the bytes a builder writes changed: old tables may no longer read
// the same, so the change needs a new format version (and an RFC), not a new golden value.

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

    static let goldenSize = 1485
    static let goldenCRC: UInt32 = 0xAC35_FA18
}
