import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// `FileSystem` over POSIX calls.
///
/// Error mapping: `ENOSPC`/`EDQUOT` become `.diskFull`, `ENOENT` becomes `.notFound`, everything
/// else `.ioError` carrying the path and `strerror` text. Every call that can return `EINTR` is
/// retried. Writable files buffer appends in user space (at most `writeBufferSize` bytes) and
/// `sync()` writes the buffer and then calls `fdatasync`.
///
/// Concurrency: the class holds no mutable state, so it is `Sendable`; the files it returns
/// follow the protocol rules (one owner for a writable file, any thread for a readable one).
package final class RealFileSystem: FileSystem {
    /// Appends smaller than this are gathered in user space before one `write`.
    package static let writeBufferSize = 64 * 1024
    /// Chunk size of the copy used when `link` cannot make a hard link.
    static let copyChunkSize = 1 << 20

    package init() {}

    package func createFile(_ path: String) throws(StorageError) -> any WritableFile {
        let fd = try openRetrying(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644, op: "create")
        return RealWritableFile(fd: fd, path: path, size: 0)
    }

    package func openFile(_ path: String) throws(StorageError) -> any ReadableFile {
        let fd = try openRetrying(path, O_RDONLY | O_CLOEXEC, 0, op: "open")
        let size: Int
        do throws(StorageError) {
            size = try fstatSize(fd, path: path)
        } catch {
            _ = posixClose(fd)
            throw error
        }
        return RealReadableFile(fd: fd, path: path, size: size)
    }

    package func fileSize(_ path: String) throws(StorageError) -> Int {
        var st = stat()
        guard posixStat(path, &st) == 0 else { throw posixError("stat", path) }
        return Int(st.st_size)
    }

    package func exists(_ path: String) -> Bool {
        var st = stat()
        return posixStat(path, &st) == 0
    }

    package func listDirectory(_ path: String) throws(StorageError) -> [String] {
        guard let dir = opendir(path) else { throw posixError("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw posixError("readdir", path) }
                break
            }
            let name = withUnsafePointer(to: &entry.pointee.d_name) { tuple in
                tuple.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: tuple.pointee)) {
                    String(cString: $0)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    package func createDirectory(_ path: String) throws(StorageError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if posixMkdir(prefix, 0o755) != 0 {
                let e = errno
                guard e == EEXIST else { throw posixError("mkdir", prefix, e) }
                var st = stat()
                guard posixStat(prefix, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                    throw StorageError(.ioError, "mkdir: exists and is not a directory", path: prefix)
                }
            }
            prefix += "/"
        }
    }

    package func removeFile(_ path: String) throws(StorageError) {
        guard posixUnlink(path) == 0 else { throw posixError("unlink", path) }
    }

    package func rename(_ source: String, to target: String) throws(StorageError) {
        guard posixRename(source, target) == 0 else {
            throw posixError("rename to \(target)", source)
        }
    }

    package func link(_ source: String, to target: String) throws(StorageError) {
        if posixLink(source, target) == 0 { return }
        let e = errno
        guard e == EXDEV || e == EPERM || e == ENOTSUP || e == EOPNOTSUPP else {
            throw posixError("link to \(target)", source, e)
        }
        try copyFile(source, to: target)
    }

    /// The fallback of `link`: copies `source` to a new `target` and syncs it.
    private func copyFile(_ source: String, to target: String) throws(StorageError) {
        let input = try openFile(source)
        defer { input.close() }
        guard !exists(target) else { throw StorageError(.ioError, "link: target exists", path: target) }
        let output = try createFile(target)
        var offset = 0
        do throws(StorageError) {
            while offset < input.size {
                let chunk = try input.read(at: offset, count: min(Self.copyChunkSize, input.size - offset))
                try output.append(chunk)
                offset += chunk.count
            }
            try output.sync()
            try output.close()
        } catch {
            try? output.close()
            _ = posixUnlink(target)
            throw error
        }
    }

    package func truncate(_ path: String, to size: Int) throws(StorageError) {
        guard size >= 0 else { throw StorageError(.invalidArgument, "truncate to negative size \(size)", path: path) }
        let fd = try openRetrying(path, O_WRONLY | O_CLOEXEC, 0, op: "open for truncate")
        defer { _ = posixClose(fd) }
        try retryingEINTR("ftruncate", path) { posixFtruncate(fd, off_t(size)) }
        try retryingEINTR("fsync", path) { posixFsync(fd) }
    }

    package func syncDirectory(_ path: String) throws(StorageError) {
        let fd = try openRetrying(path, O_RDONLY | O_CLOEXEC | O_DIRECTORY, 0, op: "open directory")
        defer { _ = posixClose(fd) }
        try retryingEINTR("fsync directory", path) { posixFsync(fd) }
    }

    package func lockFile(_ path: String) throws(StorageError) -> any FileLock {
        let fd = try openRetrying(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644, op: "open lock")
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            if e == EINTR { continue }
            _ = posixClose(fd)
            if e == EWOULDBLOCK || e == EAGAIN {
                throw StorageError(.locked, "lock is held by another process or engine", path: path)
            }
            throw posixError("flock", path, e)
        }
        return RealFileLock(fd: fd)
    }
}

/// A writable POSIX file with a user-space append buffer.
///
/// Concurrency: one owner (the protocol's rule); not `Sendable`.
final class RealWritableFile: WritableFile {
    private var fd: Int32
    let path: String
    private var buffer: [UInt8] = []
    private(set) var size: Int

    init(fd: Int32, path: String, size: Int) {
        self.fd = fd
        self.path = path
        self.size = size
        buffer.reserveCapacity(RealFileSystem.writeBufferSize)
    }

    deinit {
        if fd >= 0 {
            try? flush()
            _ = posixClose(fd)
        }
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws(StorageError) {
        guard fd >= 0 else { throw StorageError(.ioError, "append to a closed file", path: path) }
        if buffer.count + bytes.count > RealFileSystem.writeBufferSize { try flush() }
        if bytes.count >= RealFileSystem.writeBufferSize {
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
        size += bytes.count
    }

    /// Writes the buffer to the kernel. On failure the bytes not yet written stay buffered.
    func flush() throws(StorageError) {
        guard fd >= 0 else { throw StorageError(.ioError, "flush of a closed file", path: path) }
        guard !buffer.isEmpty else { return }
        var written = 0
        var failure: StorageError?
        buffer.withUnsafeBytes { raw in
            do throws(StorageError) { try writeAll(raw, written: &written) } catch { failure = error }
        }
        buffer.removeFirst(written)
        if let failure { throw failure }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws(StorageError) {
        var written = 0
        try writeAll(bytes, written: &written)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer, written: inout Int) throws(StorageError) {
        guard let base = bytes.baseAddress else { return }
        while written < bytes.count {
            let n = posixWrite(fd, base + written, bytes.count - written)
            if n < 0 {
                if errno == EINTR { continue }
                throw posixError("write", path)
            }
            written += n
        }
    }

    func sync() throws(StorageError) {
        guard fd >= 0 else { throw StorageError(.ioError, "sync of a closed file", path: path) }
        try flush()
        let fd = self.fd
        try retryingEINTR("fdatasync", path) { posixFdatasync(fd) }
    }

    func close() throws(StorageError) {
        guard fd >= 0 else { return }
        defer {
            _ = posixClose(fd)
            fd = -1
        }
        try flush()
    }
}

/// A readable POSIX file; reads use `pread`, so they are safe from many threads.
///
/// Concurrency: `fd`, `path` and `size` are immutable; `closed` is atomic, so the class is
/// `Sendable`. Reading after `close()` is a programmer error reported as `.ioError`.
final class RealReadableFile: ReadableFile {
    private let fd: Int32
    let path: String
    let size: Int
    private let closed = Atomic<Bool>(false)

    init(fd: Int32, path: String, size: Int) {
        self.fd = fd
        self.path = path
        self.size = size
    }

    deinit { close() }

    func read(at offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        guard offset >= 0, count >= 0 else {
            throw .corruption("read of \(count) bytes at a negative offset or count", path: path, offset: offset)
        }
        guard !closed.load(ordering: .acquiring) else {
            throw StorageError(.ioError, "read of a closed file", path: path, offset: offset)
        }
        if count == 0 { return [] }
        // Never allocate more than the file can hold: `count` may come from a corrupt handle.
        if count > size - offset {
            let now = try fstatSize(fd, path: path)
            guard count <= now - offset else {
                throw .corruption("read of \(count) bytes past end of file (size \(now))", path: path, offset: offset)
            }
        }
        var failure: StorageError?
        let result = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var done = 0
            while done < count {
                let n = posixPread(fd, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = posixError("pread", path)
                    break
                }
                if n == 0 {
                    failure = .corruption("short read: \(done) of \(count) bytes", path: path, offset: offset + done)
                    break
                }
                done += n
            }
            // Zero whatever was not read so the array is fully initialized; it is discarded on failure.
            if done < count { (buffer.baseAddress! + done).initialize(repeating: 0, count: count - done) }
            initialized = count
        }
        if let failure { throw failure }
        return result
    }

    func close() {
        if !closed.exchange(true, ordering: .acquiringAndReleasing) { _ = posixClose(fd) }
    }
}

/// A held `flock` lock; the lock dies with the descriptor.
///
/// Concurrency: `unlocked` is atomic, so `unlock` may race with itself safely.
final class RealFileLock: FileLock {
    private let fd: Int32
    private let unlocked = Atomic<Bool>(false)

    init(fd: Int32) { self.fd = fd }

    func unlock() {
        if !unlocked.exchange(true, ordering: .acquiringAndReleasing) {
            _ = flock(fd, LOCK_UN)
            _ = posixClose(fd)
        }
    }
}

// MARK: - POSIX helpers
//
// File-scope wrappers: inside the classes, names like `read`, `close`, `rename` and `link` would
// resolve to the protocol methods, and a module-qualified name is not portable across libcs.

private func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
private func posixClose(_ fd: Int32) -> Int32 { close(fd) }
private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }
private func posixPread(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ n: Int, _ off: off_t) -> Int {
    pread(fd, p, n, off)
}
private func posixStat(_ path: String, _ st: inout stat) -> Int32 { stat(path, &st) }
private func posixMkdir(_ path: String, _ mode: mode_t) -> Int32 { mkdir(path, mode) }
private func posixUnlink(_ path: String) -> Int32 { unlink(path) }
private func posixRename(_ a: String, _ b: String) -> Int32 { rename(a, b) }
private func posixLink(_ a: String, _ b: String) -> Int32 { link(a, b) }
private func posixFtruncate(_ fd: Int32, _ size: off_t) -> Int32 { ftruncate(fd, size) }
private func posixFsync(_ fd: Int32) -> Int32 { fsync(fd) }
private func posixFdatasync(_ fd: Int32) -> Int32 {
    #if os(Linux)
        fdatasync(fd)
    #else
        fsync(fd)
    #endif
}

/// Maps an errno to the storage error codes.
private func posixError(_ op: String, _ path: String, _ code: Int32 = errno) -> StorageError {
    let text = strerror(code).map { String(cString: $0) } ?? "errno \(code)"
    switch code {
    case ENOSPC, EDQUOT: return StorageError(.diskFull, "\(op): \(text)", path: path)
    case ENOENT: return StorageError(.notFound, "\(op): \(text)", path: path)
    default: return StorageError(.ioError, "\(op): \(text)", path: path)
    }
}

private func openRetrying(_ path: String, _ flags: Int32, _ mode: mode_t, op: String) throws(StorageError) -> Int32 {
    while true {
        let fd = posixOpen(path, flags, mode)
        if fd >= 0 { return fd }
        let e = errno
        if e != EINTR { throw posixError(op, path, e) }
    }
}

/// Runs a call returning 0 or -1, retrying on `EINTR`.
private func retryingEINTR(_ op: String, _ path: String, _ call: () -> Int32) throws(StorageError) {
    while call() != 0 {
        let e = errno
        if e != EINTR { throw posixError(op, path, e) }
    }
}

private func fstatSize(_ fd: Int32, path: String) throws(StorageError) -> Int {
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw posixError("fstat", path) }
    return Int(st.st_size)
}
