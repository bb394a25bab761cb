/// The file-system abstraction every byte of the engine goes through.
///
/// Two implementations: `RealFileSystem` (POSIX calls) and `MemoryFileSystem` (in memory, able to
/// simulate a crash that loses or tears unsynced writes, to fail chosen operations, to report a
/// full disk and to flip bytes). Paths are plain strings joined with "/".
///
/// Durability contract (the real one, and the simulation's): data appended to a file is durable
/// only after `sync()` on that file returns; a file's existence, a rename, a removal or a link is
/// durable only after `syncDirectory` of its parent directory returns.
package protocol FileSystem: AnyObject, Sendable {
    /// Creates `path` (truncating an existing file) for appending.
    func createFile(_ path: String) throws(StorageError) -> any WritableFile
    /// Opens an existing file for positional reads.
    func openFile(_ path: String) throws(StorageError) -> any ReadableFile
    /// The size of an existing file in bytes.
    func fileSize(_ path: String) throws(StorageError) -> Int
    func exists(_ path: String) -> Bool
    /// Names (not paths) of the entries of a directory, sorted.
    func listDirectory(_ path: String) throws(StorageError) -> [String]
    /// Creates a directory and any missing parents; succeeds if it exists.
    func createDirectory(_ path: String) throws(StorageError)
    func removeFile(_ path: String) throws(StorageError)
    /// Atomically replaces `target` with `source`.
    func rename(_ source: String, to target: String) throws(StorageError)
    /// Creates `target` as a hard link to `source` (a copy where links are impossible).
    func link(_ source: String, to target: String) throws(StorageError)
    /// Shortens a file to `size` bytes, durably (the truncation is synced).
    func truncate(_ path: String, to size: Int) throws(StorageError)
    /// Makes creations, renames, links and removals in `path` durable.
    func syncDirectory(_ path: String) throws(StorageError)
    /// Takes an exclusive lock on `path` (created if missing) for this process, so that two
    /// engines never open one directory; throws `.locked` if it is held.
    func lockFile(_ path: String) throws(StorageError) -> any FileLock
}

/// A file open for appending. One owner at a time (not `Sendable`); the engine serializes use.
package protocol WritableFile: AnyObject {
    /// Appends bytes at the end of the file.
    func append(_ bytes: UnsafeRawBufferPointer) throws(StorageError)
    /// Hands buffered appends to the operating system, so that they survive a crash of the
    /// process (not of the machine); does not make them durable. A no-op by default.
    func flush() throws(StorageError)
    /// Makes everything appended so far durable (fdatasync).
    func sync() throws(StorageError)
    /// Closes the file; unsynced data is not made durable by closing.
    func close() throws(StorageError)
    /// Bytes appended so far (including the size the file had when opened).
    var size: Int { get }
}

extension WritableFile {
    /// Default for files that do not buffer in user space.
    package func flush() throws(StorageError) {}

    package func append(_ bytes: [UInt8]) throws(StorageError) {
        // `withUnsafeBytes` rethrows untyped errors, so the typed error is carried out by hand.
        var failure: StorageError?
        bytes.withUnsafeBytes { raw in
            do throws(StorageError) { try append(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

/// A file open for positional reads; safe to use from many threads at once.
package protocol ReadableFile: AnyObject, Sendable {
    /// Reads `count` bytes at `offset`; throws `.corruption` naming the file if fewer exist.
    func read(at offset: Int, count: Int) throws(StorageError) -> [UInt8]
    /// The file's size when it was opened.
    var size: Int { get }
    func close()
}

/// A held lock on a directory; `unlock` releases it (also released when the process exits).
package protocol FileLock: AnyObject, Sendable {
    func unlock()
}

/// Joins path components with "/".
package func joinPath(_ dir: String, _ name: String) -> String {
    dir.hasSuffix("/") ? dir + name : dir + "/" + name
}
