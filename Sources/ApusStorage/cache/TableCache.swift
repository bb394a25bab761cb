import Synchronization

/// Keeps open `TableReader`s of one data directory, at most `options.openTablesMax` of them.
///
/// A miss opens `FileName.table(n)` in the directory (outside the lock, so slow opens do not
/// block hits on other tables) and inserts the reader, evicting the least recently used reader
/// when the bound is reached. An evicted reader's file is closed when its last holder releases it
/// (see `TableReader`), so the count of files open at once can briefly exceed the bound by the
/// readers still in use by iterators.
///
/// Concurrency: `Sendable`; the LRU list is guarded by `state`'s `Mutex`, counters are `Atomic`.
/// This lock is never held while the block cache's shard locks are taken.
package final class TableCache: Sendable {
    private let fileSystem: any FileSystem
    private let directory: String
    private let options: StorageOptions
    private let blockCache: BlockCache?
    /// Guards the readers, keyed by file number, charge 1 each.
    private let state: Mutex<LRUList<UInt64, TableReader>>
    private let hitCount = Atomic<Int>(0)
    private let missCount = Atomic<Int>(0)

    /// The most readers kept (`options.openTablesMax`).
    package let capacity: Int

    /// Creates a cache of readers for tables in `directory`.
    /// - Precondition: `options.openTablesMax >= 1`.
    package init(fileSystem: any FileSystem, directory: String, options: StorageOptions, blockCache: BlockCache?) {
        precondition(options.openTablesMax >= 1, "openTablesMax is positive")
        self.fileSystem = fileSystem
        self.directory = directory
        self.options = options
        self.blockCache = blockCache
        capacity = options.openTablesMax
        state = Mutex(LRUList())
    }

    /// Readers held now (each with its file open).
    package var openCount: Int { state.withLock { $0.count } }
    /// `reader(fileNumber:)` calls served from the cache.
    package var hits: Int { hitCount.load(ordering: .relaxed) }
    /// `reader(fileNumber:)` calls that opened the file.
    package var misses: Int { missCount.load(ordering: .relaxed) }

    /// The reader of table `fileNumber`, opened on a miss.
    /// - Throws: the file system's error (`.notFound` for a missing table) or the reader's
    ///   `.corruption` / `.unsupportedVersion`.
    package func reader(fileNumber: UInt64) throws(StorageError) -> TableReader {
        if let found = state.withLock({ $0.get(fileNumber) }) {
            hitCount.add(1, ordering: .relaxed)
            return found
        }
        missCount.add(1, ordering: .relaxed)
        let path = joinPath(directory, FileName.table(fileNumber).name)
        let file = try fileSystem.openFile(path)
        let opened: TableReader
        do {
            opened = try TableReader.open(file: file, path: path, fileNumber: fileNumber, options: options,
                                          blockCache: blockCache)
        } catch {
            file.close()
            throw error
        }
        // Another thread may have opened the same table meanwhile; keep the first, drop ours.
        let (reader, released): (TableReader, [TableReader]) = state.withLock { lru in
            if let existing = lru.get(fileNumber) { return (existing, [opened]) }
            var released = [TableReader]()
            lru.insert(fileNumber, opened, charge: 1)
            while lru.count > capacity, let victim = lru.removeLeastRecent() { released.append(victim.value) }
            return (opened, released)
        }
        _ = released  // readers released here, outside the lock, close their files in deinit
        return reader
    }

    /// Drops table `fileNumber`'s reader and its cached blocks (after the table is deleted).
    package func evict(fileNumber: UInt64) {
        let released = state.withLock { $0.remove(fileNumber) }
        _ = released
        blockCache?.evictFile(fileNumber)
    }
}
