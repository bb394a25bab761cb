import Synchronization

/// Keeps open `TableReader`s of one data directory, at most `options.openTablesMax` of them.
///
/// The readers are split into `shardCount` shards by file number, each an LRU list under its own
/// `Mutex` holding its share of the bound (the shares sum to `openTablesMax`), so concurrent
/// reads that look up readers (every probe and iterator does, for each table it touches) rarely
/// wait on each other: with one lock, `pgbench -S` with 8 clients spent a tenth of its time
/// parked on it. Least recently used is decided within a shard.
///
/// A miss opens `FileName.table(n)` in the directory (outside the lock, so slow opens do not
/// block hits on other tables) and inserts the reader, evicting the least recently used reader
/// when the bound is reached. An evicted reader's file is closed when its last holder releases it
/// (see `TableReader`), so the count of files open at once can briefly exceed the bound by the
/// readers still in use by iterators.
///
/// Concurrency: `Sendable`; each shard's LRU list is guarded by its `Mutex`, counters are `Atomic`.
/// This lock is never held while the block cache's shard locks are taken.
package final class TableCache: Sendable {
    private let fileSystem: any FileSystem
    private let directory: String
    private let options: StorageOptions
    private let blockCache: BlockCache?
    private final class Shard: Sendable {
        /// Guards the shard's readers, keyed by file number, charge 1 each.
        let state: Mutex<LRUList<UInt64, TableReader>>
        /// The most readers the shard keeps.
        let capacity: Int

        init(capacity: Int) {
            self.capacity = capacity
            state = Mutex(LRUList())
        }
    }

    /// The shards; table `n` is in `shards[n % shards.count]`.
    private let shards: [Shard]
    /// The most shards (fewer when `openTablesMax` is smaller, so each keeps a reader).
    static let shardCount = 16
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
        let capacity = options.openTablesMax
        self.capacity = capacity
        let count = min(TableCache.shardCount, capacity)
        shards = (0..<count).map { i in Shard(capacity: capacity / count + (i < capacity % count ? 1 : 0)) }
    }

    private func shard(_ fileNumber: UInt64) -> Shard { shards[Int(fileNumber % UInt64(shards.count))] }

    /// Readers held now (each with its file open; takes every shard lock in turn).
    package var openCount: Int { shards.reduce(0) { sum, s in sum + s.state.withLock { $0.count } } }
    /// `reader(fileNumber:)` calls served from the cache.
    package var hits: Int { hitCount.load(ordering: .relaxed) }
    /// `reader(fileNumber:)` calls that opened the file.
    package var misses: Int { missCount.load(ordering: .relaxed) }

    /// The reader of table `fileNumber`, opened on a miss.
    /// - Throws: the file system's error (`.notFound` for a missing table) or the reader's
    ///   `.corruption` / `.unsupportedVersion`.
    package func reader(fileNumber: UInt64) throws(StorageError) -> TableReader {
        let shard = shard(fileNumber)
        if let found = shard.state.withLock({ $0.get(fileNumber) }) {
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
        let (reader, released): (TableReader, [TableReader]) = shard.state.withLock { lru in
            if let existing = lru.get(fileNumber) { return (existing, [opened]) }
            var released = [TableReader]()
            lru.insert(fileNumber, opened, charge: 1)
            while lru.count > shard.capacity, let victim = lru.removeLeastRecent() { released.append(victim.value) }
            return (opened, released)
        }
        _ = released  // readers released here, outside the lock, close their files in deinit
        return reader
    }

    /// Drops table `fileNumber`'s reader and its cached blocks (after the table is deleted).
    package func evict(fileNumber: UInt64) {
        let released = shard(fileNumber).state.withLock { $0.remove(fileNumber) }
        _ = released
        blockCache?.evictFile(fileNumber)
    }
}
