// Tests of RealFileSystem against the machine's file system, each in a fresh directory under
// the system temporary directory (removed afterwards): create/append/sync/read round trips
// across the user-space write buffer, flush handing buffered bytes to the kernel, short reads
// reported as corruption with path and offset, rename, hard link, durable truncate, sorted
// directory listing, errno mapping (missing files are `.notFound`), and that a second lock on
// the same file is refused with `.locked` until the first is released; pread from many tasks. Durability itself cannot
// be observed without a power cut; the in-memory file system's crash tests cover the engine's
// use of the contract.
import Foundation
import Testing

@testable import ApusStorage

@Suite struct RealFileSystemTests {
    /// Runs `body` with a new empty directory and removes it afterwards.
    private func withTempDir(_ body: (RealFileSystem, String) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("apus-vfs-\(UUID().uuidString)").path
        let fs = RealFileSystem()
        try fs.createDirectory(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try body(fs, dir)
    }

    @Test func appendSyncReadAcrossBuffer() throws {
        try withTempDir { fs, dir in
            let path = joinPath(dir, "a.dat")
            let f = try fs.createFile(path)
            var expected: [UInt8] = []
            var random = FaultRandom(seed: 7)
            // Sizes below, at and above the 64 KiB buffer, so every append path runs.
            for n in [0, 1, 100, 70_000, 5, RealFileSystem.writeBufferSize, 3, 200_000] {
                let chunk = (0..<n).map { _ in UInt8.random(in: 0...255, using: &random) }
                try f.append(chunk)
                expected += chunk
                #expect(f.size == expected.count)
            }
            try f.sync()
            try f.close()
            #expect(try fs.fileSize(path) == expected.count)
            let r = try fs.openFile(path)
            defer { r.close() }
            #expect(r.size == expected.count)
            #expect(try r.read(at: 0, count: expected.count) == expected)
            #expect(try r.read(at: 70_001, count: 10) == Array(expected[70_001..<70_011]))
            #expect(try r.read(at: expected.count, count: 0) == [])
        }
    }

    @Test func shortReadIsCorruptionWithPathAndOffset() throws {
        try withTempDir { fs, dir in
            let path = joinPath(dir, "short")
            let f = try fs.createFile(path)
            try f.append([1, 2, 3, 4])
            try f.close()
            let r = try fs.openFile(path)
            defer { r.close() }
            if let e = expectStorageError("read past end succeeded", { _ = try r.read(at: 2, count: 10) }) {
                #expect(e.code == .corruption)
                #expect(e.path == path)
                #expect(e.offset == 2)
            }
        }
    }

    @Test func renameLinkTruncateListRemove() throws {
        try withTempDir { fs, dir in
            let a = joinPath(dir, "000001.log")
            let f = try fs.createFile(a)
            try f.append(Array(0..<100))
            try f.sync()
            try f.close()

            try fs.rename(a, to: joinPath(dir, "000002.log"))
            #expect(!fs.exists(a))
            try fs.link(joinPath(dir, "000002.log"), to: joinPath(dir, "000003.sst"))
            try fs.syncDirectory(dir)
            try fs.createDirectory(joinPath(dir, "sub/deeper"))
            #expect(try fs.listDirectory(dir) == ["000002.log", "000003.sst", "sub"])

            try fs.truncate(joinPath(dir, "000002.log"), to: 40)
            #expect(try fs.fileSize(joinPath(dir, "000002.log")) == 40)
            // The link shares the inode, so it sees the truncation.
            #expect(try fs.fileSize(joinPath(dir, "000003.sst")) == 40)

            try fs.removeFile(joinPath(dir, "000003.sst"))
            #expect(try fs.listDirectory(dir) == ["000002.log", "sub"])
            #expect(throws: StorageError.self) { try fs.link(joinPath(dir, "000002.log"), to: joinPath(dir, "sub")) }
        }
    }

    @Test func missingFilesAreNotFound() throws {
        try withTempDir { fs, dir in
            let missing = joinPath(dir, "nope")
            for op in [
                { _ = try fs.openFile(missing) },
                { _ = try fs.fileSize(missing) },
                { try fs.removeFile(missing) },
                { try fs.rename(missing, to: joinPath(dir, "x")) },
                { _ = try fs.listDirectory(missing) },
                { try fs.truncate(missing, to: 0) },
            ] as [() throws -> Void] {
                if let e = expectStorageError("operation on a missing file succeeded", { try op() }) {
                    #expect(e.code == .notFound, "\(e)")
                    #expect(e.path != nil)
                }
            }
            #expect(!fs.exists(missing))
        }
    }

    @Test func secondLockIsRefusedUntilUnlock() throws {
        try withTempDir { fs, dir in
            let path = joinPath(dir, "LOCK")
            let lock = try fs.lockFile(path)
            if let e = expectStorageError("second lock succeeded", { _ = try fs.lockFile(path) }) {
                #expect(e.code == .locked)
            }
            lock.unlock()
            let again = try fs.lockFile(path)
            again.unlock()
        }
    }

    @Test func createTruncatesExistingFile() throws {
        try withTempDir { fs, dir in
            let path = joinPath(dir, "CURRENT")
            let f = try fs.createFile(path)
            try f.append(Array(repeating: 9, count: 50))
            try f.close()
            let g = try fs.createFile(path)
            #expect(g.size == 0)
            try g.append([1])
            try g.sync()
            try g.close()
            #expect(try fs.fileSize(path) == 1)
        }
    }

    @Test func flushHandsBufferedBytesToTheKernel() throws {
        try withTempDir { fs, dir in
            let path = joinPath(dir, "buffered")
            let f = try fs.createFile(path)
            try f.append([1, 2, 3])
            #expect(try fs.fileSize(path) == 0)  // still in the user-space buffer
            try f.flush()
            #expect(try fs.fileSize(path) == 3)  // visible to other readers, not yet durable
            try f.close()
            #expect(throws: StorageError.self) { try f.append([4]) }
        }
    }

    @Test func concurrentReadersSeeTheFile() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apus-vfs-\(UUID().uuidString)").path
        let fs = RealFileSystem()
        try fs.createDirectory(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let expected = (0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        let f = try fs.createFile(joinPath(dir, "shared"))
        try f.append(expected)
        try f.close()
        let r = try fs.openFile(joinPath(dir, "shared"))
        defer { r.close() }
        try await checkConcurrentReads(r, expected)
    }
}
