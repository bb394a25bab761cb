/// Fixed-width and variable-length integer coding over `[UInt8]`.
///
/// Little-endian fixed-width integers are used inside file formats (WAL records, table blocks,
/// footers), where they are never compared; big-endian forms are used inside keys, where byte
/// order must equal value order. Varints are LEB128 (7 bits per byte, low groups first), as in
/// LevelDB and protobuf.
///
/// Decoding never trusts its input: every `read` checks bounds and throws `CodingError` rather
/// than trapping, because the bytes come from files and peers.

/// An error from decoding bytes that are shorter than, or inconsistent with, their declared shape.
public struct CodingError: Error, Equatable, CustomStringConvertible, Sendable {
    /// What was being decoded when the bytes ran out or made no sense.
    public let what: String
    /// Byte offset within the decoded buffer.
    public let offset: Int

    public init(_ what: String, at offset: Int) {
        self.what = what
        self.offset = offset
    }

    public var description: String { "malformed \(what) at offset \(offset)" }
}

extension Array where Element == UInt8 {
    /// Appends `value` as 4 little-endian bytes.
    @inlinable
    public mutating func appendFixed32(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 24))
    }

    /// Appends `value` as 8 little-endian bytes.
    @inlinable
    public mutating func appendFixed64(_ value: UInt64) {
        appendFixed32(UInt32(truncatingIfNeeded: value))
        appendFixed32(UInt32(truncatingIfNeeded: value >> 32))
    }

    /// Appends `value` as 8 big-endian bytes (order-preserving for unsigned values).
    @inlinable
    public mutating func appendBigEndian64(_ value: UInt64) {
        var v = value.bigEndian
        Swift.withUnsafeBytes(of: &v) { append(contentsOf: $0) }
    }

    /// Appends `value` as 4 big-endian bytes (order-preserving for unsigned values).
    @inlinable
    public mutating func appendBigEndian32(_ value: UInt32) {
        var v = value.bigEndian
        Swift.withUnsafeBytes(of: &v) { append(contentsOf: $0) }
    }

    /// Appends `value` as a LEB128 varint (1 to 10 bytes).
    @inlinable
    public mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        append(UInt8(v))
    }

    /// Appends a varint length followed by the bytes.
    @inlinable
    public mutating func appendLengthPrefixed(_ bytes: some Collection<UInt8>) {
        appendVarint(UInt64(bytes.count))
        append(contentsOf: bytes)
    }
}

/// A cursor that decodes values from a byte buffer with bounds checks on every read.
///
/// Concurrency: a value type with one owner.
public struct ByteReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var offset: Int
    public let end: Int

    public init(_ bytes: [UInt8], offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = end ?? bytes.count
        precondition(self.offset >= 0 && self.offset <= self.end && self.end <= bytes.count, "ByteReader bounds")
    }

    /// Bytes left to read.
    public var remaining: Int { end - offset }
    public var isAtEnd: Bool { offset >= end }

    public mutating func readByte() throws(CodingError) -> UInt8 {
        guard offset < end else { throw CodingError("byte", at: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readFixed32() throws(CodingError) -> UInt32 {
        guard remaining >= 4 else { throw CodingError("fixed32", at: offset) }
        defer { offset += 4 }
        return decodeFixed32(bytes, at: offset)
    }

    public mutating func readFixed64() throws(CodingError) -> UInt64 {
        guard remaining >= 8 else { throw CodingError("fixed64", at: offset) }
        defer { offset += 8 }
        return decodeFixed64(bytes, at: offset)
    }

    public mutating func readBigEndian64() throws(CodingError) -> UInt64 {
        guard remaining >= 8 else { throw CodingError("big-endian 64", at: offset) }
        var v: UInt64 = 0
        for i in 0..<8 { v = (v << 8) | UInt64(bytes[offset + i]) }
        offset += 8
        return v
    }

    public mutating func readVarint() throws(CodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        let start = offset
        while true {
            guard offset < end, shift <= 63 else { throw CodingError("varint", at: start) }
            let b = bytes[offset]
            offset += 1
            if shift == 63 && b > 1 { throw CodingError("varint", at: start) }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }

    /// Reads a varint that must fit in `Int` and be at most `limit`.
    public mutating func readLength(limit: Int = Int(Int32.max)) throws(CodingError) -> Int {
        let start = offset
        let v = try readVarint()
        guard v <= UInt64(limit) else { throw CodingError("length", at: start) }
        return Int(v)
    }

    public mutating func readBytes(_ count: Int) throws(CodingError) -> ArraySlice<UInt8> {
        guard count >= 0, remaining >= count else { throw CodingError("bytes", at: offset) }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    public mutating func readLengthPrefixed() throws(CodingError) -> ArraySlice<UInt8> {
        let n = try readLength()
        return try readBytes(n)
    }

    public mutating func skip(_ count: Int) throws(CodingError) {
        guard count >= 0, remaining >= count else { throw CodingError("skip", at: offset) }
        offset += count
    }
}

/// Decodes 4 little-endian bytes at `offset`. - Precondition: `offset + 4 <= bytes.count`.
@inlinable
public func decodeFixed32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    precondition(offset >= 0 && offset + 4 <= bytes.count, "decodeFixed32 in bounds")
    return bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
}

/// Decodes 8 little-endian bytes at `offset`. - Precondition: `offset + 8 <= bytes.count`.
@inlinable
public func decodeFixed64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
    precondition(offset >= 0 && offset + 8 <= bytes.count, "decodeFixed64 in bounds")
    return bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
}

/// Decodes 8 big-endian bytes at `offset`. - Precondition: `offset + 8 <= bytes.count`.
@inlinable
public func decodeBigEndian64(_ bytes: some RandomAccessCollection<UInt8>, at offset: Int) -> UInt64 {
    var v: UInt64 = 0
    var i = bytes.index(bytes.startIndex, offsetBy: offset)
    for _ in 0..<8 {
        v = (v << 8) | UInt64(bytes[i])
        i = bytes.index(after: i)
    }
    return v
}

/// Compares two byte sequences lexicographically (memcmp order, shorter prefix first).
@inlinable
public func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let n = Swift.min(a.count, b.count)
    if n > 0, let pa = a.baseAddress, let pb = b.baseAddress {
        let c = memcmp(pa, pb, n)
        if c != 0 { return c < 0 ? -1 : 1 }
    }
    return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
}

/// Compares two byte arrays lexicographically; returns -1, 0 or 1.
@inlinable
public func compareBytes(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in compareBytes(pa, pb) } }
}

/// Compares two byte slices lexicographically; returns -1, 0 or 1.
@inlinable
public func compareBytes(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Int {
    a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in compareBytes(pa, pb) } }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
