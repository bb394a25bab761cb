import ApusCore
import Synchronization

/// The local, ordered, versioned key-value engine: an LSM tree with a write-ahead log.
///
/// Life of a write: `write` queues the batch; the writer at the head of the queue becomes the
/// leader, takes the batches queued behind it (group commit), assigns their sequence numbers,
/// appends them to the WAL as one record, syncs once if any batch asked for it, inserts them into
/// the memtable and publishes the new visible sequence. A batch too large for the memtable's room
/// is written alone, as one WAL record, into memtables sized for it that replace the frozen
/// current one (`OversizedParts`). A full memtable is frozen and flushed to a
/// level-0 table by the background thread, which also runs leveled compactions. Reads look at
/// the memtables, then level 0 newest first, then one table per deeper level.
///
/// Concurrency: the API is synchronous and thread-safe; calls block the calling thread (on I/O
/// and, when the engine is behind, on stalls). `monitor` guards the fields marked "guarded";
/// memtables are read lock-free while the one leader inserts; versions are immutable.
/// Call `close()` when done: the background thread keeps the engine alive until then.
public final class StorageEngine: @unchecked Sendable {
    let fileSystem: any FileSystem
    let directory: String
    let options: StorageOptions
    let versions: VersionSet
    let blockCache: BlockCache?
    let tableCache: TableCache
    let snapshots = SnapshotRegistry()
    let counters = EngineCounters()
    let monitor = Monitor()
    private let lock: any FileLock
    /// The sequence of the last write visible to readers (published after memtable insertion).
    let visibleSequence = Atomic<UInt64>(0)
    /// The last sequence the data directory held when it was opened (after WAL recovery).
    public let openSequence: SequenceNumber

    // Guarded by monitor.
    var mem: Memtable { didSet { cachedReadState = nil } }
    var memWALNumber: UInt64
    /// Frozen memtables awaiting flush, oldest first, with their WAL number and last sequence.
    var immutables: [(table: Memtable, walNumber: UInt64, lastSequence: SequenceNumber)] = [] {
        didSet { cachedReadState = nil }
    }
    var current: Version { didSet { cachedReadState = nil } }
    /// What `readState()` returns until the memtables or the version change (saves an
    /// allocation per read).
    private var cachedReadState: ReadState?
    var wal: LogWriter
    /// WAL bytes known to be good (whole records); a failed append truncates back to it.
    var walGoodBytes = 0
    /// Sequence numbers assigned so far (may be ahead of `visibleSequence` during a commit).
    var lastSequence: SequenceNumber
    var writers: [PendingWrite] = []
    /// A failure that stops all writes until reopen (failed fsync, manifest failure, corruption).
    var hardError: StorageError?
    /// A background failure from a full disk; cleared when a retry succeeds.
    var diskFullError: StorageError?
    var isClosed = false
    var isShuttingDown = false
    /// True until the background thread starts, and again once it has exited.
    var backgroundExited = true
    var manualCompactionLevel: Int?
    var manualCompactionDone = 0
    var compactionCursors: [[UInt8]?] = Array(repeating: nil, count: StorageOptions.levelCount)
    /// `userBytes` when the background thread last picked work: unchanged means the engine is
    /// idle, and level 0 may compact for a deletion-dense file (`CompactionPicker.pick`).
    var userBytesAtLastPick = -1
    var mvccGCThreshold: Timestamp?
    /// The snapshot that `retainVersions` holds (re-taken at open from the manifest).
    var retainedFloor: Snapshot?
    /// Set when the manifest must log the retained sequence before `retainVersions` returns.
    var retainedLogPending = false

    static let groupBytesMax = 1 << 20

    /// Opens (or creates) the data directory at `directory` on the real file system.
    public static func open(directory: String, options: StorageOptions = StorageOptions()) throws -> StorageEngine {
        try open(directory: directory, options: options, fileSystem: RealFileSystem())
    }

    /// Opens a data directory on any file system (tests use the in-memory, fault-injecting one).
    package static func open(directory: String, options: StorageOptions, fileSystem: any FileSystem) throws(StorageError) -> StorageEngine {
        try options.validate()
        // Refuse a foreign directory before touching it (not even a LOCK file).
        if fileSystem.exists(directory) && !fileSystem.exists(joinPath(directory, FileName.identity.name)) {
            let entries = try fileSystem.listDirectory(directory).filter { $0 != FileName.lock.name }
            if !entries.isEmpty {
                throw StorageError(.notADataDirectory, "\(directory) is not empty and has no IDENTITY file", path: directory)
            }
        }
        if !fileSystem.exists(directory) {
            guard options.createIfMissing else { throw StorageError(.notFound, "no data directory at \(directory)", path: directory) }
            try fileSystem.createDirectory(directory)
        }
        let lock = try fileSystem.lockFile(joinPath(directory, FileName.lock.name))
        do {
            return try StorageEngine(directory: directory, options: options, fileSystem: fileSystem, lock: lock)
        } catch {
            lock.unlock()
            throw error
        }
    }

    private init(directory: String, options: StorageOptions, fileSystem: any FileSystem, lock: any FileLock) throws(StorageError) {
        self.fileSystem = fileSystem
        self.directory = directory
        self.options = options
        self.lock = lock
        versions = try VersionSet.open(fileSystem: fileSystem, directory: directory, options: options)
        blockCache = options.blockCacheBytes > 0 ? BlockCache(capacityBytes: options.blockCacheBytes) : nil
        tableCache = TableCache(fileSystem: fileSystem, directory: directory, options: options, blockCache: blockCache)
        mem = Memtable(options: options, capacityBytes: StorageEngine.memtableCapacity(options))
        current = versions.base
        lastSequence = versions.lastSequence
        // Replay the WAL segments the manifest still needs, flushing what they hold to level 0.
        let recovered = try Recovery.replayWAL(engine: versions, options: options, tableCache: tableCache,
                                               memtableCapacity: StorageEngine.memtableCapacity(options))
        lastSequence = Swift.max(lastSequence, recovered.lastSequence)
        versions.lastSequence = lastSequence
        openSequence = lastSequence
        memWALNumber = versions.newFileNumber()
        wal = LogWriter(file: try fileSystem.createFile(versions.path(.wal(memWALNumber))), logNumber: memWALNumber)
        try fileSystem.syncDirectory(directory)
        try versions.writeNewManifest(logNumber: memWALNumber)
        current = versions.base
        visibleSequence.store(lastSequence, ordering: .releasing)
        // Before any compaction can run: keep what the owner asked to keep before the restart.
        if let r = versions.retainedSequence { retainedFloor = snapshot(atSequence: r) }
        deleteObsoleteFiles()
        startBackgroundThread()
    }

    /// The largest batch `write` accepts: what one WAL record may hold (512 MiB). A batch larger
    /// than the memtable is written as any other (see `commit`); this bound keeps one record, and
    /// the memory a commit and its recovery need, finite.
    public var batchBytesMax: Int { WALFormat.maxPayloadSize }

    /// The size at which the memtable is frozen (`StorageOptions.memtableBytesMax`): callers that
    /// combine batches (the SQL layer's group commit) keep a combination within it.
    public var memtableBytesMax: Int { options.memtableBytesMax }

    /// The order of the engine's keys (recorded in its manifest).
    public var comparator: KeyComparator { options.comparator }

    /// An upper bound on the arena bytes the memtable entries of `batch` take: each record with
    /// the tallest tower, plus its key and value, which the encoded batch holds.
    static func arenaBytesBound(_ batch: WriteBatch) -> Int {
        let perRecord = SkipList.nodeBytes(height: SkipList.maxHeight, keyBytes: InternalKey.trailerLength, valueBytes: 0)
        return batch.count * (perRecord + Arena.alignment) + batch.data.count
    }

    static func memtableCapacity(_ options: StorageOptions) -> Int {
        // Room for one group beyond the switch point, and for node overhead.
        options.memtableBytesMax * 2 + 4 * groupBytesMax
    }

    /// Closes the engine: stops background work, syncs the WAL and releases the directory.
    /// Unflushed writes stay in the WAL and are replayed by the next open.
    public func close() throws {
        try close(syncWAL: true)
    }

    /// Closes without syncing the WAL: what a crash leaves, once the background thread has
    /// finished its current job. Tests use it before simulating a crash of the file system.
    package func closeForCrashTest() {
        try? close(syncWAL: false)
    }

    private func close(syncWAL: Bool) throws {
        monitor.lock()
        if isClosed { monitor.unlock(); return }
        isClosed = true
        isShuttingDown = true
        monitor.broadcast()
        monitor.signalWork()
        while !backgroundExited { monitor.wait() }
        let failure = hardError
        monitor.unlock()
        if failure == nil && syncWAL { try? wal.sync() }
        try? wal.close()
        versions.close()
        lock.unlock()
    }

    // The background thread holds the engine, so `close()` is required to stop it; deinit only
    // runs on its own when `init` failed part-way, before that thread started.
    deinit {
        if !isClosed { try? close(syncWAL: false) }
    }

    // MARK: - Writes

    /// A batch waiting in the writer queue.
    final class PendingWrite {
        let batch: WriteBatch
        let sync: Bool
        let forceMemtableSwitch: Bool
        var isDone = false
        var error: StorageError?
        init(batch: WriteBatch, sync: Bool, forceMemtableSwitch: Bool = false) {
            self.batch = batch
            self.sync = sync
            self.forceMemtableSwitch = forceMemtableSwitch
        }
    }

    /// Applies `batch` atomically.
    ///
    /// - Parameter sync: whether the batch is durable (fdatasync'ed in the WAL) when this returns;
    ///   nil uses `options.syncByDefault`. An unsynced batch may be lost by a crash, but never
    ///   partially: batches are atomic on recovery.
    /// - Throws: `.invalidArgument` for oversized keys or values, `.diskFull` when the disk is
    ///   full (the engine keeps serving reads and accepts writes again once space is freed),
    ///   `.writesStopped` after a failed fsync or another unrecoverable failure, `.closed`.
    public func write(_ batch: WriteBatch, sync: Bool? = nil) throws(StorageError) {
        guard !batch.isEmpty else { return }
        guard batch.keyBytesMax <= options.keyBytesMax else {
            throw StorageError(.invalidArgument, "key of \(batch.keyBytesMax) bytes exceeds keyBytesMax \(options.keyBytesMax)")
        }
        guard batch.valueBytesMax <= options.valueBytesMax else {
            throw StorageError(.invalidArgument, "value of \(batch.valueBytesMax) bytes exceeds valueBytesMax \(options.valueBytesMax)")
        }
        guard batch.data.count <= batchBytesMax else {
            throw StorageError(.invalidArgument, "batch of \(batch.data.count) bytes exceeds the limit of \(batchBytesMax) bytes")
        }
        try commit(PendingWrite(batch: batch, sync: sync ?? options.syncByDefault))
    }

    public func put(_ key: some Collection<UInt8>, _ value: some Collection<UInt8>, sync: Bool? = nil) throws(StorageError) {
        var b = WriteBatch()
        b.put(key, value)
        try write(b, sync: sync)
    }

    public func delete(_ key: some Collection<UInt8>, sync: Bool? = nil) throws(StorageError) {
        var b = WriteBatch()
        b.delete(key)
        try write(b, sync: sync)
    }

    /// Deletes every key in `[start, end)`.
    public func deleteRange(_ start: some Collection<UInt8>, _ end: some Collection<UInt8>, sync: Bool? = nil) throws(StorageError) {
        var b = WriteBatch()
        b.deleteRange(start, end)
        try write(b, sync: sync)
    }

    private func commit(_ w: PendingWrite) throws(StorageError) {
        monitor.lock()
        writers.append(w)
        while !w.isDone && writers.first !== w { monitor.wait() }
        if w.isDone {
            monitor.unlock()
            if let e = w.error { throw e }
            return
        }
        // This writer leads a group.
        var group: [PendingWrite] = [w]
        var failure: StorageError?
        // A batch whose entries may not fit the memtable's room goes alone into memtables of
        // its own (see `OversizedParts`), after the current memtable is frozen.
        var bound = StorageEngine.arenaBytesBound(w.batch)
        let oversized = bound > options.memtableBytesMax
        do throws(StorageError) {
            try makeRoomForWrite(bytes: oversized ? 0 : w.batch.data.count, force: w.forceMemtableSwitch || oversized)
        } catch {
            failure = error
        }
        var combined = w.batch
        if failure == nil && !w.forceMemtableSwitch && !oversized {
            var bytes = combined.data.count
            let room = mem.availableBytes
            for other in writers.dropFirst() {
                if other.forceMemtableSwitch || (other.sync && !w.sync) { break }
                if bytes + other.batch.data.count > StorageEngine.groupBytesMax { break }
                let otherBound = StorageEngine.arenaBytesBound(other.batch)
                if bound + otherBound > room { break }
                bytes += other.batch.data.count
                bound += otherBound
                group.append(other)
                combined.append(contentsOf: other.batch)
            }
        }
        let firstSequence = lastSequence + 1
        if failure == nil { lastSequence += UInt64(combined.count) }
        let table = mem
        let needsSync = group.contains { $0.sync }
        monitor.unlock()

        var parts: OversizedParts?
        if failure == nil && !combined.isEmpty {
            combined.setHeader(sequence: firstSequence)
            if oversized { parts = OversizedParts(combined, firstSequence: firstSequence, engine: self) }
            failure = appendToWAL(combined, sync: needsSync)
            if failure == nil {
                if let parts { parts.apply(combined) } else { apply(combined, firstSequence: firstSequence, to: table) }
                counters.add(counters.userBytes, combined.payloadBytes)
            }
        }

        monitor.lock()
        if failure == nil && !combined.isEmpty {
            if let parts { install(parts) }
            visibleSequence.store(firstSequence + UInt64(combined.count) - 1, ordering: .releasing)
        } else if failure != nil {
            lastSequence = visibleSequence.load(ordering: .acquiring)
        }
        for g in group {
            g.error = failure
            g.isDone = true
        }
        writers.removeFirst(group.count)
        monitor.broadcast()
        monitor.unlock()
        if let failure { throw failure }
    }

    /// Appends one record to the WAL (and syncs it). Called by the leader only, without the lock.
    private func appendToWAL(_ batch: WriteBatch, sync: Bool) -> StorageError? {
        do throws(StorageError) {
            try wal.addRecord(batch.data)
            if sync {
                try wal.sync()
                counters.walSyncs.wrappingAdd(1, ordering: .relaxed)
            }
            walGoodBytes = wal.size
            counters.add(counters.walBytes, batch.data.count)
            return nil
        } catch {
            return walFailed(error, during: sync ? "append or sync" : "append")
        }
    }

    /// Handles a failed WAL write. A failed fsync stops writes for good: the kernel may have
    /// dropped the dirty pages, so retrying could report durability that does not exist. A full
    /// disk cuts the segment back to its last whole record and starts a new segment, so the log
    /// stays well-formed and writes resume when space is freed.
    private func walFailed(_ error: StorageError, during what: String) -> StorageError {
        if error.code == .diskFull {
            let oldPath = versions.path(.wal(memWALNumber))
            do throws(StorageError) {
                try? wal.close()
                try fileSystem.truncate(oldPath, to: walGoodBytes)
                let n = versions.newFileNumber()
                let f = try fileSystem.createFile(versions.path(.wal(n)))
                wal = LogWriter(file: f, logNumber: n)
                try fileSystem.syncDirectory(directory)
                monitor.withLock {
                    // The memtable now spans two segments; both stay until it is flushed.
                    memWALNumber = Swift.min(memWALNumber, n)
                }
                walGoodBytes = 0
                return error
            } catch {
                return stopWrites(StorageError(.writesStopped, "WAL could not be repaired after a full disk: \(error)"))
            }
        }
        return stopWrites(StorageError(.writesStopped, "WAL \(what) failed; writes stopped until reopen: \(error)",
                                       path: versions.path(.wal(memWALNumber))))
    }

    private func stopWrites(_ e: StorageError) -> StorageError {
        monitor.withLock {
            if hardError == nil { hardError = e }
        }
        return e
    }

    private func apply(_ batch: WriteBatch, firstSequence: SequenceNumber, to table: Memtable) {
        var seq = firstSequence
        batch.forEachRecord { kind, key, value in
            precondition(table.hasRoom(keyBytes: key.count, valueBytes: value.count), "memtable sized for the group")
            table.add(sequence: seq, kind: kind, key: key, value: value)
            seq += 1
        }
    }

    /// The memtables that hold one oversized batch: consecutive runs of its records, each in a
    /// memtable whose arena is sized for the run with every tower at its tallest, a run ending
    /// before it would pass the usual memtable capacity (a single larger record gets a memtable
    /// of its own size). They are filled outside the monitor, after the WAL append, and
    /// installed together before the batch becomes visible: the earlier runs as frozen
    /// memtables, the last as the active one. All of them belong to the WAL segment that holds
    /// the batch's one record, so a crash replays all of it or none of it; recovery skips the
    /// entries of runs already flushed (`Recovery`).
    struct OversizedParts {
        var tables: [(table: Memtable, lastSequence: SequenceNumber)] = []
        private var counts: [Int] = []

        init(_ batch: WriteBatch, firstSequence: SequenceNumber, engine: StorageEngine) {
            let target = StorageEngine.memtableCapacity(engine.options)
            let head = SkipList.nodeBytes(height: SkipList.maxHeight, keyBytes: 0, valueBytes: 0) + Arena.alignment
            var runs: [(count: Int, bytes: Int)] = []
            var count = 0, bytes = 0
            batch.forEachRecord { _, key, value in
                let node = SkipList.nodeBytes(height: SkipList.maxHeight, keyBytes: key.count + InternalKey.trailerLength,
                                              valueBytes: value.count)
                if count > 0 && head + bytes + node > target {
                    runs.append((count, bytes))
                    count = 0
                    bytes = 0
                }
                count += 1
                bytes += node
            }
            if count > 0 { runs.append((count, bytes)) }
            var last = firstSequence - 1
            for r in runs {
                last += UInt64(r.count)
                let table = Memtable(options: engine.options, capacityBytes: Swift.max(1024, head + r.bytes))
                tables.append((table, last))
                counts.append(r.count)
            }
        }

        /// Inserts the batch's records (sequences from its header) into the runs' memtables.
        func apply(_ batch: WriteBatch) {
            var seq = tables[0].lastSequence - UInt64(counts[0]) + 1
            var part = 0, left = counts[0]
            batch.forEachRecord { kind, key, value in
                if left == 0 {
                    part += 1
                    left = counts[part]
                }
                let table = tables[part].table
                precondition(table.hasRoom(keyBytes: key.count, valueBytes: value.count), "memtable sized for its run")
                table.add(sequence: seq, kind: kind, key: key, value: value)
                seq += 1
                left -= 1
            }
        }
    }

    /// Installs the memtables of an oversized batch in place of the (empty) active memtable.
    /// - Precondition: the caller holds the monitor and leads the writer queue.
    private func install(_ parts: OversizedParts) {
        precondition(mem.isEmpty, "an oversized batch follows a memtable switch")
        for p in parts.tables.dropLast() { immutables.append((p.table, memWALNumber, p.lastSequence)) }
        mem = parts.tables[parts.tables.count - 1].table
        monitor.signalWork()
    }

    /// Ensures the memtable has room for `bytes`, freezing it or stalling as needed.
    /// - Precondition: the caller holds the monitor and leads the writer queue.
    private func makeRoomForWrite(bytes: Int, force: Bool) throws(StorageError) {
        var slowedDown = false
        var retriedAfterDiskFull = false
        var force = force
        let stallStart = monotonicNanos()
        var stalled = false
        defer {
            if stalled {
                counters.writeStalls.wrappingAdd(1, ordering: .relaxed)
                counters.writeStallNanos.wrappingAdd(monotonicNanos() - stallStart, ordering: .relaxed)
            }
        }
        while true {
            if let e = hardError { throw e }
            if isClosed { throw StorageError(.closed, "engine is closed") }
            let l0 = current.levels[0].count
            if !slowedDown && l0 >= options.level0SlowdownTrigger {
                // Slow each write a little rather than stopping all writes later.
                slowedDown = true
                stalled = true
                monitor.wait(nanoseconds: 1_000_000)
                continue
            }
            if !force && mem.approximateBytes + bytes <= options.memtableBytesMax { return }
            if force && mem.isEmpty { return }
            if immutables.count >= options.immutableMemtablesMax || l0 >= options.level0StopTrigger {
                if let e = diskFullError {
                    // Give the background one prompt retry (space may have been freed), then
                    // fail this write rather than hang while the disk stays full.
                    if retriedAfterDiskFull { throw e }
                    retriedAfterDiskFull = true
                    diskFullError = nil
                    monitor.signalWork()
                    monitor.wait(nanoseconds: 200_000_000)
                    continue
                }
                stalled = true
                monitor.signalWork()
                monitor.wait(nanoseconds: 100_000_000)
                continue
            }
            try switchMemtable()
            force = false
        }
    }

    /// Freezes the memtable and starts a new WAL segment for its successor.
    private func switchMemtable() throws(StorageError) {
        let n = versions.newFileNumber()
        let f = try fileSystem.createFile(versions.path(.wal(n)))
        // The new segment's name must be durable before a synced write lands in it.
        try fileSystem.syncDirectory(directory)
        try? wal.sync()
        try? wal.close()
        wal = LogWriter(file: f, logNumber: n)
        walGoodBytes = 0
        immutables.append((mem, memWALNumber, lastSequence))
        mem = Memtable(options: options, capacityBytes: StorageEngine.memtableCapacity(options))
        memWALNumber = n
        monitor.signalWork()
    }

    // MARK: - Reads

    /// Takes a snapshot of everything committed so far.
    public func snapshot() -> Snapshot {
        Snapshot(sequence: visibleSequence.load(ordering: .acquiring), registry: snapshots)
    }

    /// A snapshot at an earlier `sequence` (clamped to the visible one). It reads correctly only
    /// while an older snapshot is held from before `sequence` was overwritten (compaction keeps
    /// what the oldest live snapshot can see): the transaction layer's time-travel reads hold
    /// such a floor for their garbage-collection window.
    public func snapshot(atSequence sequence: SequenceNumber) -> Snapshot {
        Snapshot(sequence: Swift.min(sequence, visibleSequence.load(ordering: .acquiring)), registry: snapshots)
    }

    private let attachments = Mutex<[String: any AnyObject & Sendable]>([:])

    /// The object stored under `key` for this engine, made by `make` on first use: state that
    /// every user of one engine must share (the SQL layer's transaction coordinator).
    public func attachment<T: AnyObject & Sendable>(_ key: String, _ make: () -> T) -> T {
        attachments.withLock { m -> T in
            if let existing = m[key] as? T { return existing }
            let made = make()
            m[key] = made
            return made
        }
    }

    /// The state a read works on: memtables newest first and the current version.
    struct ReadState {
        let memtables: [Memtable]
        let version: Version
        /// The tables of `version` that hold range deletions, found once per state (reads look
        /// up only these; the memtables are asked live, since the current one can gain some
        /// while this state is cached).
        let tablesWithRangeTombstones: [TableFile]
        var tablesHaveRangeTombstones: Bool { !tablesWithRangeTombstones.isEmpty }

        init(memtables: [Memtable], version: Version) {
            self.memtables = memtables
            self.version = version
            tablesWithRangeTombstones = version.levels.flatMap { $0.filter { $0.rangeTombstoneCount > 0 } }
        }
    }

    func readState() -> ReadState {
        monitor.withLock {
            if let s = cachedReadState { return s }
            let s = ReadState(memtables: [mem] + immutables.reversed().map(\.table), version: current)
            cachedReadState = s
            return s
        }
    }

    /// Returns the value of `key`, or nil if it is absent, as of `snapshot` (or now).
    public func get(_ key: some Collection<UInt8>, snapshot: Snapshot? = nil) throws(StorageError) -> [UInt8]? {
        let seq = snapshot?.sequence ?? visibleSequence.load(ordering: .acquiring)
        let state = readState()
        let userKey = Array(key)
        // `withUnsafeBytes` rethrows untyped errors; carry the typed one out in a Result.
        let result: Result<[UInt8]?, StorageError> = userKey.withUnsafeBytes { raw in
            do throws(StorageError) {
                return .success(try lookup(raw, userKey: userKey, sequence: seq, state: state))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private func lookup(_ raw: UnsafeRawBufferPointer, userKey: [UInt8], sequence seq: SequenceNumber,
                        state: ReadState) throws(StorageError) -> [UInt8]? {
        let cmp = options.comparator
        var tombstoneSeq: SequenceNumber = 0
        func noteTombstones(_ ts: [RangeTombstone]) {
            for t in ts where t.sequence <= seq && t.sequence > tombstoneSeq && t.covers(raw, entrySequence: 0, readSequence: seq, comparator: cmp) {
                tombstoneSeq = t.sequence
            }
        }
        let keyHash = bloomHash(UnsafeRawBufferPointer(rebasing: raw[0..<cmp.prefixLength(raw)]))
        for m in state.memtables {
            noteTombstones(m.rangeTombstones())
            if !m.mayContain(keyHash: keyHash) { continue }
            switch m.get(userKey: raw, sequence: seq) {
            case .found(let v, let s): return s > tombstoneSeq ? v : nil
            case .deleted: return nil
            case .notFound: continue
            }
        }
        let target = InternalKey.seekTarget(userKey, seq)
        func probe(_ f: TableFile) throws(StorageError) -> (found: Bool, value: [UInt8]?) {
            let reader = try tableCache.reader(fileNumber: f.number)
            if f.rangeTombstoneCount > 0 { noteTombstones(reader.rangeTombstones) }
            guard let (k, v) = try reader.get(target, keyHash: keyHash), let p = InternalKey.parse(k) else { return (false, nil) }
            if p.sequence <= tombstoneSeq { return (true, nil) }
            return (true, p.kind == .put ? v : nil)
        }
        let userSlice = userKey[...]
        for f in state.version.levels[0]
        where state.version.compareUser(f.smallestUserKey, userSlice) <= 0 && state.version.compareUser(f.largestUserKey, userSlice) >= 0 {
            let r = try probe(f)
            if r.found { return r.value }
        }
        for level in 1..<StorageOptions.levelCount where !state.version.levels[level].isEmpty {
            let i = state.version.findFile(level: level, target: target)
            guard i < state.version.levels[level].count else { continue }
            let f = state.version.levels[level][i]
            guard state.version.compareUser(f.smallestUserKey, userSlice) <= 0 else { continue }
            let r = try probe(f)
            if r.found { return r.value }
        }
        return nil
    }

    /// An iterator over the user keys and values visible at `snapshot` (or now), within the
    /// bounds of `options`.
    public func makeIterator(_ iteratorOptions: IteratorOptions = IteratorOptions(), snapshot: Snapshot? = nil) throws(StorageError) -> StorageIterator {
        let snap = snapshot ?? self.snapshot()
        return try makeIterator(iteratorOptions, snapshot: snap, state: readState())
    }

    /// An iterator over `state` (tests give states of their own making).
    func makeIterator(_ iteratorOptions: IteratorOptions, snapshot snap: Snapshot,
                      state: ReadState) throws(StorageError) -> StorageIterator {
        let cmp = options.comparator
        var children: [any InternalIterator] = []
        var tombstones: [RangeTombstone] = state.memtables.flatMap { $0.rangeTombstones() }
        // A read of one key's entries leaves out the memtables and tables whose whole-key filter
        // lacks the key, a read of one prefix's keys those whose filter lacks the prefix (their
        // range tombstones still apply).
        let filter = readFilter(onlyKey: iteratorOptions.onlyKey, lower: iteratorOptions.lowerBound,
                                upper: iteratorOptions.upperBound)
        // The iterator's bounds as user keys (one key's entries for `onlyKey`): for finding a
        // level's files, and to leave out level-0 tables wholly outside them.
        let keyBounds = iteratorOptions.onlyKey.map { StorageIterator.keyBounds($0, cmp) }
        let lowerBound = keyBounds?.0 ?? iteratorOptions.lowerBound, upperBound = keyBounds?.1 ?? iteratorOptions.upperBound
        var skipped = 0
        for m in state.memtables {
            if let f = filter, !f.mayMatch(m) {
                skipped += 1
                continue
            }
            children.append(m.makeIterator())
        }
        for f in state.version.levels[0] {
            // Outside the bounds (and without range tombstones): left out before its reader is looked up.
            if f.rangeTombstoneCount == 0, !state.version.overlaps(f, lower: lowerBound?[...], upper: upperBound?[...]) { continue }
            let reader = try tableCache.reader(fileNumber: f.number)
            if f.rangeTombstoneCount > 0 { tombstones += reader.rangeTombstones }
            if let r = filter, !r.mayMatch(reader) {
                skipped += 1
                continue
            }
            children.append(reader.makeIterator())
        }
        for level in 1..<StorageOptions.levelCount where !state.version.levels[level].isEmpty {
            for f in state.version.levels[level] where f.rangeTombstoneCount > 0 {
                tombstones += try tableCache.reader(fileNumber: f.number).rangeTombstones
            }
            if let r = filter, try !levelMayMatch(state.version, level, r, lower: lowerBound ?? [], upper: upperBound ?? []) {
                skipped += 1
                continue
            }
            children.append(LevelIterator(version: state.version, level: level, tableCache: tableCache))
        }
        if skipped > 0 {
            if iteratorOptions.onlyKey == nil { counters.add(counters.prefixFilterSkips, skipped) } else { counters.add(counters.keyFilterSkips, skipped) }
        }
        let merged = MergingIterator(children: children, comparator: cmp)
        return StorageIterator(input: merged, snapshot: snap, tombstones: tombstones, options: iteratorOptions,
                               comparator: cmp, pinned: state)
    }

    /// The filter a read of `onlyKey`'s entries, or of the keys in `[lower, upper)`, may test
    /// its memtables and tables with: the key's whole-key hash, or the hash of the one prefix
    /// (`StorageOptions.bloomPrefix`) all keys in the bounds share; nil when there is neither.
    func readFilter(onlyKey: [UInt8]?, lower: [UInt8]?, upper: [UInt8]?) -> ReadFilter? {
        if let k = onlyKey { return ReadFilter(hash: k.withUnsafeBytes { bloomHash($0) }, prefix: nil, group: k[...]) }
        guard let fn = options.bloomPrefix, let lower, let upper,
              let p = fn.sharedPrefix(lower: lower, upper: upper, comparator: options.comparator) else { return nil }
        return ReadFilter(hash: p.hash, prefix: fn, group: lower[0..<p.length])
    }

    /// What the filters of a bounded read test: one key's hash (`prefix` nil; whole-key bits,
    /// `KeyComparator.prefixLength`) or one prefix's hash as `prefix` extracts it.
    package struct ReadFilter {
        let hash: UInt64
        let prefix: BloomPrefix?
        /// The bytes hashed: the key (its `prefixLength` part), or the prefix. Every key in the
        /// read's bounds has them (the memtables' group indexes start a probe at their group).
        /// A slice of the key or of the lower bound: made per read, so it copies nothing.
        let group: ArraySlice<UInt8>

        func mayMatch(_ m: Memtable) -> Bool {
            prefix.map { m.mayContain(prefixHash: hash, of: $0) } ?? m.mayContain(keyHash: hash)
        }

        func mayMatch(_ r: TableReader) -> Bool {
            prefix.map { r.mayContain(prefixHash: hash, of: $0) } ?? r.mayContain(keyHash: hash)
        }
    }

    /// Whether a file of sorted `level` that overlaps the read's `[lower, upper)` may hold a
    /// key `filter` filters for.
    private func levelMayMatch(_ v: Version, _ level: Int, _ filter: ReadFilter, lower: [UInt8],
                               upper: [UInt8]) throws(StorageError) -> Bool {
        let files = v.levels[level]
        var i = v.findFile(level: level, target: InternalKey.seekTarget(lower, maxSequenceNumber))
        while i < files.count && v.compareUser(files[i].smallestUserKey, upper[...]) < 0 {
            if try filter.mayMatch(tableCache.reader(fileNumber: files[i].number)) { return true }
            i += 1
        }
        return false
    }

    // MARK: - Maintenance

    /// Flushes the memtable to a level-0 table and waits until every frozen memtable is flushed.
    public func flush() throws(StorageError) {
        try commit(PendingWrite(batch: WriteBatch(), sync: false, forceMemtableSwitch: true))
        monitor.lock()
        defer { monitor.unlock() }
        while !immutables.isEmpty {
            if let e = hardError { throw e }
            if let e = diskFullError { throw e }
            monitor.signalWork()
            monitor.wait(nanoseconds: 50_000_000)
        }
    }

    /// Flushes, then compacts every level into the next until all data is in one level.
    public func compactAll() throws(StorageError) {
        try flush()
        for level in 0..<(StorageOptions.levelCount - 1) {
            monitor.lock()
            let empty = current.levels[level].isEmpty
            let target = manualCompactionDone + 1
            if !empty { manualCompactionLevel = level; monitor.signalWork() }
            while !empty && manualCompactionDone < target {
                if let e = hardError { monitor.unlock(); throw e }
                monitor.wait(nanoseconds: 50_000_000)
            }
            monitor.unlock()
        }
    }

    /// Keeps every version visible at `sequence` or later readable, across compactions and
    /// restarts, until a later call moves the bound: a snapshot held by the engine whose
    /// sequence is recorded in the manifest, and taken again at open before any compaction can
    /// run. The SQL layer's AS OF SYSTEM TIME keeps its garbage-collection window with it.
    ///
    /// The sequence is logged with the next manifest edit (a flush or compaction, which are
    /// what could drop versions); only the first call on a data directory logs it at once and
    /// waits for that. A moved bound that a crash loses leaves the older one, which keeps more.
    public func retainVersions(fromSequence sequence: SequenceNumber) throws(StorageError) {
        let floor = snapshot(atSequence: sequence)
        monitor.lock()
        defer { monitor.unlock() }
        let logged = versions.retainedSequence != nil
        retainedFloor = floor
        versions.retainedSequence = floor.sequence
        guard !logged else { return }
        retainedLogPending = true
        monitor.signalWork()
        while retainedLogPending {
            if let e = hardError { throw e }
            if isClosed { throw StorageError(.closed, "engine is closed") }
            if let e = diskFullError { throw e }
            monitor.wait(nanoseconds: 50_000_000)
        }
    }

    /// The sequence `retainVersions` keeps versions from, if any (as logged or about to be).
    public var retainedSequence: SequenceNumber? { versions.retainedSequence }

    /// Sets the MVCC garbage-collection threshold: compactions drop versions with timestamps at
    /// or below it, keeping the newest such version of each key. Only for the `.mvcc` comparator.
    public func setMVCCGCThreshold(_ ts: Timestamp?) {
        monitor.withLock { mvccGCThreshold = ts }
    }

    /// A reading of the engine's counters.
    public func metrics() -> StorageMetrics {
        let (v, memBytes, imm) = monitor.withLock { (current, mem.approximateBytes, immutables.count) }
        return StorageMetrics(
            levelBytes: (0..<StorageOptions.levelCount).map { v.levelBytes($0) },
            levelFiles: v.levels.map(\.count),
            memtableBytes: memBytes, immutableMemtables: imm,
            flushCount: counters.flushCount.load(ordering: .relaxed),
            flushBytesWritten: counters.flushBytes.load(ordering: .relaxed),
            compactionCount: counters.compactionCount.load(ordering: .relaxed),
            trivialMoveCount: counters.trivialMoves.load(ordering: .relaxed),
            compactionBytesRead: counters.compactionBytesRead.load(ordering: .relaxed),
            compactionBytesWritten: counters.compactionBytesWritten.load(ordering: .relaxed),
            blockCacheHits: blockCache?.hits ?? 0, blockCacheMisses: blockCache?.misses ?? 0,
            blockCacheBytes: blockCache?.usedBytes ?? 0, openTables: tableCache.openCount,
            writeStalls: counters.writeStalls.load(ordering: .relaxed),
            writeStallNanos: counters.writeStallNanos.load(ordering: .relaxed),
            userBytesWritten: counters.userBytes.load(ordering: .relaxed),
            walBytesWritten: counters.walBytes.load(ordering: .relaxed),
            gcBytesReclaimed: counters.gcBytes.load(ordering: .relaxed),
            liveSnapshots: snapshots.count,
            prefixFilterSkips: counters.prefixFilterSkips.load(ordering: .relaxed),
            keyFilterSkips: counters.keyFilterSkips.load(ordering: .relaxed),
            deletionCompactionCount: counters.deletionCompactions.load(ordering: .relaxed))
    }

    /// WAL fsyncs made by commits (group commit makes this smaller than the synced writes).
    package var walSyncCount: Int { counters.walSyncs.load(ordering: .relaxed) }

    /// Deletes files no version needs: old WAL segments, unreferenced tables, temp files, old manifests.
    /// - Precondition: the background thread is not running (it creates tables not yet in a version).
    func deleteObsoleteFiles() {
        let (live, logNumber, manifest) = monitor.withLock {
            (Set(current.allFiles.map(\.number)), versions.logNumber, versions.manifestNumber)
        }
        let walInUse = monitor.withLock { Set(immutables.map(\.walNumber) + [memWALNumber]) }
        guard let names = try? fileSystem.listDirectory(directory) else { return }
        for name in names {
            let obsolete: Bool
            switch FileName(parsing: name) {
            case .wal(let n)?: obsolete = n < logNumber && !walInUse.contains(n)
            case .table(let n)?: obsolete = !live.contains(n)
            case .temp?: obsolete = true
            case .manifest(let n)?: obsolete = n != manifest
            default: obsolete = false
            }
            if obsolete { try? fileSystem.removeFile(joinPath(directory, name)) }
        }
    }
}

/// Bounds and direction hints for an iterator.
public struct IteratorOptions: Sendable {
    /// Smallest user key to return (inclusive).
    public var lowerBound: [UInt8]?
    /// User keys must be below this (exclusive).
    public var upperBound: [UInt8]?
    /// Only user keys starting with these bytes (for the MVCC comparator: of the key part).
    public var prefix: [UInt8]?
    /// Only this user key (for the MVCC comparator: the entries of this key part, its
    /// unversioned entry and every version), read from the memtables and tables whose whole-key
    /// filters may hold it: a point read that needs more than the newest entry.
    public var onlyKey: [UInt8]?

    public init(lowerBound: [UInt8]? = nil, upperBound: [UInt8]? = nil, prefix: [UInt8]? = nil, onlyKey: [UInt8]? = nil) {
        self.lowerBound = lowerBound
        self.upperBound = upperBound
        self.prefix = prefix
        self.onlyKey = onlyKey
    }
}
