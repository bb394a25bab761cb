import ApusCore

/// The write-ahead log segment format.
///
/// One file per segment, named `FileName.wal(n)` ("000007.log"), where `n` is the segment's log
/// number. A segment is a sequence of records with no file header and no padding:
///
/// ```
/// segment := record*
///
/// record  := +--------------+--------------+--------------+----------------------+
///            | masked CRC   | length       | log number   | payload              |
///            | 4 bytes LE   | 4 bytes LE   | low 32 bits  | `length` bytes       |
///            |              |              | 4 bytes LE   | (opaque: a batch)    |
///            +--------------+--------------+--------------+----------------------+
///            0              4              8              12
///
/// CRC        = CRC32C.mask(CRC-32C over bytes 4 ..< 12 + length), i.e. length, log number
///              and payload
/// length     <= WALFormat.maxPayloadSize
/// log number =  the segment's number, truncated to 32 bits
/// ```
///
/// The log number inside the checksummed bytes means that bytes left over from an older segment
/// (a reused or preallocated file, a stale tail) never verify as records of this one.
///
/// Damage classes, as the reader reports them:
/// - torn tail: a record that is incomplete at the end of the file, or a bad record with no
///   valid record anywhere after it in the segment; what a crash during an unsynced append
///   leaves. Recovery truncates the last segment there.
/// - corruption: a bad record followed later by a valid record; acknowledged data may be lost,
///   so recovery stops with `.corruption` naming the file and offset (unless salvaging).
package enum WALFormat {
    /// Bytes before the payload of every record.
    package static let headerSize = 12
    /// The largest payload a record may carry (512 MiB); larger batches are rejected.
    package static let maxPayloadSize = 512 << 20

    /// The log number as stored in records.
    @inlinable
    package static func storedLogNumber(_ logNumber: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: logNumber)
    }

    /// Appends the 12-byte header for `payload` to `out`.
    package static func appendHeader(to out: inout [UInt8], payload: UnsafeRawBufferPointer, logNumber: UInt32) {
        precondition(payload.count <= maxPayloadSize, "WAL payload within maxPayloadSize")
        var fields = (UInt32(payload.count).littleEndian, logNumber.littleEndian)
        let crc = withUnsafeBytes(of: &fields) { CRC32C.update(CRC32C.update(0, $0), payload) }
        out.appendFixed32(CRC32C.mask(crc))
        out.appendFixed32(UInt32(payload.count))
        out.appendFixed32(logNumber)
    }

    /// The unmasked CRC of a record whose length and log number fields are `fields` (8 bytes)
    /// and whose payload is `payload`.
    static func checksum(fields: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> UInt32 {
        CRC32C.update(CRC32C.update(0, fields), payload)
    }
}
