// Batches larger than the memtable: written atomically as one WAL record into memtables of
// their own, readable at once, durable across a reopen and a crash, and all-or-nothing when a
// crash tears the record. Also the retained-versions bound that survives a restart.
// A failure means a large commit was refused, partly applied, or lost.
import ApusCore
import Foundation
import Testing
@testable import ApusStorage

@Suite struct OversizedBatchTests {
    /// `n` records with 150-byte values, keys `big000000`...: about 170 bytes each.
    static func bigBatch(_ n: Int, tag: UInt8 = 1) -> WriteBatch {
        var b = WriteBatch()
        for i in 0..<n { b.put(Array(String(format: "big%06d", i).utf8), [UInt8](repeating: tag, count: 150)) }
        return b
    }

    /// Tiny records, whose memtable entries (tallest towers counted) are many times their
    /// encoded size: the batch needs several memtables.
    static func tinyBatch(_ n: Int) -> WriteBatch {
        var b = WriteBatch()
        for i in 0..<n { b.put(Array(String(format: "t%06d", i).utf8), [UInt8(i % 251)]) }
        return b
    }

    static func count(_ e: StorageEngine, prefix: String) throws -> Int {
        let it = try e.makeIterator(IteratorOptions(prefix: Array(prefix.utf8)))
        try it.seek(Array(prefix.utf8))
        var n = 0
        while it.isValid {
            n += 1
            try it.next()
        }
        return n
    }

    static func waitForFlushes(_ e: StorageEngine) {
        while e.metrics().immutableMemtables > 0 { usleep(2000) }
    }

    @Test func batchSeveralMemtablesLargeIsWrittenAndSurvivesReopen() throws {
        let fs = MemoryFileSystem()
        let o = smallOptions()
        let e = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
        for i in 0..<100 { try e.put(k(i), v(i)) }
        let big = OversizedBatchTests.bigBatch(3000)
        #expect(big.data.count > 6 * o.memtableBytesMax)
        try e.write(big)
        #expect(try e.get(Array("big000000".utf8)) == [UInt8](repeating: 1, count: 150))
        #expect(try OversizedBatchTests.count(e, prefix: "big") == 3000)
        // Ordinary writes go on (the big memtable is frozen by the next one), and so do more
        // large batches, one of which needs several memtables.
        for i in 100..<200 { try e.put(k(i), v(i)) }
        let tiny = OversizedBatchTests.tinyBatch(60_000)
        #expect(StorageEngine.arenaBytesBound(tiny) > StorageEngine.memtableCapacity(o))
        try e.write(tiny)
        #expect(try OversizedBatchTests.count(e, prefix: "t") == 60_000)
        #expect(try e.get(Array("t059999".utf8)) == [UInt8(59_999 % 251)])
        try e.close()

        let r = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
        #expect(try OversizedBatchTests.count(r, prefix: "big") == 3000)
        #expect(try OversizedBatchTests.count(r, prefix: "t") == 60_000)
        for i in stride(from: 0, to: 200, by: 7) { #expect(try r.get(k(i)) == v(i)) }
        try r.compactAll()
        #expect(try OversizedBatchTests.count(r, prefix: "t") == 60_000)
        try r.close()
    }

    /// A crash after the first memtables of a large batch were flushed but before the last:
    /// recovery replays the batch's record but skips what is in tables already (duplicates
    /// would break compaction), and nothing is lost.
    @Test func crashAfterPartOfALargeBatchWasFlushed() throws {
        let fs = MemoryFileSystem()
        let o = smallOptions()
        let e = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
        for i in 0..<50 { try e.put(k(i), v(i), sync: true) }
        try e.write(OversizedBatchTests.tinyBatch(60_000), sync: true)
        OversizedBatchTests.waitForFlushes(e)  // the batch's earlier memtables, not the active one
        #expect(e.metrics().memtableBytes > 0)
        e.closeForCrashTest()
        fs.crash(mode: .dropUnsynced)

        let r = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
        // No entry is in two tables: the tables' sequence ranges do not overlap.
        let files = r.monitor.withLock { r.current.allFiles }.sorted { $0.smallestSequence < $1.smallestSequence }
        #expect(files.count >= 2)
        for (a, b) in zip(files, files.dropFirst()) { #expect(a.largestSequence < b.smallestSequence) }
        #expect(try OversizedBatchTests.count(r, prefix: "t") == 60_000)
        try r.compactAll()
        #expect(try OversizedBatchTests.count(r, prefix: "t") == 60_000)
        for i in 0..<50 { #expect(try r.get(k(i)) == v(i)) }
        try r.close()
    }

    /// A crash that tears the tail of a large record (an unsynced append cut short) leaves none
    /// of the batch, and everything synced before it.
    @Test func tornTailOfALargeRecordLeavesNoneOfIt() throws {
        for cut in [1, 1000, 100_000, 400_000] {
            let fs = MemoryFileSystem()
            let o = smallOptions()
            let e = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
            for i in 0..<50 { try e.put(k(i), v(i), sync: true) }
            let big = OversizedBatchTests.bigBatch(3000)
            try e.write(big, sync: false)
            e.closeForCrashTest()
            let wal = try #require(try fs.listDirectory("/db").filter { $0.hasSuffix(".log") }.max())
            let size = try fs.fileSize("/db/" + wal)
            #expect(size > big.data.count)
            try fs.truncate("/db/" + wal, to: size - cut)
            fs.crash(mode: .dropUnsynced)

            let r = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
            #expect(try OversizedBatchTests.count(r, prefix: "big") == 0, "cut \(cut)")
            for i in 0..<50 { #expect(try r.get(k(i)) == v(i)) }
            try r.put(k(50), v(50))
            try r.close()
        }
    }

    /// Torn crashes at random points of an unsynced large batch: all of it or none of it.
    @Test func randomTornCrashesAreAllOrNothing() throws {
        var outcomes: Set<Int> = []
        for seed in UInt64(1)...12 {
            let fs = MemoryFileSystem()
            let o = smallOptions()
            let e = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
            for i in 0..<20 { try e.put(k(i), v(i), sync: true) }
            try e.write(OversizedBatchTests.bigBatch(2000), sync: false)
            e.closeForCrashTest()
            fs.simulateCrash(seed: seed)
            let r = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
            let n = try OversizedBatchTests.count(r, prefix: "big")
            #expect(n == 0 || n == 2000, "seed \(seed): \(n) of 2000")
            outcomes.insert(n)
            for i in 0..<20 { #expect(try r.get(k(i)) == v(i)) }
            try r.close()
        }
        #expect(outcomes.contains(0))
    }

    @Test func batchesAboveOneWALRecordAreRefused() throws {
        let fs = MemoryFileSystem()
        let e = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
        defer { try? e.close() }
        #expect(e.batchBytesMax == WALFormat.maxPayloadSize)
        var b = WriteBatch()
        let value = [UInt8](repeating: 7, count: 30 << 20)
        for i in 0..<18 { b.put(k(i), value) }
        #expect { try e.write(b) } throws: { ($0 as? StorageError)?.code == .invalidArgument }
        try e.put(k(1), v(1))
        #expect(try e.get(k(1)) == v(1))
    }

    /// `retainVersions` keeps an old state readable through compaction, and again after a
    /// restart, before anything else pins it.
    @Test func retainedVersionsSurviveARestart() throws {
        let fs = MemoryFileSystem()
        let o = smallOptions()
        let e = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
        for i in 0..<300 { try e.put(k(i), v(i, 200)) }
        let old = e.snapshot().sequence
        try e.retainVersions(fromSequence: old)
        #expect(e.retainedSequence == old)
        for i in 0..<300 { try e.put(k(i), v(i + 1, 200)) }
        try e.compactAll()
        #expect(try e.get(k(5), snapshot: e.snapshot(atSequence: old)) == v(5, 200))
        try e.close()

        let r = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
        #expect(r.retainedSequence == old)
        for i in 0..<300 { try r.put(k(i), v(i + 2, 200)) }
        try r.compactAll()
        #expect(try r.get(k(5), snapshot: r.snapshot(atSequence: old)) == v(5, 200))
        #expect(try r.get(k(5)) == v(7, 200))
        // Moving the bound lets compaction drop what only the old state saw.
        try r.retainVersions(fromSequence: r.snapshot().sequence)
        let reclaimedBefore = r.metrics().compactionBytesWritten
        for i in 0..<300 { try r.put(k(i), v(i + 3, 200)) }
        try r.compactAll()
        #expect(r.metrics().compactionBytesWritten > reclaimedBefore)
        #expect(try r.get(k(5), snapshot: r.snapshot(atSequence: old)) != v(5, 200))
        try r.close()
    }
}
