import Synchronization

/// A point-in-time reading of the engine's counters.
public struct StorageMetrics: Sendable, CustomStringConvertible {
    /// Table bytes per level (level 0 first).
    public var levelBytes: [Int]
    /// Table files per level.
    public var levelFiles: [Int]
    public var memtableBytes: Int
    public var immutableMemtables: Int
    public var flushCount: Int
    public var flushBytesWritten: Int
    public var compactionCount: Int
    public var trivialMoveCount: Int
    public var compactionBytesRead: Int
    public var compactionBytesWritten: Int
    public var blockCacheHits: Int
    public var blockCacheMisses: Int
    public var blockCacheBytes: Int
    public var openTables: Int
    public var writeStalls: Int
    public var writeStallNanos: UInt64
    /// Bytes of keys and values written by users.
    public var userBytesWritten: Int
    public var walBytesWritten: Int
    /// Bytes of old versions compaction removed: overwritten or deleted values no reader can see
    /// (the SQL layer's GC window holds a snapshot to keep them), and with the `.mvcc`
    /// comparator the versions below the GC threshold.
    public var gcBytesReclaimed: Int
    public var liveSnapshots: Int
    /// Memtables, tables and sorted levels that bounded reads left out because the prefix
    /// filter showed that they hold no key of the read's prefix (see `BloomPrefix`).
    public var prefixFilterSkips: Int = 0
    /// Memtables, tables and sorted levels that one-key reads (`IteratorOptions.onlyKey`) left
    /// out because the whole-key filter showed that they hold no entry of the key.
    public var keyFilterSkips: Int = 0
    /// Compactions (and moves) picked for a deletion-dense table rather than a level over its
    /// target (`CompactionPicker.isDeletionDense`).
    public var deletionCompactionCount: Int = 0

    /// Every counter by a snake_case name, with what it counts, then each level's bytes and
    /// files (SQL's `apus_storage_metrics` view lists these rows).
    public var named: [(name: String, value: Int, description: String)] {
        var rows: [(name: String, value: Int, description: String)] = [
            ("table_bytes", levelBytes.reduce(0, +), "bytes of all table files"),
            ("table_files", levelFiles.reduce(0, +), "table files"),
            ("memtable_bytes", memtableBytes, "bytes in the active memtable"),
            ("immutable_memtables", immutableMemtables, "memtables waiting to be flushed"),
            ("flushes", flushCount, "memtable flushes"),
            ("flush_bytes_written", flushBytesWritten, "bytes written by flushes"),
            ("compactions", compactionCount, "compactions and trivial moves"),
            ("trivial_moves", trivialMoveCount, "tables moved down a level without a rewrite"),
            ("deletion_compactions", deletionCompactionCount, "compactions picked for a deletion-dense table"),
            ("compaction_bytes_read", compactionBytesRead, "bytes read by compactions"),
            ("compaction_bytes_written", compactionBytesWritten, "bytes written by compactions"),
            ("gc_bytes_reclaimed", gcBytesReclaimed,
             "bytes of old versions removed: past the garbage-collection window, overwritten or deleted"),
            ("block_cache_hits", blockCacheHits, "block cache hits"),
            ("block_cache_misses", blockCacheMisses, "block cache misses"),
            ("block_cache_bytes", blockCacheBytes, "bytes held by the block cache"),
            ("open_tables", openTables, "table files held open"),
            ("write_stalls", writeStalls, "writes that waited for flushes or compactions"),
            ("user_bytes_written", userBytesWritten, "bytes of keys and values written"),
            ("wal_bytes_written", walBytesWritten, "bytes appended to the write-ahead log"),
            ("live_snapshots", liveSnapshots, "engine snapshots held"),
        ]
        for (level, (bytes, files)) in zip(levelBytes, levelFiles).enumerated() {
            rows.append(("level\(level)_bytes", bytes, "bytes of the tables of level \(level)"))
            rows.append(("level\(level)_files", files, "tables of level \(level)"))
        }
        return rows
    }

    /// (WAL + flush + compaction bytes written) / user bytes written.
    public var writeAmplification: Double {
        userBytesWritten == 0 ? 0 : Double(walBytesWritten + flushBytesWritten + compactionBytesWritten) / Double(userBytesWritten)
    }

    /// Total table bytes / bytes in the deepest non-empty level (1 means no space overhead).
    public var spaceAmplification: Double {
        guard let last = levelBytes.lastIndex(where: { $0 > 0 }) else { return 0 }
        return Double(levelBytes.reduce(0, +)) / Double(levelBytes[last])
    }

    public var description: String {
        var lines: [String] = []
        for (i, (b, f)) in zip(levelBytes, levelFiles).enumerated() where f > 0 {
            lines.append("L\(i): \(f) files, \(b) bytes")
        }
        lines.append("memtable \(memtableBytes) bytes, \(immutableMemtables) immutable")
        lines.append("flushes \(flushCount) (\(flushBytesWritten) bytes), compactions \(compactionCount) "
                     + "(read \(compactionBytesRead), wrote \(compactionBytesWritten), trivial moves \(trivialMoveCount), "
                     + "for deletions \(deletionCompactionCount))")
        lines.append("block cache hits \(blockCacheHits) misses \(blockCacheMisses) bytes \(blockCacheBytes); open tables \(openTables)")
        lines.append("write stalls \(writeStalls) (\(writeStallNanos / 1_000_000) ms); user bytes \(userBytesWritten), WAL bytes \(walBytesWritten)")
        let wa = (writeAmplification * 100).rounded() / 100, sa = (spaceAmplification * 100).rounded() / 100
        lines.append("write amplification \(wa), space amplification \(sa), GC reclaimed \(gcBytesReclaimed) bytes")
        return lines.joined(separator: "\n")
    }
}

/// The engine's live counters. Concurrency: relaxed atomics, each independent.
final class EngineCounters: Sendable {
    let flushCount = Atomic<Int>(0)
    let flushBytes = Atomic<Int>(0)
    let compactionCount = Atomic<Int>(0)
    let trivialMoves = Atomic<Int>(0)
    let compactionBytesRead = Atomic<Int>(0)
    let compactionBytesWritten = Atomic<Int>(0)
    let writeStalls = Atomic<Int>(0)
    let writeStallNanos = Atomic<UInt64>(0)
    let userBytes = Atomic<Int>(0)
    let walBytes = Atomic<Int>(0)
    let walSyncs = Atomic<Int>(0)
    let gcBytes = Atomic<Int>(0)
    let prefixFilterSkips = Atomic<Int>(0)
    let keyFilterSkips = Atomic<Int>(0)
    let deletionCompactions = Atomic<Int>(0)

    func add(_ a: borrowing Atomic<Int>, _ n: Int) { a.wrappingAdd(n, ordering: .relaxed) }
}
