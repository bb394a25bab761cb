import ApusCore

/// What a finished table holds: counts, sizes, key and sequence bounds, and the options it was
/// written with. Stored in the table's properties block (see `TableFormat`).
///
/// Key bounds cover point entries and range tombstones alike. A tombstone `[start, end)@seq`
/// contributes `start@seq` (kind `.rangeDelete`) as a lower bound and `end@maxSequenceNumber`
/// (kind `.rangeDelete`) as an upper bound: that key is the smallest internal key of user key
/// `end`, so it bounds the tombstone's exclusive end without claiming any entry of `end`
/// (Pebble's exclusive range sentinel). An empty table has empty `smallestKey`/`largestKey`.
package struct TableProperties: Sendable, Equatable {
    /// Point entries (puts and deletes), not counting range tombstones.
    package var entryCount = 0
    /// Sum of the internal-key lengths of point entries.
    package var rawKeyBytes = 0
    /// Sum of the value lengths of point entries.
    package var rawValueBytes = 0
    /// Smallest internal key of the table (point entries and tombstone bounds); empty if none.
    package var smallestKey: [UInt8] = []
    /// Largest internal key of the table (point entries and tombstone bounds); empty if none.
    package var largestKey: [UInt8] = []
    /// Smallest sequence number of any entry or tombstone (0 for an empty table).
    package var smallestSequence: SequenceNumber = 0
    /// Largest sequence number of any entry or tombstone (0 for an empty table).
    package var largestSequence: SequenceNumber = 0
    /// Range tombstones in the table.
    package var rangeTombstoneCount = 0
    /// `KeyComparator.name` of the comparator that ordered the table.
    package var comparatorName = ""
    /// The configured compression of data blocks (single blocks may be stored uncompressed).
    package var compression: BlockCompression = .none
    /// Number of data blocks.
    package var dataBlockCount = 0
    /// Size of the whole file.
    package var fileBytes = 0
    /// Bytes of data blocks as stored, with trailers.
    package var dataBytes = 0
    /// Bytes of the index block as stored, with its trailer.
    package var indexBytes = 0
    /// Bytes of the filter block as stored, with its trailer.
    package var filterBytes = 0
    /// The `BloomPrefix` whose prefixes the filter also holds ("": none).
    package var bloomPrefixName = ""

    /// Creates empty properties.
    package init() {}

    /// Encodes every field but `fileBytes` and `indexBytes` (known only after the block is
    /// written; a reader takes both from the footer and the file size).
    func encode() -> [UInt8] {
        var out = [UInt8]()
        func put(_ tag: UInt64, _ value: UInt64) {
            var v = [UInt8]()
            v.appendVarint(value)
            out.appendVarint(tag)
            out.appendLengthPrefixed(v)
        }
        func put(_ tag: UInt64, bytes: [UInt8]) {
            out.appendVarint(tag)
            out.appendLengthPrefixed(bytes)
        }
        put(TableFormat.Tag.entryCount, UInt64(entryCount))
        put(TableFormat.Tag.rawKeyBytes, UInt64(rawKeyBytes))
        put(TableFormat.Tag.rawValueBytes, UInt64(rawValueBytes))
        put(TableFormat.Tag.smallestKey, bytes: smallestKey)
        put(TableFormat.Tag.largestKey, bytes: largestKey)
        put(TableFormat.Tag.smallestSequence, smallestSequence)
        put(TableFormat.Tag.largestSequence, largestSequence)
        put(TableFormat.Tag.rangeTombstoneCount, UInt64(rangeTombstoneCount))
        put(TableFormat.Tag.comparatorName, bytes: Array(comparatorName.utf8))
        put(TableFormat.Tag.compression, UInt64(compression.rawValue))
        put(TableFormat.Tag.dataBytes, UInt64(dataBytes))
        put(TableFormat.Tag.filterBytes, UInt64(filterBytes))
        put(TableFormat.Tag.dataBlockCount, UInt64(dataBlockCount))
        if !bloomPrefixName.isEmpty { put(TableFormat.Tag.bloomPrefixName, bytes: Array(bloomPrefixName.utf8)) }
        return out
    }

    /// Decodes a properties block; unknown tags are skipped so newer writers may add fields.
    static func decode(_ bytes: [UInt8]) throws(CodingError) -> TableProperties {
        var p = TableProperties()
        var reader = ByteReader(bytes)
        while !reader.isAtEnd {
            let tag = try reader.readVarint()
            let valueStart = reader.offset
            let value = try reader.readLengthPrefixed()
            func integer() throws(CodingError) -> Int {
                var r = ByteReader(Array(value))
                let v = try r.readVarint()
                guard v <= UInt64(Int.max), r.isAtEnd else { throw CodingError("table property \(tag)", at: valueStart) }
                return Int(v)
            }
            switch tag {
            case TableFormat.Tag.entryCount: p.entryCount = try integer()
            case TableFormat.Tag.rawKeyBytes: p.rawKeyBytes = try integer()
            case TableFormat.Tag.rawValueBytes: p.rawValueBytes = try integer()
            case TableFormat.Tag.smallestKey: p.smallestKey = Array(value)
            case TableFormat.Tag.largestKey: p.largestKey = Array(value)
            case TableFormat.Tag.smallestSequence: p.smallestSequence = SequenceNumber(try integer())
            case TableFormat.Tag.largestSequence: p.largestSequence = SequenceNumber(try integer())
            case TableFormat.Tag.rangeTombstoneCount: p.rangeTombstoneCount = try integer()
            case TableFormat.Tag.comparatorName: p.comparatorName = String(decoding: value, as: UTF8.self)
            case TableFormat.Tag.compression:
                guard let c = BlockCompression(rawValue: UInt8(clamping: try integer())) else {
                    throw CodingError("table compression property", at: valueStart)
                }
                p.compression = c
            case TableFormat.Tag.dataBytes: p.dataBytes = try integer()
            case TableFormat.Tag.filterBytes: p.filterBytes = try integer()
            case TableFormat.Tag.dataBlockCount: p.dataBlockCount = try integer()
            case TableFormat.Tag.bloomPrefixName: p.bloomPrefixName = String(decoding: value, as: UTF8.self)
            default: break
            }
        }
        return p
    }
}
