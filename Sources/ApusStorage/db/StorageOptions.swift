/// Block compression of sorted tables.
public enum BlockCompression: UInt8, Sendable {
    case none = 0
    case lz4 = 1
    case zstd = 2
}

/// The options of one engine instance: every bound the engine keeps, with documented defaults.
///
/// `validate()` checks the ranges and the relations between them at open and throws
/// `.invalidArgument` instead of clamping silently.
public struct StorageOptions: Sendable {
    /// Order of user keys. Stored in the manifest; reopening with another fails.
    public var comparator: KeyComparator = .bytewise
    /// Size at which the active memtable is frozen and flushed to level 0 (default 64 MiB).
    public var memtableBytesMax: Int = 64 << 20
    /// Frozen memtables waiting to flush before writers stall (default 2).
    public var immutableMemtablesMax: Int = 2
    /// Target uncompressed size of a table data block (default 4 KiB).
    public var blockBytes: Int = 4096
    /// Keys between restart points inside a block (default 16).
    public var blockRestartInterval: Int = 16
    /// Bloom filter bits per key; 0 disables filters (default 10, about 1% false positives).
    public var bloomBitsPerKey: Int = 10
    /// Also puts each key's prefix, as `bloomPrefix` extracts it, into table filters, so that
    /// a bounded read whose keys all share one prefix skips the tables without it (default
    /// none). See `BloomPrefix`.
    public var bloomPrefix: BloomPrefix?
    /// Compression of data blocks (default none).
    public var compression: BlockCompression = .none
    /// Byte budget of the block cache (default 128 MiB, PostgreSQL's default shared_buffers;
    /// it fills only as blocks are read). With 8 MiB a scan of a table larger than the cache
    /// read every block from the file each time.
    public var blockCacheBytes: Int = 128 << 20
    /// Most table files held open at once (default 1000).
    public var openTablesMax: Int = 1000
    /// Level-0 file count that triggers a compaction (default 4).
    public var level0CompactionTrigger: Int = 4
    /// Level-0 file count at which writes slow down by a short bounded wait per batch (default 20).
    public var level0SlowdownTrigger: Int = 20
    /// Level-0 file count at which writes stall until compaction catches up (default 36).
    public var level0StopTrigger: Int = 36
    /// Target size of level 1 (default 256 MiB); each deeper level is `levelSizeMultiplier` times larger.
    public var level1BytesMax: Int = 256 << 20
    /// Fewest point deletions that make a table deletion-dense, besides being a quarter of its
    /// entries (`CompactionPicker.isDeletionDense`): such tables are compacted sooner (default 1000).
    public var deletionCompactionMinimum: Int = 1000
    /// Growth factor between levels (default 10).
    public var levelSizeMultiplier: Int = 10
    /// Target size of a table written by compaction (default 64 MiB).
    public var tableBytesTarget: Int = 64 << 20
    /// Compaction write rate limit in bytes per second; nil means unlimited (default 64 MiB/s).
    public var compactionBytesPerSecondMax: Int? = 64 << 20
    /// Size at which a WAL segment is closed and a new one started, when the memtable switches (default 64 MiB).
    public var walSegmentBytesMax: Int = 64 << 20
    /// Whether batches are synced to the WAL before a write returns, unless a batch says otherwise.
    public var syncByDefault: Bool = true
    /// Largest key accepted by a write (default 64 KiB).
    public var keyBytesMax: Int = 64 << 10
    /// Largest value accepted by a write (default 32 MiB). A whole batch may be larger than
    /// `memtableBytesMax` (it gets memtables of its own) but not than one WAL record
    /// (`StorageEngine.batchBytesMax`, 512 MiB); `write` rejects a larger one with `.invalidArgument`.
    public var valueBytesMax: Int = 32 << 20
    /// Whether to open a directory whose WAL has corruption before its tail, dropping what
    /// follows the first bad record (default false: refuse to open and report it).
    public var salvageCorruptWAL: Bool = false
    /// Whether opening may create a new data directory (default true).
    public var createIfMissing: Bool = true

    public init() {}

    /// The levels of the LSM tree (level 0 plus six sorted levels).
    public static let levelCount = 7

    /// Checks every option's range and the relations between them.
    public func validate() throws(StorageError) {
        func check(_ ok: Bool, _ what: String) throws(StorageError) {
            if !ok { throw StorageError(.invalidArgument, what) }
        }
        try check(memtableBytesMax >= 64 << 10 && memtableBytesMax <= 1 << 30, "memtableBytesMax must be in 64 KiB...1 GiB")
        try check(immutableMemtablesMax >= 1 && immutableMemtablesMax <= 16, "immutableMemtablesMax must be in 1...16")
        try check(blockBytes >= 256 && blockBytes <= 1 << 20, "blockBytes must be in 256 B...1 MiB")
        try check(blockRestartInterval >= 1 && blockRestartInterval <= 1024, "blockRestartInterval must be in 1...1024")
        try check(bloomBitsPerKey >= 0 && bloomBitsPerKey <= 64, "bloomBitsPerKey must be in 0...64")
        try check(blockCacheBytes >= 0, "blockCacheBytes must not be negative")
        try check(openTablesMax >= 16, "openTablesMax must be at least 16")
        // Compaction must trigger before writes slow, and slow before they stop.
        try check(level0CompactionTrigger >= 1, "level0CompactionTrigger must be at least 1")
        try check(level0CompactionTrigger < level0SlowdownTrigger, "level0CompactionTrigger < level0SlowdownTrigger")
        try check(level0SlowdownTrigger <= level0StopTrigger, "level0SlowdownTrigger <= level0StopTrigger")
        try check(level1BytesMax >= 64 << 10, "level1BytesMax must be at least 64 KiB")
        try check(deletionCompactionMinimum >= 1, "deletionCompactionMinimum must be at least 1")
        try check(levelSizeMultiplier >= 2 && levelSizeMultiplier <= 100, "levelSizeMultiplier must be in 2...100")
        try check(tableBytesTarget >= 64 << 10, "tableBytesTarget must be at least 64 KiB")
        try check(compactionBytesPerSecondMax.map { $0 >= 1 << 20 } ?? true, "compactionBytesPerSecondMax must be at least 1 MiB/s")
        try check(keyBytesMax >= 1 && keyBytesMax <= 1 << 20, "keyBytesMax must be in 1 B...1 MiB")
        try check(valueBytesMax >= 0 && valueBytesMax <= 256 << 20, "valueBytesMax must be in 0...256 MiB")
    }
}
