import ApusCore

/// Replays the WAL segments a data directory still needs into level-0 tables at open.
///
/// Each segment at or above the manifest's log number is read in order; its write batches go
/// into a memtable, which is written to a level-0 table whenever it fills and at the end. A torn
/// tail of the last segment (a crash mid-append) is truncated; damage anywhere else is reported
/// with file and offset, and the open fails unless `salvageCorruptWAL` is set. Entries at or
/// below the manifest's last sequence are already in tables and are skipped.
enum Recovery {
    struct Result {
        var lastSequence: SequenceNumber = 0
        var batches = 0
        var tornTailOffsets: [Int] = []
    }

    static func replayWAL(engine versions: VersionSet, options: StorageOptions, tableCache: TableCache,
                          memtableCapacity: Int) throws(StorageError) -> Result {
        let fs = versions.fileSystem
        var segments: [UInt64] = []
        for name in try fs.listDirectory(versions.directory) {
            if case .wal(let n)? = FileName(parsing: name) {
                versions.markFileNumberUsed(n)
                if n >= versions.logNumber { segments.append(n) }
            }
        }
        segments.sort()
        var result = Result()
        // Entries up to the manifest's last sequence are in tables already: a segment may hold
        // a batch whose first memtables were flushed before the crash (an oversized batch spans
        // several memtables of one segment; see `StorageEngine.OversizedParts`).
        let flushed = versions.lastSequence
        var mem = Memtable(options: options, capacityBytes: memtableCapacity)
        for (i, n) in segments.enumerated() {
            let path = versions.path(.wal(n))
            let outcome = try LogReader.recover(fs: fs, path: path, logNumber: n, isLastSegment: i == segments.count - 1,
                                                salvage: options.salvageCorruptWAL) { (record: [UInt8]) throws(StorageError) in
                let batch = try WriteBatch.decode(record, path: path)
                var seq = batch.sequence
                for r in batch.records {
                    if seq <= flushed {
                        seq += 1
                        continue
                    }
                    if !mem.hasRoom(keyBytes: r.key.count, valueBytes: r.value.count) || mem.approximateBytes >= options.memtableBytesMax {
                        try flush(mem, versions: versions, options: options)
                        mem = Memtable(options: options, capacityBytes: memtableCapacity)
                    }
                    r.key.withUnsafeBytes { k in r.value.withUnsafeBytes { v in mem.add(sequence: seq, kind: r.kind, key: k, value: v) } }
                    seq += 1
                }
                result.lastSequence = Swift.max(result.lastSequence, seq - 1)
                result.batches += 1
            }
            if outcome.truncated { result.tornTailOffsets.append(outcome.validLength) }
        }
        if !mem.isEmpty { try flush(mem, versions: versions, options: options) }
        versions.lastSequence = Swift.max(versions.lastSequence, result.lastSequence)
        return result
    }

    private static func flush(_ mem: Memtable, versions: VersionSet, options: StorageOptions) throws(StorageError) {
        let job = CompactionJob(fileSystem: versions.fileSystem, directory: versions.directory, options: options,
                                newFileNumber: { versions.newFileNumber() }, rateLimiter: nil)
        var stats = JobStats()
        let files = try job.run(input: mem.makeIterator(), tombstones: mem.rangeTombstones(),
                                policy: DropPolicy(dropsEntries: false, smallestSnapshot: 0, isBottommost: false, mvccGCThreshold: nil),
                                stats: &stats)
        var edit = VersionEdit()
        edit.newFiles = files.map { (0, $0) }
        edit.lastSequence = files.map(\.largestSequence).max()
        // Logged by the new manifest the engine writes after recovery; until then the WAL still
        // holds these writes, so a crash here only leaves unreferenced tables, deleted at next open.
        versions.applyWithoutLogging(edit)
    }
}
