import ApusCore
import Foundation
import Testing
@testable import ApusStorage

/// Deletion-dense tables (a quarter or more of their entries point deletions) are compacted
/// sooner: the picker's rules as a pure function, their counts in the manifest, and the engine
/// reclaiming what a bulk deletion left once it is idle.
@Suite struct DeletionCompactionTests {
    static func file(_ number: UInt64, _ lo: String, _ hi: String, entries: Int = 0, deletions: Int = 0,
                     sequence: SequenceNumber = 10) -> TableFile {
        TableFile(number: number, fileBytes: 1000, smallest: InternalKey.make(Array(lo.utf8), sequence, .put),
                  largest: InternalKey.make(Array(hi.utf8), 1, .put), smallestSequence: 1, largestSequence: sequence,
                  rangeTombstoneCount: 0, entryCount: entries, pointDeletionCount: deletions)
    }

    static func version(_ files: [Int: [TableFile]]) -> Version {
        var levels = [[TableFile]](repeating: [], count: StorageOptions.levelCount)
        for (level, f) in files { levels[level] = f }
        return Version(levels: levels, comparator: .bytewise)
    }

    static func pick(_ v: Version, snapshot: SequenceNumber = .max, idle: Bool = false) -> CompactionPlan? {
        var cursors = [[UInt8]?](repeating: nil, count: StorageOptions.levelCount)
        return CompactionPicker(options: StorageOptions()).pick(v, cursors: &cursors, smallestSnapshot: snapshot, idle: idle)
    }

    @Test func denseFileBelowLevelZeroMovesDownWithWhatItOverlaps() {
        let dense = Self.file(1, "b", "d", entries: 4000, deletions: 1000)
        let below = Self.file(2, "a", "c", entries: 4000)
        let deeper = Self.file(3, "a", "z", entries: 4000)
        let plan = Self.pick(Self.version([1: [dense, Self.file(4, "x", "y", entries: 10)], 2: [below], 3: [deeper]]))
        #expect(plan?.level == 1)
        #expect(plan?.inputs.map(\.number) == [1])
        #expect(plan?.nextInputs.map(\.number) == [2])
        #expect(plan?.isForDeletions == true)
        #expect(plan?.isBottommost == false)
        // Alone and with nothing below: the move is cheap when not bottommost; at the bottom the
        // file must be rewritten, or its deletions would stay.
        let moved = Self.pick(Self.version([1: [dense], 3: [deeper]]))
        #expect(moved?.isTrivialMove == true)
        let bottom = Self.pick(Self.version([1: [dense]]))
        #expect(bottom?.isBottommost == true)
        #expect(bottom?.isTrivialMove == false)
    }

    @Test func denseNeedsAQuarterTheMinimumAndDeletionsEveryReaderSees() {
        let below = Self.file(2, "a", "z", entries: 4000)
        #expect(Self.pick(Self.version([1: [Self.file(1, "b", "d", entries: 4001, deletions: 1000)], 2: [below]])) == nil)
        #expect(Self.pick(Self.version([1: [Self.file(1, "b", "d", entries: 1200, deletions: 999)], 2: [below]])) == nil)
        // A file logged before its counts were (format 2) is never dense.
        #expect(Self.pick(Self.version([1: [Self.file(1, "b", "d")], 2: [below]])) == nil)
        let dense = Self.file(1, "b", "d", entries: 4000, deletions: 1000, sequence: 10)
        #expect(Self.pick(Self.version([1: [dense], 2: [below]]), snapshot: 9) == nil)
        #expect(Self.pick(Self.version([1: [dense], 2: [below]]), snapshot: 10) != nil)
        // The last level never compacts.
        #expect(Self.pick(Self.version([StorageOptions.levelCount - 1: [dense]])) == nil)
    }

    @Test func denseLevelZeroFilesCountTwiceAndCompactWhenIdle() {
        let dense = { (n: UInt64) in Self.file(n, "b", "d", entries: 4000, deletions: 2000) }
        let plain = { (n: UInt64) in Self.file(n, "b", "d", entries: 4000) }
        // Trigger 4: one dense file waits for writes to stop; two dense files (or one with two
        // others) reach the trigger; three plain files do not.
        #expect(Self.pick(Self.version([0: [dense(1)]])) == nil)
        #expect(Self.pick(Self.version([0: [dense(1)]]), idle: true)?.level == 0)
        #expect(Self.pick(Self.version([0: [dense(1)]]), idle: true)?.isForDeletions == true)
        #expect(Self.pick(Self.version([0: [dense(1), dense(2)]]))?.inputs.count == 2)
        #expect(Self.pick(Self.version([0: [dense(1), plain(2), plain(3)]]))?.inputs.count == 3)
        #expect(Self.pick(Self.version([0: [plain(1), plain(2), plain(3)]]), idle: true) == nil)
        // Not when readers may still need the deletions.
        #expect(Self.pick(Self.version([0: [dense(1), dense(2)]]), snapshot: 5) == nil)
    }

    @Test func manifestKeepsTheCounts() throws {
        var edit = VersionEdit()
        edit.newFiles = [(0, Self.file(7, "a", "b", entries: 300, deletions: 120)), (2, Self.file(8, "c", "d"))]
        let decoded = try VersionEdit.decode(edit.encode(), path: "m")
        #expect(decoded.newFiles.map(\.file.entryCount) == [300, 0])
        #expect(decoded.newFiles.map(\.file.pointDeletionCount) == [120, 0])
        #expect(decoded.newFiles.map(\.level) == [0, 2])
        // Counts for a file the edit does not add are corruption.
        var bad: [UInt8] = []
        bad.appendVarint(8)
        bad.appendVarint(9)
        bad.appendVarint(1)
        bad.appendVarint(1)
        #expect(throws: StorageError.self) { _ = try VersionEdit.decode(bad, path: "m") }
    }

    /// Writes 3000 keys and compacts them to the bottom, then deletes nine in ten of them and
    /// flushes the deletions as one level-0 table; returns the bytes the full tables held.
    static func loadThenDeleteMost(_ e: StorageEngine) throws -> Int {
        for i in 0..<3000 { try e.put(k(i), v(i), sync: false) }
        try e.compactAll()
        let full = e.metrics().levelBytes.reduce(0, +)
        var batch = WriteBatch()
        for i in 0..<3000 where i % 10 != 0 { batch.delete(k(i)) }
        try e.write(batch)
        try e.flush()
        return full
    }

    /// Keys everywhere, then most of them deleted: the flushed deletions sit in level 0, below
    /// its trigger, over the data they shadow at the bottom. Once the engine is idle they move
    /// down and, at the bottom, take that data with them; after a reopen too.
    @Test func idleEngineReclaimsABulkDeletion() throws {
        let fs = MemoryFileSystem()
        var o = smallOptions()
        o.deletionCompactionMinimum = 100
        o.memtableBytesMax = 1 << 20  // the deletions flush as one level-0 file
        let e = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
        let full = try Self.loadThenDeleteMost(e)
        #expect(e.metrics().levelFiles[0] == 1)
        try e.waitUntilBackgroundIdle()
        let m = e.metrics()
        #expect(m.levelFiles[0] == 0)
        #expect(m.deletionCompactionCount >= 1)
        let left = m.levelBytes.reduce(0, +)
        #expect(left * 5 < full, "\(left) bytes left of \(full)")
        for i in stride(from: 0, to: 3000, by: 7) {
            #expect(try e.get(k(i)) == (i % 10 == 0 ? v(i) : nil))
        }
        try e.close()
        let r = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
        try r.waitUntilBackgroundIdle()
        #expect(r.metrics().levelBytes.reduce(0, +) == left)
        #expect(try r.get(k(10)) == v(10))
        #expect(try r.get(k(11)) == nil)
        try r.close()
    }

    /// A dense table that waits across reopens keeps its counts: every open writes a new
    /// manifest holding the whole version, and the counts must travel with its files (tag 8).
    /// Opened first with a minimum no table reaches, the engine leaves the table alone; the
    /// next open, reading only the manifest the first one wrote, finds it dense and reclaims it.
    @Test func countsSurviveTheManifestEveryOpenWrites() throws {
        let fs = MemoryFileSystem()
        var o = smallOptions()
        o.memtableBytesMax = 1 << 20
        o.deletionCompactionMinimum = Int.max
        let e = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
        let full = try Self.loadThenDeleteMost(e)
        try e.close()
        // An open that rewrites the manifest while no table counts as dense.
        let waiting = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
        try waiting.waitUntilBackgroundIdle()
        #expect(waiting.metrics().levelFiles[0] == 1)
        try waiting.close()
        o.deletionCompactionMinimum = 100
        let r = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
        try r.waitUntilBackgroundIdle()
        let m = r.metrics()
        #expect(m.levelFiles[0] == 0)
        #expect(m.deletionCompactionCount >= 1)
        #expect(m.levelBytes.reduce(0, +) * 5 < full)
        #expect(try r.get(k(10)) == v(10))
        #expect(try r.get(k(11)) == nil)
        try r.close()
    }

    /// A snapshot older than the deletions keeps them and what they shadow: nothing is dense.
    @Test func snapshotHoldsTheDeletionsBack() throws {
        let fs = MemoryFileSystem()
        var o = smallOptions()
        o.deletionCompactionMinimum = 100
        let e = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
        for i in 0..<2000 { try e.put(k(i), v(i), sync: false) }
        try e.compactAll()
        let snapshot = e.snapshot()
        var batch = WriteBatch()
        for i in 0..<2000 { batch.delete(k(i)) }
        try e.write(batch)
        try e.flush()
        try e.waitUntilBackgroundIdle()
        #expect(e.metrics().levelFiles[0] == 1)
        #expect(e.metrics().deletionCompactionCount == 0)
        #expect(try e.get(k(5), snapshot: snapshot) == v(5))
        #expect(try e.get(k(5)) == nil)
        try e.close()
    }

    /// Rows written and deleted within one memtable (a large transaction's intents and their
    /// resolution) leave only the deletions in the flushed table, unless a snapshot still reads
    /// the rows.
    @Test func flushDropsWhatItsOwnDeletionsShadow() throws {
        for holdSnapshot in [false, true] {
            let fs = MemoryFileSystem()
            var o = smallOptions()
            o.memtableBytesMax = 4 << 20
            let e = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
            for i in 0..<1000 { try e.put(k(i), v(i, 1000), sync: false) }
            let snapshot = holdSnapshot ? e.snapshot() : nil
            for i in 0..<1000 { try e.delete(k(i), sync: false) }
            try e.flush()
            let flushed = e.metrics().flushBytesWritten
            if holdSnapshot {
                #expect(flushed > 1000 * 1000, "\(flushed) bytes flushed")
                #expect(try e.get(k(7), snapshot: snapshot) == v(7, 1000))
            } else {
                #expect(flushed < 100 * 1000, "\(flushed) bytes flushed")
            }
            #expect(try e.get(k(7)) == nil)
            withExtendedLifetime(snapshot) {}
            try e.close()
        }
    }
}
