// Fault and bad-input behaviour of the engine, each a scenario on the in-memory file system:
// a foreign directory and a newer format are refused without changes; a full disk fails the
// write with a clear error, keeps acknowledged data readable and accepts writes once space is
// freed; a failed fsync stops writes (never retried and ignored); a flipped byte in a table or in
// a WAL record is detected and named (file and offset); salvage mode opens past WAL damage.
// A failure means the engine hid a fault, lost data, or crashed on bad input.
import ApusCore
import Foundation
import Testing
@testable import ApusStorage

func smallOptions(_ comparator: KeyComparator = .bytewise) -> StorageOptions {
    var o = StorageOptions()
    o.comparator = comparator
    o.memtableBytesMax = 64 << 10
    o.tableBytesTarget = 64 << 10
    o.level1BytesMax = 128 << 10
    o.blockBytes = 1024
    o.compactionBytesPerSecondMax = nil
    return o
}

func k(_ i: Int) -> [UInt8] { Array(String(format: "key%06d", i).utf8) }
func v(_ i: Int, _ n: Int = 100) -> [UInt8] { Array(String(format: "value%06d", i).utf8) + [UInt8](repeating: UInt8(i % 251), count: n) }

@Suite struct EngineFaultTests {
    @Test func foreignDirectoryIsRefusedAndUntouched() throws {
        let fs = MemoryFileSystem()
        try fs.createDirectory("/data")
        let f = try fs.createFile("/data/notes.txt")
        try f.append(Array("hello".utf8))
        try f.sync()
        try f.close()
        #expect {
            _ = try StorageEngine.open(directory: "/data", options: smallOptions(), fileSystem: fs)
        } throws: { ($0 as? StorageError)?.code == .notADataDirectory }
        #expect(try fs.listDirectory("/data") == ["notes.txt"])
    }

    @Test func newerFormatIsRefused() throws {
        let fs = MemoryFileSystem()
        try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs).close()
        let f = try fs.createFile("/db/IDENTITY")
        try f.append(Array("ApusDB data directory\nformat 99\n".utf8))
        try f.sync()
        try f.close()
        let before = try fs.listDirectory("/db")
        #expect {
            _ = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
        } throws: { ($0 as? StorageError)?.code == .unsupportedVersion }
        #expect(try fs.listDirectory("/db") == before)
    }

    /// A format-1 directory (written before the manifest could hold a retained sequence) opens
    /// with its data and is upgraded, so that format-1 builds refuse it from then on.
    @Test func olderFormatIsUpgraded() throws {
        let fs = MemoryFileSystem()
        let e = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
        try e.put(Array("k".utf8), Array("v".utf8))
        try e.close()
        try fs.removeFile("/db/IDENTITY")
        let f = try fs.createFile("/db/IDENTITY")
        try f.append(Array("ApusDB data directory\nformat 1\n".utf8))
        try f.sync()
        try f.close()
        let r = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
        #expect(try r.get(Array("k".utf8)) == Array("v".utf8))
        try r.close()
        let identity = try fs.openFile("/db/IDENTITY")
        #expect(String(decoding: try identity.read(at: 0, count: identity.size), as: UTF8.self) == "ApusDB data directory\nformat 3\n")
        identity.close()
        #expect(!(try fs.listDirectory("/db")).contains("IDENTITY.upgrade"))
    }

    @Test func comparatorMismatchIsRefused() throws {
        let fs = MemoryFileSystem()
        try StorageEngine.open(directory: "/db", options: smallOptions(.bytewise), fileSystem: fs).close()
        #expect {
            _ = try StorageEngine.open(directory: "/db", options: smallOptions(.mvcc), fileSystem: fs)
        } throws: { ($0 as? StorageError)?.code == .invalidArgument }
    }

    @Test func diskFullFailsWritesThenResumes() throws {
        let fs = MemoryFileSystem()
        let e = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
        for i in 0..<100 { try e.put(k(i), v(i)) }
        fs.capacityBytes = fs.usedBytes + (300 << 10)
        var acknowledged = 100
        var sawDiskFull = false
        for i in 100..<20_000 {
            do {
                try e.put(k(i), v(i))
                acknowledged = i + 1
            } catch {
                #expect(error.code == .diskFull, "unexpected \(error)")
                sawDiskFull = true
                break
            }
        }
        #expect(sawDiskFull)
        for i in stride(from: 0, to: acknowledged, by: 7) { #expect(try e.get(k(i)) == v(i)) }
        fs.capacityBytes = nil
        for i in acknowledged..<(acknowledged + 2000) { try e.put(k(i), v(i)) }
        try e.close()
        let r = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
        for i in stride(from: 0, to: acknowledged + 2000, by: 3) { #expect(try r.get(k(i)) == v(i), "key \(i)") }
        try r.close()
    }

    @Test func failedFsyncStopsWrites() throws {
        let fs = MemoryFileSystem()
        let e = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
        for i in 0..<10 { try e.put(k(i), v(i)) }
        fs.injectFault(FaultRule(.sync, path: .suffix(".log"), when: .fromNth(1), effect: .ioError))
        #expect(throws: StorageError.self) { try e.put(k(10), v(10), sync: true) }
        fs.clearFaults()
        // Never retried-and-ignored: later writes fail too, reads still work.
        #expect { try e.put(k(11), v(11), sync: true) } throws: { ($0 as? StorageError)?.code == .writesStopped }
        #expect(try e.get(k(3)) == v(3))
        e.closeForCrashTest()
        let r = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
        for i in 0..<10 { #expect(try r.get(k(i)) == v(i)) }
        try r.put(k(12), v(12))
        try r.close()
    }

    @Test func flippedTableByteIsNamed() throws {
        let fs = MemoryFileSystem()
        var o = smallOptions()
        o.blockCacheBytes = 0
        let e = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
        for i in 0..<500 { try e.put(k(i), v(i)) }
        try e.flush()
        try e.close()
        let table = try #require(try fs.listDirectory("/db").first { $0.hasSuffix(".sst") })
        try fs.flipByte(path: "/db/" + table, offset: 100)
        let r = try StorageEngine.open(directory: "/db", options: o, fileSystem: fs)
        var seen: StorageError?
        for i in 0..<500 {
            do { _ = try r.get(k(i)) } catch { seen = error; break }
        }
        let error = try #require(seen)
        #expect(error.code == .corruption)
        #expect(error.path?.hasSuffix(table) == true, "\(error)")
        #expect(error.offset != nil)
        try r.close()
    }

    @Test func flippedWALRecordIsNamedAndSalvageOpens() throws {
        let fs = MemoryFileSystem()
        let e = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
        for i in 0..<50 { try e.put(k(i), v(i), sync: true) }
        e.closeForCrashTest()
        let wal = try #require(try fs.listDirectory("/db").filter { $0.hasSuffix(".log") }.last)
        try fs.flipByte(path: "/db/" + wal, offset: 300)  // inside an early record, valid records follow
        #expect {
            _ = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
        } throws: { error in
            guard let e = error as? StorageError else { return false }
            return e.code == .corruption && e.path?.hasSuffix(wal) == true && e.offset != nil
        }
        var salvage = smallOptions()
        salvage.salvageCorruptWAL = true
        let r = try StorageEngine.open(directory: "/db", options: salvage, fileSystem: fs)
        #expect(try r.get(k(0)) == v(0))
        try r.close()
    }

    @Test func checkpointIsAConsistentCopy() throws {
        let fs = MemoryFileSystem()
        let e = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
        for i in 0..<3000 { try e.put(k(i), v(i), sync: false) }
        try e.checkpoint(to: "/cp")
        for i in 0..<3000 { try e.put(k(i), v(i + 1), sync: false) }
        try e.deleteRange(k(0), k(100))
        try e.compactAll()
        let c = try StorageEngine.open(directory: "/cp", options: smallOptions(), fileSystem: fs)
        for i in stride(from: 0, to: 3000, by: 11) { #expect(try c.get(k(i)) == v(i)) }
        try c.close()
        #expect(try e.get(k(50)) == nil)
        #expect(try e.get(k(500)) == v(501))
        try e.close()
    }
}
