// Tests of the WAL segment format: thousands of seeded random records (empty, small, and larger
// than the writer's direct-append threshold) written one by one and in groups, then read back
// exactly; a segment cut at every offset of its last record recovers exactly the complete
// records and is truncated there (and is corruption in a segment that is not the last); a
// flipped byte in a middle record is corruption naming the file and that record's offset, and
// salvage mode stops there instead; bytes of another log number are never replayed; oversized
// payloads are refused; a group of records costs one append. Seeds appear in failure messages.
import ApusCore
import Foundation
import Testing

@testable import ApusStorage

/// Helpers shared by the WAL tests.
enum WALTestSupport {
    static let dir = "/db"
    static func path(_ n: UInt64) -> String { joinPath(dir, FileName.wal(n).name) }

    static func randomPayload(_ r: inout FaultRandom, maxSize: Int = 300) -> [UInt8] {
        let n = Int(r.next() % UInt64(maxSize + 1))
        return (0..<n).map { _ in UInt8(truncatingIfNeeded: r.next()) }
    }

    /// Replays a segment and returns the payloads and the result.
    static func recover(_ fs: any FileSystem, _ n: UInt64, last: Bool = true, salvage: Bool = false)
        throws -> ([[UInt8]], WALRecoveryResult)
    {
        var out: [[UInt8]] = []
        let result = try LogReader.recover(
            fs: fs, path: path(n), logNumber: n, isLastSegment: last,
            salvage: salvage
        ) { payload throws(StorageError) in out.append(payload) }
        return (out, result)
    }

    /// A file system holding one synced segment with `payloads`; returns it and the record offsets.
    static func segment(_ payloads: [[UInt8]], logNumber n: UInt64 = 7) throws -> (MemoryFileSystem, [Int]) {
        let fs = MemoryFileSystem()
        try fs.createDirectory(dir)
        let w = LogWriter(file: try fs.createFile(path(n)), logNumber: n, path: path(n))
        var offsets: [Int] = []
        for p in payloads {
            offsets.append(w.size)
            try w.addRecord(p)
        }
        try w.sync()
        try w.close()
        try fs.syncDirectory(dir)
        return (fs, offsets)
    }

    /// A file system whose segment holds exactly `bytes`, synced.
    static func segment(bytes: [UInt8], logNumber n: UInt64 = 7) throws -> MemoryFileSystem {
        let fs = MemoryFileSystem()
        try fs.createDirectory(dir)
        let f = try fs.createFile(path(n))
        try f.append(bytes)
        try f.sync()
        try fs.syncDirectory(dir)
        return fs
    }
}

@Suite struct WALTests {
    typealias S = WALTestSupport

    @Test(arguments: [UInt64(1), 2, 3])
    func roundTripRandomRecords(seed: UInt64) throws {
        var r = FaultRandom(seed: seed)
        let fs = MemoryFileSystem()
        try fs.createDirectory(S.dir)
        let w = LogWriter(file: try fs.createFile(S.path(9)), logNumber: 9)
        var written: [[UInt8]] = []
        var i = 0
        while i < 3000 {
            if r.next() % 4 == 0 {
                let group = (0..<Int(1 + r.next() % 8)).map { _ in S.randomPayload(&r) }
                try w.addRecords(group)
                written += group
                i += group.count
            } else {
                // Now and then a payload large enough to take the direct-append path.
                let big = r.next() % 200 == 0
                let p = S.randomPayload(&r, maxSize: big ? 100_000 : 300)
                try w.addRecord(p)
                written.append(p)
                i += 1
            }
            if r.next() % 16 == 0 { try w.sync() }
        }
        try w.sync()
        try fs.syncDirectory(S.dir)
        #expect(w.size == (try fs.fileSize(S.path(9))))
        let (read, result) = try S.recover(fs, 9)
        #expect(read.count == written.count, "seed \(seed)")
        #expect(firstDifference(read, written) == nil, "seed \(seed)")
        #expect(result.stop == nil && !result.truncated && result.validLength == w.size, "seed \(seed)")
    }

    @Test func groupIsOneAppend() throws {
        let fs = MemoryFileSystem()
        try fs.createDirectory(S.dir)
        let w = LogWriter(file: try fs.createFile(S.path(1)), logNumber: 1)
        fs.resetCounters()
        try w.addRecords([[1], [2, 2], [], [3, 3, 3]])
        try w.sync()
        #expect(fs.callCount(.append) == 1)
        #expect(fs.callCount(.sync) == 1)
        #expect(w.size == 4 * WALFormat.headerSize + 6)
    }

    @Test func oversizedPayloadIsRefusedAndWriterContinues() throws {
        let fs = MemoryFileSystem()
        try fs.createDirectory(S.dir)
        let w = LogWriter(file: try fs.createFile(S.path(1)), logNumber: 1)
        // The size check precedes any read of the bytes, so the pages are left untouched (and
        // never materialized): the test stays fast in debug builds.
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: WALFormat.maxPayloadSize + 1, alignment: 16)
        defer { raw.deallocate() }
        #expect(throws: StorageError.self) { try w.addRecord(UnsafeRawBufferPointer(raw)) }
        let huge = [UInt8](unsafeUninitializedCapacity: WALFormat.maxPayloadSize + 1) { _, n in
            n = WALFormat.maxPayloadSize + 1
        }
        #expect(throws: StorageError.self) { try w.addRecords([[1], huge]) }
        #expect(w.size == 0)
        try w.addRecord([5])
        try w.sync()
        #expect(try S.recover(fs, 1).0 == [[5]])
    }

    @Test func tornTailAtEveryOffsetOfLastRecord() throws {
        var r = FaultRandom(seed: 11)
        let payloads = (0..<5).map { _ in S.randomPayload(&r, maxSize: 40) } + [Array(repeating: 0xAB, count: 30)]
        let (full, offsets) = try S.segment(payloads)
        let bytes = try full.contents(S.path(7))
        let lastStart = offsets[offsets.count - 1]
        for cut in lastStart..<bytes.count {
            let fs = try S.segment(bytes: Array(bytes[..<cut]))
            let (read, result) = try S.recover(fs, 7)
            #expect(read == Array(payloads.dropLast()), "cut at \(cut)")
            #expect(result.validLength == lastStart, "cut at \(cut)")
            #expect(result.truncated == (cut > lastStart), "cut at \(cut)")
            #expect(try fs.fileSize(S.path(7)) == lastStart, "cut at \(cut)")
            // Truncation is durable.
            fs.crash(mode: .dropUnsynced)
            #expect(try fs.fileSize(S.path(7)) == lastStart, "cut at \(cut)")

            // The same damage in a segment that is not the last is corruption.
            if cut > lastStart {
                let other = try S.segment(bytes: Array(bytes[..<cut]))
                if let e = expectStorageError(
                    "torn non-last segment accepted, cut at \(cut)", { _ = try S.recover(other, 7, last: false) })
                {
                    #expect(e.code == .corruption, "cut at \(cut)")
                    #expect(e.path == S.path(7), "cut at \(cut)")
                    #expect(e.offset == lastStart, "cut at \(cut)")
                }
            }
        }
    }

    @Test func flippedMiddleRecordIsCorruptionAtItsOffset() throws {
        var r = FaultRandom(seed: 12)
        let payloads = (0..<20).map { _ in S.randomPayload(&r, maxSize: 50) + [1] }
        for victim in [0, 7, 18] {
            // Every byte position of the victim record: header fields and payload.
            let (probe, offsets) = try S.segment(payloads)
            let end = victim + 1 < offsets.count ? offsets[victim + 1] : try probe.fileSize(S.path(7))
            for at in offsets[victim]..<end {
                let (fs, _) = try S.segment(payloads)
                try fs.flipByte(path: S.path(7), offset: at)
                var applied: [[UInt8]] = []
                if let e = expectStorageError(
                    "corruption not detected, victim \(victim) byte \(at)",
                    {
                        _ = try LogReader.recover(
                            fs: fs, path: S.path(7), logNumber: 7, isLastSegment: true,
                            salvage: false
                        ) { p throws(StorageError) in applied.append(p) }
                    })
                {
                    #expect(e.code == .corruption, "victim \(victim) byte \(at)")
                    #expect(e.path == S.path(7) && e.offset == offsets[victim], "victim \(victim) byte \(at): \(e)")
                }
                #expect(applied == Array(payloads[..<victim]), "victim \(victim) byte \(at)")
                #expect(
                    try fs.fileSize(S.path(7)) == (try probe.fileSize(S.path(7))),
                    "corrupt segment must not be truncated")

                // Salvage stops at the same place and reports it.
                let (read, result) = try S.recover(fs, 7, last: false, salvage: true)
                #expect(read == Array(payloads[..<victim]))
                #expect(result.stop?.damage == .corruption && result.stop?.offset == offsets[victim])
                #expect(!result.truncated)
            }
        }
    }

    @Test func salvageTruncatesLastSegmentAtCorruption() throws {
        let payloads: [[UInt8]] = (0..<6).map { Array(repeating: UInt8($0), count: 10) }
        let (fs, offsets) = try S.segment(payloads)
        try fs.flipByte(path: S.path(7), offset: offsets[2] + 14)
        let (read, result) = try S.recover(fs, 7, last: true, salvage: true)
        #expect(read == Array(payloads[..<2]))
        #expect(result.truncated && result.validLength == offsets[2])
        #expect(try fs.fileSize(S.path(7)) == offsets[2])
    }

    @Test func staleRecordsOfAnotherLogAreNotReplayed() throws {
        let fs = MemoryFileSystem()
        try fs.createDirectory(S.dir)
        let file = try fs.createFile(S.path(7))
        let current = LogWriter(file: file, logNumber: 7)
        try current.addRecords([[1], [2], [3]])
        let end = current.size
        // Bytes a recycled file might still hold: valid records of an older log.
        let stale = LogWriter(file: file, logNumber: 3)
        for i in 0..<5 { try stale.addRecord([UInt8](repeating: UInt8(i), count: 20)) }
        try file.sync()
        let (read, result) = try S.recover(fs, 7)
        #expect(read == [[1], [2], [3]])
        #expect(result.stop?.damage == .tornTail && result.stop?.offset == end)
        #expect(result.truncated)
        #expect(try fs.fileSize(S.path(7)) == end)
    }

    @Test func emptyAndZeroFilledSegments() throws {
        let empty = try S.segment(bytes: [])
        let (read, result) = try S.recover(empty, 7)
        #expect(read.isEmpty && result.stop == nil && !result.truncated)

        // A preallocated, zero-filled tail after valid records is a torn tail, not corruption.
        let (fs, _) = try S.segment([[1, 2, 3]])
        let bytes = try fs.contents(S.path(7)) + [UInt8](repeating: 0, count: 100)
        let zeroed = try S.segment(bytes: bytes)
        let (read2, result2) = try S.recover(zeroed, 7)
        #expect(read2 == [[1, 2, 3]])
        #expect(result2.stop?.damage == .tornTail && result2.truncated)
    }

    @Test func readerStreamsWithoutRecover() throws {
        let payloads: [[UInt8]] = (0..<100).map { [UInt8](repeating: UInt8($0), count: $0 * 50) }
        let (fs, _) = try S.segment(payloads)
        let file = try fs.openFile(S.path(7))
        var reader = LogReader(file: file, path: S.path(7), logNumber: 7)
        var read: [[UInt8]] = []
        while let p = try reader.next() { read.append(p) }
        #expect(read == payloads)
        #expect(reader.stop == nil && reader.offset == file.size)
    }

    @Test func realFileSystemRoundTripAndTornTail() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apus-wal-\(UUID().uuidString)").path
        let fs = RealFileSystem()
        try fs.createDirectory(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = joinPath(dir, FileName.wal(3).name)
        let w = LogWriter(file: try fs.createFile(path), logNumber: 3, path: path)
        let payloads = (0..<500).map { i in [UInt8](repeating: UInt8(i % 256), count: i * 37 % 1000) }
        for start in stride(from: 0, to: payloads.count, by: 50) {
            try w.addRecords(Array(payloads[start..<start + 50]))
            try w.sync()
        }
        let end = w.size
        try w.addRecord([UInt8](repeating: 9, count: 100))
        // Added records reach the kernel before any sync (they survive a process crash).
        #expect(try fs.fileSize(path) == w.size)
        try w.sync()
        try w.close()
        try fs.truncate(path, to: end + 50)  // as if the last append was torn
        var out: [[UInt8]] = []
        let result = try LogReader.recover(
            fs: fs, path: path, logNumber: 3, isLastSegment: true,
            salvage: false
        ) { p throws(StorageError) in out.append(p) }
        #expect(out.count == payloads.count)
        #expect(firstDifference(out, payloads) == nil)
        #expect(result.truncated && result.stop?.damage == .tornTail)
        #expect(try fs.fileSize(path) == end)
    }
}
