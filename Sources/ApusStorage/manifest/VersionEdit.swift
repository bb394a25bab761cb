import ApusCore

/// One table file of the LSM tree: its number, size and key range.
///
/// Concurrency: immutable after init except `isObsolete`, an atomic flag. Instances are shared
/// by every `Version` that lists the file; when the last version drops it and the file was
/// marked obsolete by a compaction, `deinit` deletes the file. This makes "no live reader or
/// iterator still uses a deleted file" hold by reference counting instead of by bookkeeping.
final class TableFile: @unchecked Sendable {
    let number: UInt64
    let fileBytes: Int
    /// Smallest and largest internal keys (points and range-tombstone bounds).
    let smallest: [UInt8]
    let largest: [UInt8]
    let smallestSequence: SequenceNumber
    let largestSequence: SequenceNumber
    let rangeTombstoneCount: Int
    /// Point entries (puts and deletions) and point deletions among them, when known: files
    /// written before format 3 were logged without them (0, 0), and never count as
    /// deletion-dense (`CompactionPicker.isDeletionDense`).
    let entryCount: Int
    let pointDeletionCount: Int
    /// Called once from deinit when the file is obsolete (deletes it and evicts it from caches).
    private let obsolete = ObsoleteMark()

    init(number: UInt64, fileBytes: Int, smallest: [UInt8], largest: [UInt8], smallestSequence: SequenceNumber,
         largestSequence: SequenceNumber, rangeTombstoneCount: Int, entryCount: Int = 0, pointDeletionCount: Int = 0) {
        precondition(smallest.count >= InternalKey.trailerLength && largest.count >= InternalKey.trailerLength,
                     "table bounds are internal keys")
        self.number = number
        self.fileBytes = fileBytes
        self.smallest = smallest
        self.largest = largest
        self.smallestSequence = smallestSequence
        self.largestSequence = largestSequence
        self.rangeTombstoneCount = rangeTombstoneCount
        self.entryCount = entryCount
        self.pointDeletionCount = pointDeletionCount
    }

    /// The same file with its entry counts (a file decoded from tag 6 before its tag 8).
    func withCounts(entries: Int, pointDeletions: Int) -> TableFile {
        TableFile(number: number, fileBytes: fileBytes, smallest: smallest, largest: largest,
                  smallestSequence: smallestSequence, largestSequence: largestSequence,
                  rangeTombstoneCount: rangeTombstoneCount, entryCount: entries, pointDeletionCount: pointDeletions)
    }

    var smallestUserKey: ArraySlice<UInt8> { InternalKey.userKey(smallest) }
    var largestUserKey: ArraySlice<UInt8> { InternalKey.userKey(largest) }

    /// Marks the file for deletion once no version references it.
    func markObsolete(_ deleter: @escaping @Sendable (UInt64) -> Void) {
        obsolete.set(deleter)
    }

    deinit {
        obsolete.take()?(number)
    }
}

/// The one-shot deleter of an obsolete table file, set by a compaction and run by `deinit`.
private final class ObsoleteMark: @unchecked Sendable {
    // Guarded by `lock`; set once by the background thread, taken once in deinit.
    private let lock = Monitor()
    private var deleter: (@Sendable (UInt64) -> Void)?
    func set(_ d: @escaping @Sendable (UInt64) -> Void) { lock.withLock { deleter = d } }
    func take() -> (@Sendable (UInt64) -> Void)? { lock.withLock { let d = deleter; deleter = nil; return d } }
}

/// A change to the set of live files, logged in the manifest.
///
/// ```
/// edit := field*
/// field := tag (varint) payload
///   1 comparator      name (length-prefixed)
///   2 log number      varint: WAL segments below it are no longer needed
///   3 next file       varint
///   4 last sequence   varint
///   5 deleted file    level (varint) number (varint)
///   6 new file        level, number, size, smallest (lp), largest (lp), smallest seq, largest seq,
///                     range tombstone count (all varints but the keys)
///   7 retained seq    varint: versions visible at this sequence or later are kept
///                     (`StorageEngine.retainVersions`); the last one logged holds
///   8 file counts     number, point entries, point deletions (varints): for the file the last
///                     tag 6 added (format 3)
/// ```
/// Tags are frozen; an unknown tag is corruption (a newer writer would have bumped IDENTITY's
/// format version, which is checked first).
struct VersionEdit {
    var comparatorName: String?
    var logNumber: UInt64?
    var nextFileNumber: UInt64?
    var lastSequence: SequenceNumber?
    var retainedSequence: SequenceNumber?
    var deletedFiles: [(level: Int, number: UInt64)] = []
    var newFiles: [(level: Int, file: TableFile)] = []

    func encode() -> [UInt8] {
        var out: [UInt8] = []
        if let comparatorName {
            out.appendVarint(1)
            out.appendLengthPrefixed(Array(comparatorName.utf8))
        }
        if let logNumber { out.appendVarint(2); out.appendVarint(logNumber) }
        if let nextFileNumber { out.appendVarint(3); out.appendVarint(nextFileNumber) }
        if let lastSequence { out.appendVarint(4); out.appendVarint(lastSequence) }
        if let retainedSequence { out.appendVarint(7); out.appendVarint(retainedSequence) }
        for d in deletedFiles {
            out.appendVarint(5); out.appendVarint(UInt64(d.level)); out.appendVarint(d.number)
        }
        for n in newFiles {
            out.appendVarint(6)
            out.appendVarint(UInt64(n.level))
            out.appendVarint(n.file.number)
            out.appendVarint(UInt64(n.file.fileBytes))
            out.appendLengthPrefixed(n.file.smallest)
            out.appendLengthPrefixed(n.file.largest)
            out.appendVarint(n.file.smallestSequence)
            out.appendVarint(n.file.largestSequence)
            out.appendVarint(UInt64(n.file.rangeTombstoneCount))
            if n.file.entryCount > 0 {
                out.appendVarint(8)
                out.appendVarint(n.file.number)
                out.appendVarint(UInt64(n.file.entryCount))
                out.appendVarint(UInt64(n.file.pointDeletionCount))
            }
        }
        return out
    }

    static func decode(_ bytes: [UInt8], path: String) throws(StorageError) -> VersionEdit {
        var e = VersionEdit()
        var r = ByteReader(bytes)
        do throws(CodingError) {
            while !r.isAtEnd {
                let tagOffset = r.offset
                switch try r.readVarint() {
                case 1:
                    guard let s = String(validating: try r.readLengthPrefixed(), as: UTF8.self) else {
                        throw CodingError("comparator name", at: tagOffset)
                    }
                    e.comparatorName = s
                case 2: e.logNumber = try r.readVarint()
                case 3: e.nextFileNumber = try r.readVarint()
                case 4: e.lastSequence = try r.readVarint()
                case 7: e.retainedSequence = try r.readVarint()
                case 5:
                    let level = try r.readLength(limit: StorageOptions.levelCount - 1)
                    e.deletedFiles.append((level, try r.readVarint()))
                case 6:
                    let level = try r.readLength(limit: StorageOptions.levelCount - 1)
                    let number = try r.readVarint()
                    let size = try r.readLength(limit: Int.max)
                    let smallest = Array(try r.readLengthPrefixed())
                    let largest = Array(try r.readLengthPrefixed())
                    let s1 = try r.readVarint()
                    let s2 = try r.readVarint()
                    let t = try r.readLength(limit: Int.max)
                    guard smallest.count >= InternalKey.trailerLength, largest.count >= InternalKey.trailerLength else {
                        throw CodingError("table bounds", at: tagOffset)
                    }
                    e.newFiles.append((level, TableFile(number: number, fileBytes: size, smallest: smallest, largest: largest,
                                                        smallestSequence: s1, largestSequence: s2, rangeTombstoneCount: t)))
                case 8:
                    let number = try r.readVarint()
                    let entries = try r.readLength(limit: Int.max)
                    let deletions = try r.readLength(limit: entries)
                    guard let last = e.newFiles.indices.last, e.newFiles[last].file.number == number else {
                        throw CodingError("counts of a file the edit did not just add", at: tagOffset)
                    }
                    e.newFiles[last].file = e.newFiles[last].file.withCounts(entries: entries, pointDeletions: deletions)
                default:
                    throw CodingError("version edit tag", at: tagOffset)
                }
            }
        } catch {
            throw StorageError.corruption("malformed version edit: \(error)", path: path, offset: nil)
        }
        return e
    }
}
