import Synchronization

/// A byte-budgeted cache of decoded table blocks, shared by all table readers of an engine.
///
/// Keys are (table file number, block offset); values are immutable `Block`s charged by their
/// byte size. The cache is split into shards (16 by default) chosen by a hash of the key, each an
/// LRU list under its own `Mutex`, so concurrent readers rarely contend. Each shard holds at most
/// `capacityBytes / shardCount` bytes; an insert evicts least recently used blocks of its shard
/// until it fits, and a block larger than a whole shard is not cached (the caller still uses it).
/// Thus `usedBytes <= capacityBytes` at every moment a lock is not held.
///
/// Concurrency: `Sendable`; every shard's state is guarded by that shard's `Mutex`, counters are
/// `Atomic`. No lock is held while another is taken. Evicted blocks are released outside the lock.
package final class BlockCache: Sendable {
    /// The key of a cached block.
    struct Key: Hashable, Sendable {
        var fileNumber: UInt64
        var offset: Int
    }

    private final class Shard: Sendable {
        /// Guards the shard's LRU list.
        let state: Mutex<LRUList<Key, Block>>
        let capacityBytes: Int

        init(capacityBytes: Int) {
            self.capacityBytes = capacityBytes
            state = Mutex(LRUList())
        }
    }

    private let shards: [Shard]
    private let hitCount = Atomic<Int>(0)
    private let missCount = Atomic<Int>(0)
    private let usedByteCount = Atomic<Int>(0)

    /// The smallest shard budget before the cache uses fewer shards (256 KiB, 64 default blocks).
    static let shardBytesMin = 256 << 10

    /// The byte budget.
    package let capacityBytes: Int

    /// Creates a cache holding at most `capacityBytes` bytes of blocks.
    /// - Parameters:
    ///   - shardCount: the most shards to use; fewer if each would hold under `shardBytesMin`.
    /// - Precondition: `capacityBytes >= 0`; `shardCount` is a power of two in 1...256.
    package init(capacityBytes: Int, shardCount: Int = 16) {
        precondition(capacityBytes >= 0, "block cache capacity is not negative")
        precondition(shardCount >= 1 && shardCount <= 256 && shardCount & (shardCount - 1) == 0,
                     "block cache shard count is a power of two in 1...256")
        self.capacityBytes = capacityBytes
        // A small budget gets fewer shards, so that each shard still holds a useful number of
        // blocks (a shard smaller than one block would cache nothing).
        var count = shardCount
        while count > 1 && capacityBytes / count < BlockCache.shardBytesMin { count /= 2 }
        let perShard = capacityBytes / count
        shards = (0..<count).map { _ in Shard(capacityBytes: perShard) }
    }

    /// Lookups that found their block.
    package var hits: Int { hitCount.load(ordering: .relaxed) }
    /// Lookups that did not.
    package var misses: Int { missCount.load(ordering: .relaxed) }
    /// Bytes of blocks held now.
    package var usedBytes: Int { usedByteCount.load(ordering: .relaxed) }
    /// Blocks held now (takes every shard lock in turn; for tests and metrics).
    package var entryCount: Int { shards.reduce(0) { sum, s in sum + s.state.withLock { $0.count } } }

    /// Sums the charges held by every shard under its lock: equals `usedBytes` when no insert
    /// or eviction is in flight (a check for tests and invariant runs).
    package func recountUsedBytes() -> Int {
        shards.reduce(0) { sum, s in sum + s.state.withLock { $0.totalCharge } }
    }

    private func shard(_ key: Key) -> Shard {
        var h = key.fileNumber &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: key.offset)
        h ^= h >> 29
        h &*= 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return shards[Int(h & UInt64(shards.count - 1))]
    }

    /// The cached block at `offset` of table `fileNumber`, counting a hit or a miss.
    package func lookup(fileNumber: UInt64, offset: Int) -> Block? {
        let key = Key(fileNumber: fileNumber, offset: offset)
        let found = shard(key).state.withLock { $0.get(key) }
        if found != nil {
            hitCount.add(1, ordering: .relaxed)
        } else {
            missCount.add(1, ordering: .relaxed)
        }
        return found
    }

    /// Caches `block`, evicting least recently used blocks of its shard to stay in budget.
    package func insert(fileNumber: UInt64, offset: Int, block: Block) {
        let key = Key(fileNumber: fileNumber, offset: offset)
        let s = shard(key)
        let charge = block.byteCount
        guard charge <= s.capacityBytes else { return }
        // Evicted and replaced blocks leave the lock in `released`, so their memory is freed outside it.
        let released: [Block] = s.state.withLock { lru in
            var released = [Block]()
            let before = lru.totalCharge
            if let old = lru.insert(key, block, charge: charge) { released.append(old) }
            while lru.totalCharge > s.capacityBytes, let victim = lru.removeLeastRecent() {
                released.append(victim.value)
            }
            usedByteCount.add(lru.totalCharge - before, ordering: .relaxed)
            return released
        }
        _ = released
    }

    /// Drops every cached block of table `fileNumber` (after the table is deleted).
    /// - Complexity: O(blocks cached), since blocks are not indexed by file.
    package func evictFile(_ fileNumber: UInt64) {
        for s in shards {
            let released: [Block] = s.state.withLock { lru in
                var released = [Block]()
                let before = lru.totalCharge
                for key in lru.keys(where: { $0.fileNumber == fileNumber }) {
                    if let r = lru.remove(key) { released.append(r.value) }
                }
                usedByteCount.add(lru.totalCharge - before, ordering: .relaxed)
                return released
            }
            _ = released
        }
    }
}
