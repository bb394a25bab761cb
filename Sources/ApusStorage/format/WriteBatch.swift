import ApusCore

/// An atomic group of writes: puts, deletes and range deletes applied all or nothing.
///
/// The encoded form is what the WAL stores, so it is frozen:
/// ```
/// +-------------------+-------------+---------------------------------------------------+
/// | sequence (8B LE)  | count (4B)  | records...                                        |
/// +-------------------+-------------+---------------------------------------------------+
/// record: kind (1B) | key length (varint) | key | [value length (varint) | value]
///         put: key, value      delete: key      rangeDelete: start key, end key (as value)
/// ```
/// The sequence field is filled in by the engine at commit; record i gets `sequence + i`.
public struct WriteBatch: Sendable {
    static let headerBytes = 12

    /// The encoded batch (header plus records).
    public private(set) var data: [UInt8]
    /// Number of records.
    public private(set) var count: Int = 0
    /// Bytes of user keys and values (for write-amplification accounting).
    public private(set) var payloadBytes: Int = 0
    /// Longest key (or range bound) in the batch, checked against the engine's limits.
    public private(set) var keyBytesMax: Int = 0
    /// Longest value in the batch.
    public private(set) var valueBytesMax: Int = 0

    public init() {
        // Shared until the first write (copy on write): a batch that stays empty allocates nothing.
        data = WriteBatch.emptyData
    }

    private static let emptyData = [UInt8](repeating: 0, count: WriteBatch.headerBytes)

    public var isEmpty: Bool { count == 0 }

    public mutating func put(_ key: some Collection<UInt8>, _ value: some Collection<UInt8>) {
        append(.put, key, value)
    }

    public mutating func delete(_ key: some Collection<UInt8>) {
        data.append(ValueKind.delete.rawValue)
        data.appendLengthPrefixed(key)
        note(keyBytes: key.count, valueBytes: 0)
    }

    /// Deletes every key in `[start, end)`.
    public mutating func deleteRange(_ start: some Collection<UInt8>, _ end: some Collection<UInt8>) {
        append(.rangeDelete, start, end)
        keyBytesMax = Swift.max(keyBytesMax, end.count)
    }

    public mutating func clear() {
        self = WriteBatch()
    }

    private mutating func append(_ kind: ValueKind, _ key: some Collection<UInt8>, _ value: some Collection<UInt8>) {
        data.append(kind.rawValue)
        data.appendLengthPrefixed(key)
        data.appendLengthPrefixed(value)
        note(keyBytes: key.count, valueBytes: kind == .put ? value.count : 0)
    }

    private mutating func note(keyBytes: Int, valueBytes: Int) {
        count += 1
        payloadBytes += keyBytes + valueBytes
        keyBytesMax = Swift.max(keyBytesMax, keyBytes)
        valueBytesMax = Swift.max(valueBytesMax, valueBytes)
    }

    /// Appends the records of `other` (used by group commit, in the engine and in the
    /// transaction layer's commit queue).
    public mutating func append(contentsOf other: WriteBatch) {
        data.append(contentsOf: other.data[WriteBatch.headerBytes...])
        count += other.count
        payloadBytes += other.payloadBytes
        keyBytesMax = Swift.max(keyBytesMax, other.keyBytesMax)
        valueBytesMax = Swift.max(valueBytesMax, other.valueBytesMax)
    }

    /// Writes the sequence and count into the header.
    mutating func setHeader(sequence: SequenceNumber) {
        let n = UInt32(count)
        data.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: sequence.littleEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: n.littleEndian, toByteOffset: 8, as: UInt32.self)
        }
    }

    /// Calls `body` with each record's kind, key and value, in order, without copying.
    ///
    /// - Precondition: the batch was built by this process's `WriteBatch` methods (records
    ///   from files go through `decode`, which checks them).
    func forEachRecord(_ body: (ValueKind, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        data.withUnsafeBytes { raw in
            var i = WriteBatch.headerBytes
            func varint() -> Int {
                var v = 0, shift = 0
                while true {
                    let b = raw[i]
                    i += 1
                    v |= Int(b & 0x7F) << shift
                    if b < 0x80 { return v }
                    shift += 7
                }
            }
            for _ in 0..<count {
                guard let kind = ValueKind(rawValue: raw[i]) else { preconditionFailure("a batch built here has known kinds") }
                i += 1
                let kl = varint()
                let key = UnsafeRawBufferPointer(rebasing: raw[i..<(i + kl)])
                i += kl
                var value = UnsafeRawBufferPointer(start: nil, count: 0)
                if kind != .delete {
                    let vl = varint()
                    value = UnsafeRawBufferPointer(rebasing: raw[i..<(i + vl)])
                    i += vl
                }
                body(kind, key, value)
            }
            precondition(i == raw.count, "a batch built here is consumed exactly")
        }
    }

    /// One decoded record.
    struct Record {
        var kind: ValueKind
        var key: ArraySlice<UInt8>
        var value: ArraySlice<UInt8>
    }

    /// Decodes an encoded batch read from the WAL; throws `.corruption` if it is malformed.
    static func decode(_ bytes: [UInt8], path: String?) throws(StorageError) -> (sequence: SequenceNumber, records: [Record]) {
        var r = ByteReader(bytes)
        do {
            let seq = try r.readFixed64()
            let n = Int(try r.readFixed32())
            var records: [Record] = []
            records.reserveCapacity(Swift.min(n, bytes.count / 2))
            for _ in 0..<n {
                guard let kind = ValueKind(rawValue: try r.readByte()) else {
                    throw StorageError.corruption("unknown record kind in write batch", path: path, offset: r.offset)
                }
                let key = try r.readLengthPrefixed()
                let value: ArraySlice<UInt8> = kind == .delete ? [] : try r.readLengthPrefixed()
                records.append(Record(kind: kind, key: key, value: value))
            }
            guard r.isAtEnd else { throw StorageError.corruption("trailing bytes in write batch", path: path, offset: r.offset) }
            return (seq, records)
        } catch let e as CodingError {
            throw StorageError.corruption("malformed write batch: \(e)", path: path, offset: nil)
        } catch let e as StorageError {
            throw e
        } catch {
            throw StorageError(.corruption, "malformed write batch", path: path)
        }
    }
}
