import ApusCore
#if canImport(Glibc)
import Glibc
#endif

/// What a compaction may drop, fixed when it starts.
struct DropPolicy {
    /// Whether entries may be dropped at all (false for recovery's flushes, which write everything).
    var dropsEntries: Bool
    /// The oldest sequence any reader can still read at (oldest snapshot, or the last sequence).
    var smallestSnapshot: SequenceNumber
    /// Deletions and tombstones visible to every reader can go: nothing deeper holds older data.
    var isBottommost: Bool
    /// MVCC versions with timestamps at or below this may be collected (keeping the newest one).
    var mvccGCThreshold: Timestamp?
}

/// Counters a job reports back to the engine's metrics.
struct JobStats {
    var entriesRead = 0
    var entriesDropped = 0
    var bytesWritten = 0
    var gcBytesReclaimed = 0
}

/// Writes the merged entries of an input iterator into new tables, applying the drop rules of
/// leveled compaction, clipping range tombstones to each output table, and cutting outputs only
/// between user keys (so that no user key ever spans two tables of a level).
///
/// Drop rules, for entries in internal-key order (newest first within a user key):
/// 1. an entry shadowed by a newer entry of the same user key that every reader sees is dropped;
/// 2. a point deletion every reader sees is dropped at the bottommost level;
/// 3. an entry covered by a range tombstone every reader sees is dropped;
/// 4. with the MVCC comparator and a GC threshold, among the versions of one key with timestamps
///    at or below the threshold only the newest is kept (once every reader sees it).
/// Range tombstones every reader sees are dropped at the bottommost level.
struct CompactionJob {
    let fileSystem: any FileSystem
    let directory: String
    let options: StorageOptions
    let newFileNumber: () -> UInt64
    let rateLimiter: RateLimiter?
    /// The block cache the output tables' data blocks go into as they are written (nil: none):
    /// flushed and compacted data is the newest, read soonest, and a read after a flush or a
    /// compaction would otherwise miss the cache for every block of the new tables.
    var warmCache: BlockCache? = nil

    func run(input: any InternalIterator, tombstones: [RangeTombstone], policy: DropPolicy,
             stats: inout JobStats) throws(StorageError) -> [TableFile] {
        let cmp = options.comparator
        let liveTombstones = tombstones.filter { !(policy.dropsEntries && policy.isBottommost && $0.sequence <= policy.smallestSnapshot) }
        let visibleToAll = tombstones.filter { $0.sequence <= policy.smallestSnapshot }
            .sorted { cmp.compare($0.start, $1.start) < 0 }
        var out = OutputSet(job: self, tombstones: liveTombstones)
        defer { out.abandon() }

        var currentUserKey: [UInt8]? = nil
        var lastSequenceForKey: SequenceNumber = .max
        var mvccPrefix: [UInt8]? = nil
        var mvccKeptBelow = false
        try input.seekToFirst()
        while input.isValid {
            let ikey = input.key
            stats.entriesRead += 1
            guard let (userKey, seq, kind) = InternalKey.parse(ikey) else {
                throw StorageError.corruption("malformed internal key in compaction input", path: directory, offset: nil)
            }
            if kind == .rangeDelete {  // memtable range deletions travel in `tombstones`
                try input.next()
                continue
            }
            let isNewUserKey = currentUserKey.map { cmp.compare($0, Array(userKey)) != 0 } ?? true
            if isNewUserKey {
                currentUserKey = Array(userKey)
                lastSequenceForKey = .max
            }
            var drop = false
            if policy.dropsEntries {
                if lastSequenceForKey <= policy.smallestSnapshot {
                    drop = true
                } else if kind == .delete && seq <= policy.smallestSnapshot && policy.isBottommost {
                    drop = true
                } else if covered(userKey, seq, visibleToAll, cmp) {
                    drop = true
                } else if let threshold = policy.mvccGCThreshold, cmp == .mvcc, isNewUserKey {
                    let (prefix, ts) = userKey.withUnsafeBytes { raw -> (ArraySlice<UInt8>, Timestamp) in
                        let s = MVCCKey.split(raw)
                        return (userKey.prefix(s?.keyLength ?? userKey.count), s?.timestamp ?? .zero)
                    }
                    if mvccPrefix.map({ compareBytes($0[...], prefix) != 0 }) ?? true {
                        mvccPrefix = Array(prefix)
                        mvccKeptBelow = false
                    }
                    if !ts.isZero && ts <= threshold {
                        if mvccKeptBelow {
                            drop = true
                            stats.gcBytesReclaimed += ikey.count + input.value.count
                        } else if seq <= policy.smallestSnapshot {
                            mvccKeptBelow = true
                        }
                    }
                }
            }
            lastSequenceForKey = seq
            if drop {
                stats.entriesDropped += 1
                if policy.mvccGCThreshold == nil || cmp != .mvcc { stats.gcBytesReclaimed += ikey.count + input.value.count }
            } else {
                try out.add(ikey, input.value, userKey: currentUserKey ?? [], sequence: seq)
                if let rateLimiter { rateLimiter.request(ikey.count + input.value.count) }
            }
            try input.next()
        }
        let files = try out.finish()
        stats.bytesWritten += files.reduce(0) { $0 + $1.fileBytes }
        return files
    }

    private func covered(_ userKey: ArraySlice<UInt8>, _ seq: SequenceNumber, _ ts: [RangeTombstone], _ cmp: KeyComparator) -> Bool {
        guard !ts.isEmpty else { return false }
        return userKey.withUnsafeBytes { raw in
            for t in ts {
                if t.start.withUnsafeBytes({ cmp.compare($0, raw) }) > 0 { break }
                if t.covers(raw, entrySequence: seq, readSequence: .max, comparator: cmp) { return true }
            }
            return false
        }
    }
}

/// The output tables of one job: opens a table, cuts it at the size target between user keys,
/// and gives each table the range tombstones clipped to its key range.
private struct OutputSet {
    let job: CompactionJob
    let tombstones: [RangeTombstone]
    var builder: TableBuilder?
    var file: (any WritableFile)?
    var number: UInt64 = 0
    var lowerClip: [UInt8]? = nil
    var firstKey: [UInt8]? = nil
    var lastKey: [UInt8]? = nil
    var lastUserKey: [UInt8]? = nil
    var smallestSeq: SequenceNumber = .max
    var largestSeq: SequenceNumber = 0
    var outputs: [TableFile] = []

    init(job: CompactionJob, tombstones: [RangeTombstone]) {
        self.job = job
        self.tombstones = tombstones
    }

    mutating func add(_ ikey: [UInt8], _ value: [UInt8], userKey: [UInt8], sequence: SequenceNumber) throws(StorageError) {
        if let b = builder, b.estimatedFileBytes >= job.options.tableBytesTarget,
           let last = lastUserKey, job.options.comparator.compare(last, userKey) != 0 {
            try finishTable(upperClip: userKey)
            lowerClip = userKey
        }
        if builder == nil { try openTable() }
        try builder?.add(ikey, value)
        if firstKey == nil { firstKey = ikey }
        lastKey = ikey
        lastUserKey = userKey
        smallestSeq = Swift.min(smallestSeq, sequence)
        largestSeq = Swift.max(largestSeq, sequence)
    }

    private mutating func openTable() throws(StorageError) {
        number = job.newFileNumber()
        let f = try job.fileSystem.createFile(joinPath(job.directory, FileName.table(number).name))
        file = f
        builder = TableBuilder(file: f, options: job.options)
        if let cache = job.warmCache { builder?.warm(cache, fileNumber: number) }
    }

    /// Finishes the open table (if any); tombstones are clipped to `[lowerClip, upperClip)`.
    private mutating func finishTable(upperClip: [UInt8]?) throws(StorageError) {
        let cmp = job.options.comparator
        var clipped: [RangeTombstone] = []
        for t in tombstones {
            var s = t.start, e = t.end
            if let lo = lowerClip, cmp.compare(s, lo) < 0 { s = lo }
            if let hi = upperClip, cmp.compare(e, hi) > 0 { e = hi }
            if cmp.compare(s, e) < 0 { clipped.append(RangeTombstone(start: s, end: e, sequence: t.sequence)) }
        }
        if builder == nil {
            guard !clipped.isEmpty else { return }
            try openTable()
        }
        guard let b = builder, let f = file else { return }
        var smallest = firstKey, largest = lastKey
        for t in clipped.sorted(by: { cmp.compare($0.start, $1.start) < 0 }) {
            try b.addRangeTombstone(t)
            let lo = InternalKey.make(t.start, t.sequence, .rangeDelete)
            let hi = InternalKey.make(t.end, maxSequenceNumber, .rangeDelete)
            if smallest.map({ cmp.compareInternal(lo, $0) < 0 }) ?? true { smallest = lo }
            if largest.map({ cmp.compareInternal(hi, $0) > 0 }) ?? true { largest = hi }
            smallestSeq = Swift.min(smallestSeq, t.sequence)
            largestSeq = Swift.max(largestSeq, t.sequence)
        }
        _ = try b.finish()
        try f.sync()
        let size = f.size
        try f.close()
        guard let smallest, let largest else { preconditionFailure("a finished table has an entry or a tombstone") }
        outputs.append(TableFile(number: number, fileBytes: size, smallest: smallest, largest: largest,
                                 smallestSequence: smallestSeq, largestSequence: largestSeq,
                                 rangeTombstoneCount: clipped.count, entryCount: b.entryCount,
                                 pointDeletionCount: b.pointDeletionCount))
        builder = nil
        file = nil
        firstKey = nil
        lastKey = nil
        smallestSeq = .max
        largestSeq = 0
    }

    mutating func finish() throws(StorageError) -> [TableFile] {
        try finishTable(upperClip: nil)
        if !outputs.isEmpty { try job.fileSystem.syncDirectory(job.directory) }
        let done = outputs
        outputs = []
        return done
    }

    /// Removes the files of a job that failed part-way.
    mutating func abandon() {
        if let f = file { try? f.close() }
        if builder != nil { try? job.fileSystem.removeFile(joinPath(job.directory, FileName.table(number).name)) }
        for o in outputs { try? job.fileSystem.removeFile(joinPath(job.directory, FileName.table(o.number).name)) }
        builder = nil
        file = nil
        outputs = []
    }
}

/// Limits background write throughput to a byte rate by sleeping the background thread.
/// Concurrency: used by the background thread only.
final class RateLimiter: @unchecked Sendable {
    let bytesPerSecond: Int
    private var windowStart = monotonicNanos()
    private var windowBytes = 0

    init(bytesPerSecond: Int) {
        precondition(bytesPerSecond > 0, "a positive rate")
        self.bytesPerSecond = bytesPerSecond
    }

    /// Accounts for `bytes`; sleeps when the window's budget is spent.
    func request(_ bytes: Int) {
        windowBytes += bytes
        // Check in 1 MiB steps so that the clock is read rarely.
        guard windowBytes >= 1 << 20 else { return }
        let now = monotonicNanos()
        let allowed = UInt64(Double(bytesPerSecond) * Double(now - windowStart) / 1e9)
        if UInt64(windowBytes) > allowed {
            let waitNanos = UInt64(Double(UInt64(windowBytes) - allowed) / Double(bytesPerSecond) * 1e9)
            usleep(UInt32(Swift.min(waitNanos / 1000, 1_000_000)))
        }
        if now - windowStart > 1_000_000_000 {
            windowStart = monotonicNanos()
            windowBytes = 0
        }
    }
}
