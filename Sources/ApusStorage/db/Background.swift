import ApusCore
import Foundation

/// The engine's background thread: flushes frozen memtables first, then runs compactions.
///
/// One thread (the machine this targets has two cores; RocksDB's default is two background jobs
/// for flush and compaction together). It holds the monitor only to pick work and to install
/// results; all file I/O happens outside it. A full disk makes it retry every 100 ms; any other
/// failure stops writes (`hardError`), since the tree's state can no longer be trusted to advance.
extension StorageEngine {
    func startBackgroundThread() {
        monitor.withLock { backgroundExited = false }
        let thread = Thread { [self] in backgroundLoop() }
        thread.name = "apus-storage-bg"
        thread.start()
    }

    private enum Work {
        case flush(Memtable, nextLogNumber: UInt64, lastSequence: SequenceNumber)
        case compact(CompactionPlan, manual: Bool)
        /// Log the retained sequence (`retainVersions`) in an edit of its own.
        case logRetained
    }

    private func backgroundLoop() {
        let rateLimiter = options.compactionBytesPerSecondMax.map { RateLimiter(bytesPerSecond: $0) }
        monitor.lock()
        while !isShuttingDown {
            guard hardError == nil, let work = nextWork() else {
                monitor.waitForWork(nanoseconds: diskFullError == nil ? 1_000_000_000 : 100_000_000)
                if diskFullError != nil { diskFullError = nil }  // retry
                continue
            }
            monitor.unlock()
            var failure: StorageError?
            do throws(StorageError) {
                switch work {
                case .flush(let table, let next, let seq): try runFlush(table, nextLogNumber: next, lastSequence: seq)
                case .compact(let plan, let manual): try runCompaction(plan, manual: manual, rateLimiter: rateLimiter)
                case .logRetained:
                    let version = try logEdit(VersionEdit())  // logAndApply adds the retained sequence
                    monitor.withLock {
                        current = version
                        retainedLogPending = false
                    }
                }
            } catch {
                failure = error
            }
            monitor.lock()
            if let failure {
                if failure.code == .diskFull {
                    diskFullError = failure
                    monitor.broadcast()
                    monitor.waitForWork(nanoseconds: 100_000_000)
                } else if hardError == nil {
                    hardError = StorageError(.writesStopped, "background work failed; writes stopped until reopen: \(failure)")
                }
            } else {
                diskFullError = nil
            }
            monitor.broadcast()
        }
        backgroundExited = true
        monitor.broadcast()
        monitor.unlock()
    }

    /// Picks the next job. - Precondition: the monitor is held.
    private func nextWork() -> Work? {
        if retainedLogPending { return .logRetained }
        if let first = immutables.first {
            let next = immutables.count > 1 ? immutables[1].walNumber : memWALNumber
            return .flush(first.table, nextLogNumber: next, lastSequence: first.lastSequence)
        }
        let picker = CompactionPicker(options: options)
        if let level = manualCompactionLevel {
            manualCompactionLevel = nil
            if let plan = picker.planWholeLevel(current, level: level) { return .compact(plan, manual: true) }
            manualCompactionDone += 1
            return nextWork()
        }
        let written = counters.userBytes.load(ordering: .relaxed)
        let idle = written == userBytesAtLastPick
        userBytesAtLastPick = written
        if let plan = picker.pick(current, cursors: &compactionCursors, smallestSnapshot: smallestSnapshot(), idle: idle) {
            return .compact(plan, manual: false)
        }
        return nil
    }

    /// The oldest sequence a reader may read at. - Precondition: the monitor is held.
    private func smallestSnapshot() -> SequenceNumber {
        Swift.min(snapshots.oldest ?? .max, visibleSequence.load(ordering: .acquiring))
    }

    /// Waits until the background thread has nothing to do: no memtable to flush, no level over
    /// its target, no deletion-dense table left to move (as when idle). For tests and tools.
    package func waitUntilBackgroundIdle() throws(StorageError) {
        monitor.lock()
        defer { monitor.unlock() }
        while true {
            if let e = hardError { throw e }
            var cursors = compactionCursors
            let busy = retainedLogPending || !immutables.isEmpty || manualCompactionLevel != nil
                || CompactionPicker(options: options).pick(current, cursors: &cursors, smallestSnapshot: smallestSnapshot(),
                                                           idle: true) != nil
            if !busy { return }
            monitor.wait(nanoseconds: 50_000_000)
        }
    }

    private func runFlush(_ table: Memtable, nextLogNumber: UInt64, lastSequence: SequenceNumber) throws(StorageError) {
        var edit = VersionEdit()
        var stats = JobStats()
        if !table.isEmpty {
            // Entries shadowed by newer ones every reader sees go already: a large transaction's
            // intent whose slot its resolution deleted in the same memtable, an overwritten row.
            let smallestSnapshot = monitor.withLock { self.smallestSnapshot() }
            let files = try job(rateLimiter: nil).run(
                input: table.makeIterator(), tombstones: table.rangeTombstones(),
                policy: DropPolicy(dropsEntries: true, smallestSnapshot: smallestSnapshot, isBottommost: false,
                                   mvccGCThreshold: nil),
                stats: &stats)
            edit.newFiles = files.map { (0, $0) }
            counters.add(counters.gcBytes, stats.gcBytesReclaimed)
        }
        edit.logNumber = nextLogNumber
        edit.lastSequence = lastSequence
        let version = try logEdit(edit)  // removes the new tables if it fails
        monitor.withLock {
            current = version
            precondition(immutables.first?.table === table, "flushes complete in order")
            immutables.removeFirst()
        }
        counters.add(counters.flushCount, 1)
        counters.add(counters.flushBytes, stats.bytesWritten)
        // Segments below the new log number hold only flushed data.
        for name in (try? fileSystem.listDirectory(directory)) ?? [] {
            if case .wal(let n)? = FileName(parsing: name), n < nextLogNumber {
                try? fileSystem.removeFile(joinPath(directory, name))
            }
        }
    }

    private func runCompaction(_ plan: CompactionPlan, manual: Bool, rateLimiter: RateLimiter?) throws(StorageError) {
        var edit = VersionEdit()
        for f in plan.inputs { edit.deletedFiles.append((plan.level, f.number)) }
        for f in plan.nextInputs { edit.deletedFiles.append((plan.outputLevel, f.number)) }
        var stats = JobStats()
        if plan.isTrivialMove {
            edit.newFiles = [(plan.outputLevel, plan.inputs[0])]
            counters.add(counters.trivialMoves, 1)
        } else {
            var children: [any InternalIterator] = []
            var tombstones: [RangeTombstone] = []
            for f in plan.inputs + plan.nextInputs {
                let reader = try tableCache.reader(fileNumber: f.number)
                children.append(reader.makeIteratorBypassingCache())
                tombstones += reader.rangeTombstones
            }
            let (threshold, smallestSnapshot) = monitor.withLock { (mvccGCThreshold, self.smallestSnapshot()) }
            let files = try job(rateLimiter: rateLimiter).run(
                input: MergingIterator(children: children, comparator: options.comparator), tombstones: tombstones,
                policy: DropPolicy(dropsEntries: true, smallestSnapshot: smallestSnapshot, isBottommost: plan.isBottommost,
                                   mvccGCThreshold: options.comparator == .mvcc ? threshold : nil),
                stats: &stats)
            edit.newFiles = files.map { (plan.outputLevel, $0) }
            counters.add(counters.compactionBytesRead, plan.inputBytes)
            counters.add(counters.compactionBytesWritten, stats.bytesWritten)
            counters.add(counters.gcBytes, stats.gcBytesReclaimed)
        }
        let version = try logEdit(edit)
        if !plan.isTrivialMove {
            let fs = fileSystem, dir = directory, cache = tableCache
            for f in plan.inputs + plan.nextInputs {
                f.markObsolete { n in
                    cache.evict(fileNumber: n)
                    try? fs.removeFile(joinPath(dir, FileName.table(n).name))
                }
            }
        }
        monitor.withLock {
            current = version
            if manual { manualCompactionDone += 1 }
        }
        counters.add(counters.compactionCount, 1)
        if plan.isForDeletions { counters.add(counters.deletionCompactions, 1) }
    }

    private func job(rateLimiter: RateLimiter?) -> CompactionJob {
        let vs = versions
        var job = CompactionJob(fileSystem: fileSystem, directory: directory, options: options,
                                newFileNumber: { vs.newFileNumber() }, rateLimiter: rateLimiter)
        job.warmCache = blockCache
        return job
    }

    /// Logs an edit in the manifest. A manifest failure stops writes: the in-memory tree and
    /// the durable one could otherwise diverge.
    private func logEdit(_ edit: VersionEdit) throws(StorageError) -> Version {
        do {
            return try versions.logAndApply(edit)
        } catch {
            for (_, f) in edit.newFiles where !edit.deletedFiles.contains(where: { $0.number == f.number }) {
                try? fileSystem.removeFile(joinPath(directory, FileName.table(f.number).name))
            }
            if error.code == .diskFull { throw error }
            throw StorageError(.writesStopped, "manifest update failed: \(error)")
        }
    }
}
