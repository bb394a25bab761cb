import ApusCore

/// The on-disk layout of a sorted table (SST). Frozen: old tables must stay readable.
///
/// ```
/// +----------------------------+
/// | data block 0   | trailer   |   entries of internal keys in order, prefix-compressed
/// | data block 1   | trailer   |
/// | ...                        |
/// | filter block   | trailer   |   bloom filter over comparator.prefixLength(userKey) prefixes
/// | range-del block| trailer   |   the table's range tombstones
/// | properties blk | trailer   |   TableProperties, tagged fields
/// | index block    | trailer   |   separator key -> handle of each data block
/// | footer (80 B)              |
/// +----------------------------+
///
/// block trailer (5 B):
/// +-----------------------+--------------------------------------------------------+
/// | compression type (1B) | masked CRC-32C of (stored block bytes + type byte) (4B) |
/// +-----------------------+--------------------------------------------------------+
///
/// data and index block contents (after decompression):
/// +-------------------------------------------------------------------------------+
/// | entry*: shared key len (varint) | unshared len (varint) | value len (varint)  |
/// |         | unshared key bytes | value bytes                                    |
/// | restart offsets: UInt32 LE each (shared == 0 at each)                         |
/// | restart count: UInt32 LE (>= 1)                                               |
/// +-------------------------------------------------------------------------------+
/// Index entries use a restart interval of 1; their value is a block handle:
/// offset (varint) | size (varint), size excluding the 5-byte trailer.
///
/// compressed data block (type 1 = lz4, 2 = zstd):
/// | uncompressed length (varint) | compressed bytes |
///
/// filter block contents: | bit array (n B) | tag (1 B) |   (empty: no filter)
/// bit i of the filter is bit (i % 8) of byte (i / 8); h1/h2 are the low/high 32 bits of
/// bloomHash(prefix). Blocked (tag = k | 0x40, n a multiple of 64): a key sets, in the 64-byte
/// block (h1 * n/64) >> 32, bits x_j >> 23 for j in 0..<k, x_0 = h2, x_{j+1} = x_j * 0x9E3779B9
/// mod 2^32. Classic (tag = k, 1...30; the first format): bits (h1 + j * (h2 | 1)) % (8 n).
///
/// range-del block contents:
/// | count (varint) | (start len-prefixed | end len-prefixed | sequence varint)* |
///
/// properties block contents: | (tag varint | length varint | value bytes)* |  unknown tags skipped
///
/// footer (80 B, all little-endian):
/// 0   index handle:      offset UInt64, size UInt64
/// 16  filter handle:     offset UInt64, size UInt64
/// 32  range-del handle:  offset UInt64, size UInt64
/// 48  properties handle: offset UInt64, size UInt64
/// 64  format version UInt32 (currently 1)
/// 68  masked CRC-32C of footer bytes 0..<68, UInt32
/// 72  magic number UInt64
/// ```
enum TableFormat {
    /// The format version written; readers reject larger versions with `.unsupportedVersion`.
    static let formatVersion: UInt32 = 1
    /// "ApusSST1" as little-endian bytes at the very end of every table.
    static let magicNumber: UInt64 = 0x3154_5353_7375_7041
    static let footerLength = 80
    static let blockTrailerLength = 5
    /// Largest uncompressed block a reader accepts (a single entry may exceed blockBytes).
    static let blockBytesMax = 512 << 20

    /// Property tags. Frozen.
    enum Tag {
        static let entryCount: UInt64 = 1
        static let rawKeyBytes: UInt64 = 2
        static let rawValueBytes: UInt64 = 3
        static let smallestKey: UInt64 = 4
        static let largestKey: UInt64 = 5
        static let smallestSequence: UInt64 = 6
        static let largestSequence: UInt64 = 7
        static let rangeTombstoneCount: UInt64 = 8
        static let comparatorName: UInt64 = 9
        static let compression: UInt64 = 10
        static let dataBytes: UInt64 = 11
        static let indexBytes: UInt64 = 12
        static let filterBytes: UInt64 = 13
        static let dataBlockCount: UInt64 = 14
        /// `BloomPrefix.name` when the filter also holds key prefixes (absent: it does not).
        static let bloomPrefixName: UInt64 = 15
    }
}

/// Where a block sits in a table file: its offset and its stored size without the trailer.
struct BlockHandle: Equatable, Sendable {
    var offset: Int
    var size: Int

    /// Appends the handle as two varints (index block values).
    func appendVarints(to out: inout [UInt8]) {
        out.appendVarint(UInt64(offset))
        out.appendVarint(UInt64(size))
    }

    /// Decodes a handle from two varints; nil if malformed or out of `Int` range.
    static func decodeVarints(_ raw: UnsafeRawBufferPointer) -> BlockHandle? {
        var position = 0
        guard let offset = decodeVarint(raw, &position), let size = decodeVarint(raw, &position) else { return nil }
        guard offset <= UInt64(Int.max / 2), size <= UInt64(Int.max / 2) else { return nil }
        return BlockHandle(offset: Int(offset), size: Int(size))
    }
}

/// The fixed-size footer at the end of every table.
struct TableFooter: Equatable {
    var index: BlockHandle
    var filter: BlockHandle
    var rangeDeletions: BlockHandle
    var properties: BlockHandle
    var version: UInt32 = TableFormat.formatVersion

    func encode() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(TableFormat.footerLength)
        for handle in [index, filter, rangeDeletions, properties] {
            out.appendFixed64(UInt64(handle.offset))
            out.appendFixed64(UInt64(handle.size))
        }
        out.appendFixed32(version)
        out.appendFixed32(CRC32C.mask(CRC32C.checksum(out)))
        out.appendFixed64(TableFormat.magicNumber)
        precondition(out.count == TableFormat.footerLength, "footer has its fixed length")
        return out
    }

    /// Decodes and checks a footer read from the last `footerLength` bytes of `path`.
    /// - Throws: `.corruption` for a bad magic number, checksum or handle; `.unsupportedVersion`
    ///   for a version newer than this reader's.
    static func decode(_ bytes: [UInt8], path: String, fileSize: Int) throws(StorageError) -> TableFooter {
        let footerOffset = fileSize - TableFormat.footerLength
        guard bytes.count == TableFormat.footerLength else {
            throw .corruption("short table footer", path: path, offset: footerOffset)
        }
        guard decodeFixed64(bytes, at: 72) == TableFormat.magicNumber else {
            throw .corruption("bad table magic number (not an ApusDB table)", path: path, offset: footerOffset + 72)
        }
        let version = decodeFixed32(bytes, at: 64)
        guard version <= TableFormat.formatVersion else {
            throw StorageError(.unsupportedVersion,
                               "table format version \(version) is newer than the supported \(TableFormat.formatVersion)",
                               path: path, offset: footerOffset + 64)
        }
        guard version >= 1 else {
            throw .corruption("table format version 0 is invalid", path: path, offset: footerOffset + 64)
        }
        let crc = bytes.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[0..<68])) }
        guard CRC32C.mask(crc) == decodeFixed32(bytes, at: 68) else {
            throw .corruption("table footer checksum mismatch", path: path, offset: footerOffset)
        }
        var handles = [BlockHandle]()
        for i in 0..<4 {
            let offset = decodeFixed64(bytes, at: i * 16)
            let size = decodeFixed64(bytes, at: i * 16 + 8)
            // Every block and its trailer must lie before the footer.
            guard offset <= UInt64(footerOffset), size <= UInt64(footerOffset),
                  Int(offset) + Int(size) + TableFormat.blockTrailerLength <= footerOffset
            else {
                throw .corruption("table footer block handle out of range", path: path, offset: footerOffset + i * 16)
            }
            handles.append(BlockHandle(offset: Int(offset), size: Int(size)))
        }
        return TableFooter(index: handles[0], filter: handles[1], rangeDeletions: handles[2],
                           properties: handles[3], version: version)
    }
}

/// Decodes a LEB128 varint at `position` of `raw`, advancing it; nil if truncated or over 64 bits.
@inline(__always)
func decodeVarint(_ raw: UnsafeRawBufferPointer, _ position: inout Int) -> UInt64? {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    var p = position
    while p < raw.count {
        let byte = raw[p]
        p += 1
        if shift == 63 && byte > 1 { return nil }
        result |= UInt64(byte & 0x7F) << shift
        if byte < 0x80 {
            position = p
            return result
        }
        shift += 7
        if shift > 63 { return nil }
    }
    return nil
}

/// Encodes and decodes the range-deletion block.
enum RangeDeletionBlock {
    static func encode(_ tombstones: [RangeTombstone]) -> [UInt8] {
        var out = [UInt8]()
        out.appendVarint(UInt64(tombstones.count))
        for t in tombstones {
            out.appendLengthPrefixed(t.start)
            out.appendLengthPrefixed(t.end)
            out.appendVarint(t.sequence)
        }
        return out
    }

    static func decode(_ bytes: [UInt8]) throws(CodingError) -> [RangeTombstone] {
        var reader = ByteReader(bytes)
        // Each tombstone takes at least 3 bytes, which bounds the count a corrupt file can claim.
        let count = try reader.readLength(limit: bytes.count / 3 + 1)
        var out = [RangeTombstone]()
        out.reserveCapacity(count)
        for _ in 0..<count {
            let start = Array(try reader.readLengthPrefixed())
            let end = Array(try reader.readLengthPrefixed())
            let at = reader.offset
            let sequence = try reader.readVarint()
            guard sequence <= maxSequenceNumber else { throw CodingError("tombstone sequence", at: at) }
            out.append(RangeTombstone(start: start, end: end, sequence: sequence))
        }
        guard reader.isAtEnd else { throw CodingError("trailing bytes in range-deletion block", at: reader.offset) }
        return out
    }
}
