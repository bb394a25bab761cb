import ApusCore

/// How a WAL segment is damaged (see `WALFormat`).
package enum WALDamage: Sendable, Equatable {
    /// An incomplete record at the end, or bad records with no valid record after them: what a
    /// crash during an unsynced append leaves.
    case tornTail
    /// A bad record followed later by a valid one.
    case corruption
}

/// Where and why a reader stopped before the end of a segment.
package struct WALStop: Sendable, Equatable {
    package var damage: WALDamage
    /// Offset of the first bad record (where the segment would be truncated).
    package var offset: Int
    package var reason: String
}

/// What `LogReader.recover` did with one segment.
package struct WALRecoveryResult: Sendable, Equatable {
    /// Records replayed (passed to `apply`).
    package var records: Int
    /// Bytes of valid records from the start: the segment's length after any truncation.
    package var validLength: Int
    /// The segment's size before recovery.
    package var fileSize: Int
    /// The damage found, nil if the segment ended cleanly.
    package var stop: WALStop?
    /// Whether the segment was durably truncated to `validLength`.
    package var truncated: Bool
}

/// Reads the records of one WAL segment in order.
///
/// `next()` returns payloads until the end of the segment, then nil. On a bad record it decides
/// the damage class by scanning forward, byte by byte, for a later header whose log number and
/// checksum verify (a rare path, bounded by the file size): if none, the damage is a torn tail
/// and `next()` returns nil with `stop` set; if one exists, it is corruption and `next()` throws
/// `.corruption` naming the file and the bad record's offset. With `salvage`, corruption also
/// just stops (recorded in `stop`) instead of throwing.
///
/// Concurrency: a value with one owner; the file it reads is `Sendable`.
package struct LogReader {
    /// Size of the reads that fill the reader's window.
    package static let readChunkSize = 256 * 1024

    package let path: String
    package let logNumber: UInt64
    package let salvage: Bool
    private let file: any ReadableFile
    private let storedLogNumber: UInt32
    private let fileSize: Int
    /// Offset just past the last valid record returned.
    package private(set) var offset = 0
    /// Set when reading stopped at damage.
    package private(set) var stop: WALStop?
    private var window: [UInt8] = []
    private var windowStart = 0

    /// Reads `file` (the segment at `path`) from its start.
    package init(file: any ReadableFile, path: String, logNumber: UInt64, salvage: Bool = false) {
        self.file = file
        self.path = path
        self.logNumber = logNumber
        self.salvage = salvage
        storedLogNumber = WALFormat.storedLogNumber(logNumber)
        fileSize = file.size
    }

    /// The next payload, or nil at the end of the segment or at a torn tail (see `stop`).
    package mutating func next() throws(StorageError) -> [UInt8]? {
        guard stop == nil else { return nil }
        switch try parse(at: offset) {
        case .end:
            return nil
        case .record(let length):
            let start = offset + WALFormat.headerSize
            let payload = Array(window[(start - windowStart)..<(start - windowStart + length)])
            offset = start + length
            return payload
        case .bad(let reason):
            let later = try findValidRecord(after: offset)
            if let later {
                let s = WALStop(
                    damage: .corruption, offset: offset,
                    reason: "\(reason); a valid record follows at offset \(later)")
                stop = s
                if !salvage {
                    throw .corruption("WAL record: \(s.reason)", path: path, offset: offset)
                }
            } else {
                stop = WALStop(damage: .tornTail, offset: offset, reason: reason)
            }
            return nil
        }
    }

    private enum Parsed {
        case end
        case record(length: Int)
        case bad(String)
    }

    /// Decodes the record at `o`; on `.record` the whole record is in the window.
    private mutating func parse(at o: Int) throws(StorageError) -> Parsed {
        let h = WALFormat.headerSize
        if o == fileSize { return .end }
        guard fileSize - o >= h else { return .bad("incomplete record header (\(fileSize - o) bytes)") }
        try ensure(o, h)
        let w = o - windowStart
        let masked = decodeFixed32(window, at: w)
        let length = Int(decodeFixed32(window, at: w + 4))
        let stored = decodeFixed32(window, at: w + 8)
        guard length <= WALFormat.maxPayloadSize else { return .bad("record length \(length) exceeds the limit") }
        guard length <= fileSize - o - h else { return .bad("incomplete record (length \(length))") }
        try ensure(o, h + length)
        let w2 = o - windowStart
        let crc = window.withUnsafeBytes { raw in
            WALFormat.checksum(
                fields: UnsafeRawBufferPointer(rebasing: raw[(w2 + 4)..<(w2 + h)]),
                payload: UnsafeRawBufferPointer(rebasing: raw[(w2 + h)..<(w2 + h + length)]))
        }
        guard crc == CRC32C.unmask(masked) else { return .bad("checksum mismatch") }
        guard stored == storedLogNumber else {
            return .bad("record of log number \(stored), not \(storedLogNumber) (stale bytes)")
        }
        return .record(length: length)
    }

    /// The offset of the first valid record of this segment starting after `o`, if any.
    private mutating func findValidRecord(after o: Int) throws(StorageError) -> Int? {
        let h = WALFormat.headerSize
        var p = o + 1
        while fileSize - p >= h {
            try ensure(p, h)
            let w = p - windowStart
            // Cheap filters before the checksum: this segment's log number and a length that fits.
            if decodeFixed32(window, at: w + 8) == storedLogNumber,
                Int(decodeFixed32(window, at: w + 4)) <= fileSize - p - h,
                case .record = try parse(at: p)
            {
                return p
            }
            p += 1
        }
        return nil
    }

    /// Makes bytes `o ..< o + count` (within the file) present in the window.
    private mutating func ensure(_ o: Int, _ count: Int) throws(StorageError) {
        precondition(o >= 0, "WAL read offset is not negative")
        precondition(count <= fileSize - o, "WAL read ends within the file")
        if o >= windowStart && o + count <= windowStart + window.count { return }
        let n = min(max(count, Self.readChunkSize), fileSize - o)
        window = try file.read(at: o, count: n)
        windowStart = o
    }

    /// Replays the segment at `path`, passing each payload to `apply` in order.
    ///
    /// - A clean segment replays fully.
    /// - A torn tail in the last segment (`isLastSegment`) is durably truncated away with
    ///   `fs.truncate`; in any other segment it means lost acknowledged data, so it throws
    ///   `.corruption` unless `salvage`.
    /// - Corruption (a bad record followed by a valid one) throws `.corruption` naming the file
    ///   and the bad record's offset, after the records before it were applied; with `salvage`
    ///   it stops there instead, truncating the file if it is the last segment.
    ///
    /// When salvage stops in a segment that is not the last, the file is left as it is: the
    /// engine must flush what was replayed and retire the segment.
    package static func recover(
        fs: any FileSystem, path: String, logNumber: UInt64, isLastSegment: Bool, salvage: Bool,
        apply: ([UInt8]) throws(StorageError) -> Void
    ) throws(StorageError) -> WALRecoveryResult {
        let file = try fs.openFile(path)
        defer { file.close() }
        var reader = LogReader(file: file, path: path, logNumber: logNumber, salvage: true)
        var records = 0
        while let payload = try reader.next() {
            try apply(payload)
            records += 1
        }
        var result = WALRecoveryResult(
            records: records, validLength: reader.offset, fileSize: file.size,
            stop: reader.stop, truncated: false)
        guard let stop = reader.stop else { return result }
        precondition(stop.offset == reader.offset, "WAL damage starts where the valid records end")
        switch stop.damage {
        case .tornTail where isLastSegment:
            break
        case .tornTail:
            guard salvage else {
                throw .corruption(
                    "torn tail in a WAL segment that is not the last: \(stop.reason)",
                    path: path, offset: stop.offset)
            }
            return result
        case .corruption:
            guard salvage else {
                throw .corruption("WAL record: \(stop.reason)", path: path, offset: stop.offset)
            }
            guard isLastSegment else { return result }
        }
        try fs.truncate(path, to: stop.offset)
        result.truncated = true
        return result
    }
}
