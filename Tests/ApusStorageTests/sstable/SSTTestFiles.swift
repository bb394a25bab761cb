// A tiny private in-memory file system for the table and cache tests, plus a POSIX file pair
// for one real-file round trip. The shared in-memory file system is written elsewhere; these
// helpers implement only what tables need (create, append, open, positional read, close) and
// count open files so the table-cache test can check its bound.

import ApusCore
@testable import ApusStorage
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes of one in-memory file, shared by its writer and readers.
final class SSTTestFileData: Sendable {
    let bytes = Mutex<[UInt8]>([])
}

/// An in-memory `FileSystem` that supports what table tests need.
final class SSTTestFileSystem: FileSystem {
    private let files = Mutex<[String: SSTTestFileData]>([:])
    /// Readable files currently open (opened and not yet closed).
    let openReadableCount = Atomic<Int>(0)
    /// Every `openFile` call.
    let openCalls = Atomic<Int>(0)

    func createFile(_ path: String) throws(StorageError) -> any WritableFile {
        let data = SSTTestFileData()
        files.withLock { $0[path] = data }
        return SSTTestWritableFile(data: data)
    }

    func openFile(_ path: String) throws(StorageError) -> any ReadableFile {
        guard let data = files.withLock({ $0[path] }) else { throw StorageError(.notFound, "no file", path: path) }
        openReadableCount.add(1, ordering: .relaxed)
        openCalls.add(1, ordering: .relaxed)
        return SSTTestReadableFile(data: data, path: path, onClose: { [weak self] in
            self?.openReadableCount.subtract(1, ordering: .relaxed)
        })
    }

    func fileSize(_ path: String) throws(StorageError) -> Int {
        guard let data = files.withLock({ $0[path] }) else { throw StorageError(.notFound, "no file", path: path) }
        return data.bytes.withLock { $0.count }
    }

    func exists(_ path: String) -> Bool { files.withLock { $0[path] != nil } }

    func listDirectory(_ path: String) throws(StorageError) -> [String] {
        let prefix = path.hasSuffix("/") ? path : path + "/"
        return files.withLock { $0.keys.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) } }.sorted()
    }

    func createDirectory(_ path: String) throws(StorageError) {}

    func removeFile(_ path: String) throws(StorageError) { files.withLock { $0[path] = nil } }

    func rename(_ source: String, to target: String) throws(StorageError) {
        files.withLock { f in f[target] = f[source]; f[source] = nil }
    }

    func link(_ source: String, to target: String) throws(StorageError) {
        files.withLock { f in f[target] = f[source] }
    }

    func truncate(_ path: String, to size: Int) throws(StorageError) {
        files.withLock { f in f[path]?.bytes.withLock { $0.removeLast(max(0, $0.count - size)) } }
    }

    func syncDirectory(_ path: String) throws(StorageError) {}

    func lockFile(_ path: String) throws(StorageError) -> any FileLock { SSTTestLock() }

    /// The bytes of `path` (for corrupting them in tests).
    func contents(_ path: String) -> [UInt8] {
        files.withLock { $0[path] }?.bytes.withLock { $0 } ?? []
    }

    /// Replaces the bytes of `path`.
    func setContents(_ path: String, _ bytes: [UInt8]) {
        let data = SSTTestFileData()
        data.bytes.withLock { $0 = bytes }
        files.withLock { $0[path] = data }
    }
}

final class SSTTestLock: FileLock {
    func unlock() {}
}

final class SSTTestWritableFile: WritableFile {
    let data: SSTTestFileData
    init(data: SSTTestFileData) { self.data = data }

    func append(_ bytes: UnsafeRawBufferPointer) throws(StorageError) {
        data.bytes.withLock { $0.append(contentsOf: bytes) }
    }
    func sync() throws(StorageError) {}
    func close() throws(StorageError) {}
    var size: Int { data.bytes.withLock { $0.count } }
}

final class SSTTestReadableFile: ReadableFile {
    let data: SSTTestFileData
    let path: String
    let size: Int
    let onClose: @Sendable () -> Void
    /// Read calls made, to check that cached blocks are not re-read.
    let readCount = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)

    init(data: SSTTestFileData, path: String, onClose: @escaping @Sendable () -> Void = {}) {
        self.data = data
        self.path = path
        self.size = data.bytes.withLock { $0.count }
        self.onClose = onClose
    }

    func read(at offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        readCount.add(1, ordering: .relaxed)
        let result: [UInt8]? = data.bytes.withLock { b in
            guard offset >= 0, count >= 0, offset + count <= b.count else { return nil }
            return Array(b[offset..<(offset + count)])
        }
        guard let result else { throw StorageError(.corruption, "read past end", path: path, offset: offset) }
        return result
    }

    func close() {
        if !closed.exchange(true, ordering: .relaxed) { onClose() }
    }
}

/// A minimal POSIX writable file for the real-file round trip.
final class SSTTestPOSIXWritableFile: WritableFile {
    let fd: Int32
    private(set) var size = 0

    init(path: String) throws(StorageError) {
        fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if fd < 0 { throw StorageError(.ioError, "open failed", path: path) }
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws(StorageError) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, base + done, bytes.count - done)
            if n <= 0 { throw StorageError(.ioError, "write failed") }
            done += n
        }
        size += bytes.count
    }

    func sync() throws(StorageError) { if fsync(fd) != 0 { throw StorageError(.ioError, "fsync failed") } }
    func close() throws(StorageError) { _ = Glibc.close(fd) }
}

/// A minimal POSIX readable file (pread) for the real-file round trip.
final class SSTTestPOSIXReadableFile: ReadableFile {
    let fd: Int32
    let size: Int
    let path: String

    init(path: String) throws(StorageError) {
        self.path = path
        fd = Glibc.open(path, O_RDONLY)
        if fd < 0 { throw StorageError(.ioError, "open failed", path: path) }
        let end = lseek(fd, 0, SEEK_END)
        size = Int(end)
    }

    func read(at offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return -1 }
                return pread(fd, base + done, count - done, off_t(offset + done))
            }
            if n < 0 { throw StorageError(.ioError, "pread failed", path: path, offset: offset) }
            if n == 0 { throw StorageError(.corruption, "read past end", path: path, offset: offset) }
            done += n
        }
        return out
    }

    func close() { _ = Glibc.close(fd) }
}

/// A seeded SplitMix64 generator so that every randomized test replays from its printed seed.
struct SSTTestRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
