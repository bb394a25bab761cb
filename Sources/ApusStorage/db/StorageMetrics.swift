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
