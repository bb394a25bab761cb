// Tests of ApusCore's byte coding: fixed-width and varint round trips, bounds checks on
// malformed input, the CRC-32C check value and masking, and that encoded MVCC keys split back
// into key and timestamp. Table-driven; a failure means a format every file depends on changed.
import Testing
@testable import ApusCore

@Suite struct CodingTests {
    @Test(arguments: [UInt64(0), 1, 127, 128, 300, 16_383, 16_384, UInt64(UInt32.max), UInt64.max])
    func varintRoundTrip(value: UInt64) throws {
        var b: [UInt8] = []
        b.appendVarint(value)
        var r = ByteReader(b)
        #expect(try r.readVarint() == value)
        #expect(r.isAtEnd)
    }

    @Test func truncatedVarintThrows() {
        var b: [UInt8] = []
        b.appendVarint(1 << 40)
        b.removeLast()
        var r = ByteReader(b)
        #expect(throws: CodingError.self) { try r.readVarint() }
    }

    @Test func overlongVarintThrows() {
        var r = ByteReader([UInt8](repeating: 0xFF, count: 11))
        #expect(throws: CodingError.self) { try r.readVarint() }
    }

    @Test func fixedRoundTrip() throws {
        var b: [UInt8] = []
        b.appendFixed32(0xDEAD_BEEF)
        b.appendFixed64(0x0123_4567_89AB_CDEF)
        var r = ByteReader(b)
        #expect(try r.readFixed32() == 0xDEAD_BEEF)
        #expect(try r.readFixed64() == 0x0123_4567_89AB_CDEF)
        #expect(throws: CodingError.self) { try r.readFixed32() }
    }

    @Test func crc32cCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // 32 bytes of zeros: RFC 3720 B.4 test vector.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    }

    @Test func crc32cIncrementalEqualsWhole() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for cut in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let a = data[0..<cut].withUnsafeBytes { CRC32C.update(0, $0) }
            let b = data[cut...].withUnsafeBytes { CRC32C.update(a, $0) }
            #expect(b == CRC32C.checksum(data))
        }
    }

    @Test func hardwareCRCMatchesTable() {
        var state: UInt64 = 42
        for n in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4096] {
            let data = (0..<n).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1
                return UInt8(truncatingIfNeeded: state >> 33)
            }
            let table = data.withUnsafeBytes { CRC32C.updateTable(0x1234_5678, $0) }
            let fast = data.withUnsafeBytes { CRC32C.update(0x1234_5678, $0) }
            #expect(table == fast, "length \(n)")
        }
    }

    @Test func crcMaskRoundTrip() {
        for v: UInt32 in [0, 1, 0xFFFF_FFFF, 0xE306_9283] {
            #expect(CRC32C.unmask(CRC32C.mask(v)) == v)
            #expect(CRC32C.mask(v) != v)
        }
    }

    @Test func mvccKeyRoundTrip() throws {
        let ts = Timestamp(wallNanos: 1_700_000_000_000_000_000, logical: 7)
        let e = MVCCKey.encode(Array("user".utf8), ts)
        let d = try #require(MVCCKey.decode(e))
        #expect(d.key == Array("user".utf8))
        #expect(d.timestamp == ts)
        let bare = MVCCKey.encode(Array("user".utf8), .zero)
        #expect(MVCCKey.decode(bare)?.timestamp == .zero)
        #expect(MVCCKey.decode([]) == nil)
        #expect(MVCCKey.decode([1, 2, 5]) == nil)
    }

    @Test func hlcIsMonotonic() {
        var c = HybridLogicalClock()
        let a = c.now(physicalNanos: 100)
        let b = c.now(physicalNanos: 50)  // clock went back
        #expect(b > a)
        c.update(Timestamp(wallNanos: 1000, logical: 3))
        let d = c.now(physicalNanos: 200)
        #expect(d > Timestamp(wallNanos: 1000, logical: 3))
    }

    @Test func sqlStateClasses() {
        #expect(SQLState.uniqueViolation.matches(SQLState("23000")))
        #expect(!SQLState.uniqueViolation.matches(SQLState("22000")))
        #expect(SQLState.deadlockDetected.classCode == SQLState("40000"))
    }
}
