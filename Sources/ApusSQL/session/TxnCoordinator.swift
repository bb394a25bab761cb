import ApusCore
import ApusStorage
import Foundation
import struct ApusKV.KVError
import enum ApusKV.LockMode
import class ApusKV.CommitLog
import class ApusKV.KVRange
import class ApusKV.LockManager
import class ApusKV.RangeRouter
import typealias ApusKV.TxnID

/// A transaction's storage snapshot, which the coordinator takes away once the transaction is
/// older than the garbage-collection window (at least a minute): the transaction then fails
/// with 72000 instead of holding back compaction without bound.
///
/// On the MVCC layout reads go by timestamp, each on an engine snapshot of its own, so the
/// lease holds no engine snapshot (`engine` nil at init): it only tells whether the
/// transaction is still within the window (`check`). Registering a snapshot per transaction
/// with the engine was a lock taken twice and an object made per statement.
///
/// Concurrency: `Sendable`; the snapshot sits behind a mutex.
final class SnapshotLease: @unchecked Sendable {
    private let lock = NSLock()
    private var snapshot: Snapshot?
    private var expired = false
    /// When the snapshot was taken (ns since 1970).
    let wall: Int64
    /// The window it outlived, for the error message (seconds).
    private var window: Int64 = 0

    init(_ snapshot: Snapshot?, wall: Int64 = SystemClock.wallNanos()) {
        self.snapshot = snapshot
        self.wall = wall
    }

    /// The snapshot, while the lease holds.
    /// - Precondition: the lease was made with a snapshot (not an MVCC-layout lease).
    func get() throws(SQLError) -> Snapshot {
        lock.lock()
        defer { lock.unlock() }
        try checkLocked()
        guard let snapshot else { preconditionFailure("an MVCC-layout lease holds no engine snapshot") }
        return snapshot
    }

    /// Fails with 72000 once the lease expired.
    func check() throws(SQLError) {
        lock.lock()
        defer { lock.unlock() }
        try checkLocked()
    }

    private func checkLocked() throws(SQLError) {
        guard !expired else {
            throw SQLError(
                SQLState("72000"),
                "snapshot too old: the transaction's snapshot is more than \(window) s old, past the garbage-collection window")
        }
    }

    func expire(window seconds: Int64) {
        lock.lock()
        snapshot = nil
        expired = true
        window = seconds
        lock.unlock()
    }
}

/// Concurrency control for every SQL session on one storage engine: row locks, conflict
/// detection, the commit queue and time-travel reads.
///
/// The model (see docs/ARCHITECTURE.md, "Transactions under SQL"):
/// - A transaction reads a storage snapshot (its own writes overlaid), taken at BEGIN, or at each
///   statement under READ COMMITTED. Readers take no locks and never wait.
/// - A write first takes the key's exclusive lock in the `LockManager` (conflicting writers
///   queue; a wait that closes a cycle fails at once with 40P01; `lock_timeout` gives 55P03),
///   then checks whether another transaction committed the key after the snapshot: REPEATABLE
///   READ and SERIALIZABLE fail with 40001 (first committer wins); READ COMMITTED re-runs the
///   statement on a fresh snapshot, as PostgreSQL re-evaluates an updated row.
/// - SERIALIZABLE transactions that wrote validate at commit: nothing they read (keys and
///   scanned ranges) was committed by another transaction after their snapshot. Validated
///   transactions are therefore equivalent to running one at a time in commit order.
/// - Sequence layout: commits are numbered in validation order and written in that order by one
///   writer at a time, several transactions per synced batch (group commit), so every snapshot
///   holds a prefix of the commit order: read-only transactions are serializable without
///   validation.
/// - MVCC layout: there is no order of all commits. A commit decides on the ranges it wrote and
///   read, under their decision locks (`decide`): it validates there, draws its timestamp from
///   the clock and notes its writes. The timestamp is in flight until the group write holding the
///   commit is applied, and readers read below every timestamp in flight
///   (`MVCCLayer.readTimestamp`), so a read-only transaction still sees a state that no later
///   commit changes below its timestamp. Group commit only batches syncs; a commit is
///   acknowledged once every commit drawn below it is applied (`MVCCLayer.waitVisible`).
///
/// Concurrency: `Sendable`; all state is behind one `NSCondition`, never held during I/O.
public final class TxnCoordinator: @unchecked Sendable {
    /// The default garbage-collection window: 4 hours.
    public static let defaultGCWindow: Duration = .seconds(4 * 3600)

    /// The coordinator of `engine`, shared by every session on it; the first call makes it,
    /// with `gcWindow` (later calls' windows are ignored).
    ///
    /// `splitPoints` (MVCC layout, tests): split the key space into ranges there, over the one
    /// engine; nil: as `APUS_TEST_RANGES` says (`MVCCLayer.testSplitPoints`), else one range.
    public static func shared(_ engine: StorageEngine, gcWindow: Duration = defaultGCWindow,
                              splitPoints: [[UInt8]]? = nil) -> TxnCoordinator {
        engine.attachment("apus.sql.transactions") { TxnCoordinator(engine: engine, gcWindow: gcWindow, splitPoints: splitPoints) }
    }

    let engine: StorageEngine
    /// The MVCC layout's shared state, when the engine uses that layout (see `MVCCLayer`).
    public let mvcc: MVCCLayer?
    /// MVCC layout: the newest commit timestamp of the commits in `group` or written before
    /// (what the group write stores for the clock). Guarded by `cond`.
    private var groupLastTS = Timestamp.zero
    /// MVCC layout: the commit timestamps of the commits in `group`, in flight until it is
    /// written (`MVCCLayer.applied`). Guarded by `cond`.
    private var groupTimestamps: [Timestamp] = []
    /// When the MVCC garbage-collection threshold was last moved (ns).
    private var lastGCThreshold: Int64 = 0
    /// Row and schema locks: on the MVCC layout one lock table per range, a key's lock in the
    /// table of the range holding it.
    public let locks: LockManager
    private let cond = NSCondition()

    // Guarded by `cond`.
    /// Commits validated so far (the last one's number).
    private var registered: UInt64 = 0
    /// Commits written to the engine, in order.
    private var applied: UInt64 = 0
    /// Sequence layout (one range on one engine): the keys written by the commits an open
    /// transaction may still conflict with, by commit number (`stamp(_:)`). On the MVCC layout
    /// each range keeps its own, by commit timestamp (`KVRange.commits`).
    private let commitLog = CommitLog(floor: .zero)

    /// The sequence layout's commit-log stamp of commit (or start point) number `n`.
    private static func stamp(_ n: UInt64) -> Timestamp { Timestamp(wallNanos: n) }
    /// The start points (`applied` at their snapshot) of open transactions, as a multiset.
    private var active: [UInt64: Int] = [:]
    /// MVCC layout: the oldest read timestamp of the open transactions at each start point in
    /// `active` (the first one's: read timestamps do not decrease). Transactions with one start
    /// point read at different timestamps: with nothing in flight each reads at the clock's next.
    private var startTS: [UInt64: Timestamp] = [:]
    /// MVCC layout: what the ranges' commit logs were last told to forget.
    private var forgottenTS = Timestamp.zero
    /// Validated commits waiting for the writer.
    private var group = WriteBatch()
    private var groupLast: UInt64 = 0
    /// MVCC layout: the transactions whose COMMITTED records are in `group`.
    private var groupTxns: [(id: TxnID, anchor: [UInt8])] = []
    private var writing = false
    /// The commits whose batch the engine refused, and why.
    private var failures: [(from: UInt64, through: UInt64, error: SQLError)] = []
    private var nextID: TxnID
    private var generation = 0
    /// Bumped after every commit that stored table statistics (ANALYZE), so that sessions drop
    /// the ones they cached.
    private var statisticsGeneration = 0
    /// Wall-clock time (ns since 1970) and the engine sequence visible then, oldest first from
    /// `historyHead`: what AS OF SYSTEM TIME resolves a time to. The engine keeps every version
    /// readable at `history[historyHead]` (`StorageEngine.retainVersions`), across restarts.
    private var history: [(wall: Int64, sequence: UInt64)] = []
    private var historyHead = 0
    /// Points of `history` not yet stored under `historyPrefix` (the next group write stores them).
    private var unstoredPoints: [(wall: Int64, sequence: UInt64)] = []
    /// Stored points that fell out of the window (the next group write deletes them).
    private var expiredPoints: [Int64] = []
    /// The snapshots of open transactions, so that those older than the window can be expired.
    private var leases: [TxnID: SnapshotLease] = [:]
    private var lastSweep: Int64 = 0
    /// A transaction keeps its snapshot for max(window, this many seconds); tests lower it.
    var leaseMinimumSeconds: Int64 = 60
    /// Expired snapshots are looked for at most this often (ns); tests lower it.
    var sweepIntervalNanos: Int64 = 1_000_000_000
    /// Statistics: commits, serialization failures, deadlocks counted by the lock manager.
    private var commits = 0
    private var serializationFailures = 0

    /// How far back AS OF SYSTEM TIME may read (versions older are garbage-collected).
    public let gcWindow: Duration
    /// At most this many time points are kept; past it the window shrinks (oldest dropped).
    static let historyLimit = 1 << 20

    init(engine: StorageEngine, gcWindow: Duration, splitPoints: [[UInt8]]? = nil) {
        self.engine = engine
        self.gcWindow = gcWindow
        self.nextID = UInt64(Date().timeIntervalSince1970 * 1_000)
        let now = SystemClock.wallNanos()
        if engine.comparator == .mvcc {
            // Versions carry their timestamps: no time map; recovery finishes what a crash cut off.
            let layer = MVCCLayer(engine: engine, splitPoints: splitPoints ?? MVCCLayer.testSplitPoints())
            mvcc = layer
            let router = layer.router
            locks = LockManager(partitions: router.all.count) { router.range(for: $0).id - 1 }
            return
        }
        mvcc = nil
        locks = LockManager()
        // Without a logged retained sequence nothing kept old versions across the restart:
        // only states from the open on are readable.
        let retainedAtOpen = engine.retainedSequence ?? engine.openSequence
        let (stored, lastWriteStart) = TxnCoordinator.loadHistory(engine)
        history = stored
        if let last = history.last, engine.openSequence > last.sequence {
            // The loaded points are exact up to the last group write before the restart, which
            // ran after its stored start time: from then on the state is the one reopened.
            history.append((max(lastWriteStart, last.wall + 1), engine.openSequence))
            unstoredPoints.append(history[history.count - 1])
        }
        let visible = engine.snapshot().sequence
        if history.last?.sequence != visible {
            history.append((max(now, (history.last?.wall ?? now) + 1), visible))
            unstoredPoints.append(history[history.count - 1])
        }
        // Points whose versions the engine did not keep (stored points past the window whose
        // deletion a crash lost) are dropped: the engine kept versions from its retained
        // sequence on, re-taken at open before any compaction could run.
        advanceHead(now: now, minimumSequence: retainedAtOpen)
        // The history is kept from its head on, across restarts.
        try? engine.retainVersions(fromSequence: history[historyHead].sequence)
    }

    /// The system keys of the stored time map: a point's wall time (8 bytes, big-endian, so
    /// keys sort by time) → its sequence and the wall time at which the group write that
    /// stored it started (8 bytes little-endian each).
    static let historyPrefix: [UInt8] = [0x01] + Array("asof/".utf8)

    static func historyKey(_ wall: Int64) -> [UInt8] {
        var k = historyPrefix
        let w = UInt64(max(wall, 0))
        for shift in stride(from: 56, through: 0, by: -8) { k.append(UInt8(truncatingIfNeeded: w >> UInt64(shift))) }
        return k
    }

    /// The stored time map, oldest first, and when the group write that stored its newest
    /// point started. A map that cannot be read is treated as empty (AS OF then reads back to
    /// the open only).
    private static func loadHistory(_ engine: StorageEngine) -> ([(wall: Int64, sequence: UInt64)], Int64) {
        var out: [(wall: Int64, sequence: UInt64)] = []
        var lastWriteStart: Int64 = 0
        var upper = historyPrefix
        upper[upper.count - 1] += 1
        do {
            let it = try engine.makeIterator(IteratorOptions(lowerBound: historyPrefix, upperBound: upper))
            try it.seek(historyPrefix)
            while it.isValid {
                let key = it.key, value = it.value
                if key.count == historyPrefix.count + 8 && value.count >= 16 {
                    var w: UInt64 = 0
                    for b in key[historyPrefix.count...] { w = w << 8 | UInt64(b) }
                    out.append((Int64(bitPattern: w), decodeFixed64(value, at: 0)))
                    lastWriteStart = Int64(bitPattern: decodeFixed64(value, at: 8))
                }
                try it.next()
            }
        } catch {
            return ([], 0)
        }
        return (out, lastWriteStart)
    }

    /// Bytes a group write may add to the commits' batches for the time map (see `storeHistory`);
    /// a transaction may write up to the engine's batch limit less this.
    static let historyBytesMax = 64 << 10
    /// Deletions of expired points per group write, within `historyBytesMax`.
    static let expiredPerWrite = 1024

    /// Adds to a group's batch, which starts being written at `start`, the time points not yet
    /// stored and the deletion of (some of) those past the window (caller holds `cond`).
    /// - Returns: how many of `unstoredPoints` and `expiredPoints` the batch stores.
    private func storeHistory(in batch: inout WriteBatch, start: Int64) -> (points: Int, expired: Int) {
        let expired = min(expiredPoints.count, TxnCoordinator.expiredPerWrite)
        for w in expiredPoints.prefix(expired) { batch.delete(TxnCoordinator.historyKey(w)) }
        // Points are few (one per group write, a few at open).
        for p in unstoredPoints {
            var value: [UInt8] = []
            value.appendFixed64(p.sequence)
            value.appendFixed64(UInt64(bitPattern: start))
            batch.put(TxnCoordinator.historyKey(p.wall), value)
        }
        return (unstoredPoints.count, expired)
    }

    /// The number of the last applied commit in the commit order: a snapshot taken from now
    /// on sees every commit up to it (a transaction's start point).
    var appliedCommits: UInt64 {
        cond.lock()
        defer { cond.unlock() }
        return applied
    }

    /// A new transaction's identity, snapshot, start point and the catalog generation that
    /// snapshot holds.
    func begin() -> (id: TxnID, snapshot: SnapshotLease, start: UInt64, generation: Int, statistics: Int, readTS: Timestamp) {
        cond.lock()
        defer { cond.unlock() }
        nextID += 1
        let start = applied
        active[start, default: 0] += 1
        // Read timestamps do not decrease: the first transaction at a start point reads oldest.
        let readTS = mvcc?.readTimestamp() ?? .zero
        if mvcc != nil && startTS[start] == nil { startTS[start] = readTS }
        let lease = SnapshotLease(mvcc == nil ? engine.snapshot() : nil)
        leases[nextID] = lease
        sweep(now: lease.wall)
        return (nextID, lease, start, generation, statisticsGeneration, readTS)
    }

    /// A fresh snapshot for transaction `id` whose start point was `start` (READ COMMITTED's
    /// per-statement snapshot).
    func refresh(_ id: TxnID, _ start: UInt64) -> (snapshot: SnapshotLease, start: UInt64, readTS: Timestamp) {
        cond.lock()
        defer { cond.unlock() }
        removeActive(start)
        let now = applied
        active[now, default: 0] += 1
        let readTS = mvcc?.readTimestamp() ?? .zero
        if mvcc != nil && startTS[now] == nil { startTS[now] = readTS }
        let lease = SnapshotLease(mvcc == nil ? engine.snapshot() : nil)
        leases[id] = lease
        return (lease, now, readTS)
    }

    /// Ends transaction `id`, which started at `start`, without committing writes.
    func end(_ id: TxnID, _ start: UInt64) {
        cond.lock()
        removeActive(start)
        leases[id] = nil
        prune()
        cond.unlock()
    }

    /// Transactions hold their snapshot at most max(window, 1 minute): older ones lose it
    /// (and fail with 72000 at their next read), so that they do not hold back GC.
    private func sweep(now: Int64) {
        guard now - lastSweep >= sweepIntervalNanos else { return }
        lastSweep = now
        let window = max(Int64(gcWindow.components.seconds), leaseMinimumSeconds)
        let cutoff = now - window * 1_000_000_000
        for (id, lease) in leases where lease.wall < cutoff {
            lease.expire(window: window)
            leases[id] = nil
        }
    }

    /// Notes a committed ANALYZE (see `statisticsGeneration`).
    func bumpStatistics() {
        cond.lock()
        statisticsGeneration += 1
        cond.unlock()
    }

    /// The catalog generation: bumped by every commit that changed the catalog.
    /// Numbers sessions on this engine (their temporary schemas are `pg_temp_N`); the first call
    /// also says whether the caller must drop the temporary schemas a crash left (true once).
    func nextSessionNumber() -> (number: Int, cleanUp: Bool) {
        cond.lock()
        defer { cond.unlock() }
        sessionCounter += 1
        return (sessionCounter, sessionCounter == 1)
    }
    private var sessionCounter = 0

    public var catalogGeneration: Int {
        cond.lock()
        defer { cond.unlock() }
        return generation
    }

    /// Whether a transaction other than the caller committed `key` after its snapshot: after
    /// start point `start`, on the MVCC layout after read timestamp `readTS` (asked of the
    /// range holding the key).
    func writtenSince(_ key: ByteKey, _ start: UInt64, readTS: Timestamp?) -> Bool {
        if let mvcc, let readTS { return mvcc.router.range(for: key.bytes).commits.writtenAfter(key, readTS) }
        return commitLog.writtenAfter(key, TxnCoordinator.stamp(start))
    }

    /// Counts a serialization failure (for `pg_stat`-style statistics).
    func noteSerializationFailure() {
        cond.lock()
        serializationFailures += 1
        cond.unlock()
    }

    /// What SERIALIZABLE validates at commit: the keys read and the ranges scanned.
    struct ReadSet {
        var keys: Set<ByteKey>
        /// Disjoint and sorted by lower bound.
        var ranges: [(lower: [UInt8], upper: [UInt8])]

        init(keys: Set<ByteKey>, ranges: [(lower: [UInt8], upper: [UInt8])]) {
            self.keys = keys
            let sorted = ranges.sorted { Value.cmpBytes($0.lower, $1.lower) < 0 }
            var merged: [(lower: [UInt8], upper: [UInt8])] = []
            for r in sorted where Value.cmpBytes(r.lower, r.upper) < 0 {
                if let last = merged.last, Value.cmpBytes(r.lower, last.upper) <= 0 {
                    if Value.cmpBytes(r.upper, last.upper) > 0 { merged[merged.count - 1].upper = r.upper }
                } else {
                    merged.append(r)
                }
            }
            self.ranges = merged
        }
    }

    /// Validates (with `reads`), numbers and durably writes a transaction's commit, which
    /// writes `keys`; returns when it is applied. Ends the transaction's start point.
    ///
    /// - Returns: the commit's number in the order of the group writes.
    /// - Throws: 40001 when validation fails (nothing is written); the engine's error when the
    ///   batch could not be written.
    ///
    /// Sequence layout: `batch` is what to write; validations and commits are ordered by the
    /// coordinator's lock, the commit numbers being the stamps of its commit log.
    ///
    /// MVCC layout: the commit decides on the ranges it wrote and read (`decide`), where `stamp`
    /// is called with its timestamp and returns what to write at the commit point (the
    /// COMMITTED or STAGING record, or a one-phase commit's versions); `batch` is unused. The
    /// group write only batches syncs: commits join it in any timestamp order.
    func commit(id: TxnID, batch: WriteBatch, keys: [[UInt8]], reads: ReadSet?, start: UInt64, readTS: Timestamp? = nil,
                bumpsGeneration: Bool, exclusiveDDL: Bool = false, anchor: [UInt8]? = nil,
                stamp: ((Timestamp) -> WriteBatch)? = nil) throws(SQLError) -> UInt64 {
        // A commit that changed the catalog under the exclusive schema lock (`exclusiveDDL`)
        // needs no conflict notes: no writer or row locker ran beside it, and every transaction
        // that began before it fails with 40001 when it next takes the schema lock to write or
        // lock (`StorageTransaction.lockSchema`: its catalog generation is older); every write,
        // unique claim and row lock takes that lock before it asks about conflicts, and later
        // transactions begin after the commit. Table rewrites (ALTER TABLE, pgbench's primary
        // keys) write millions of keys, which noting and forgetting cost a tenth of their time.
        let notes = exclusiveDDL && bumpsGeneration ? [] : keys
        if let mvcc, let stamp {
            let decided: (ts: Timestamp, batch: WriteBatch)
            do {
                decided = try decide(mvcc, notes: notes, reads: reads, readTS: readTS ?? .zero, stamp: stamp)
            } catch {
                cond.lock()
                leases[id] = nil
                removeActive(start)
                serializationFailures += 1
                prune()
                cond.unlock()
                throw error
            }
            cond.lock()
            leases[id] = nil
            // Commits are combined while they fit in a memtable and one engine batch (with room
            // for the clock's note); a larger one waits for the group to empty and goes alone.
            // In flight meanwhile: readers read below it.
            let groupMax = min(engine.memtableBytesMax, engine.batchBytesMax - TxnCoordinator.historyBytesMax)
            while !group.isEmpty && group.data.count + decided.batch.data.count > groupMax { cond.wait() }
            registered += 1
            group.append(contentsOf: decided.batch)
            groupTimestamps.append(decided.ts)
            groupLastTS = max(groupLastTS, decided.ts)
            if let anchor { groupTxns.append((id, anchor)) }
            return try join(registered, start: start, bumpsGeneration: bumpsGeneration, visibleAt: decided.ts)
        }
        cond.lock()
        leases[id] = nil
        // Transactions are combined while they fit in a memtable and one engine batch; a larger
        // one waits for the group to empty and goes alone.
        let groupMax = min(engine.memtableBytesMax, engine.batchBytesMax - TxnCoordinator.historyBytesMax)
        while !group.isEmpty && group.data.count + batch.data.count > groupMax { cond.wait() }
        // Validation: was anything read committed after the start point? Under `cond`, which
        // orders validations and commits on this layout.
        if let reads, commitLog.writtenAfter(keys: reads.keys, spans: reads.ranges, TxnCoordinator.stamp(start)) {
            removeActive(start)
            serializationFailures += 1
            prune()
            cond.unlock()
            throw TxnCoordinator.readWriteConflict
        }
        registered += 1
        commitLog.note(notes, at: TxnCoordinator.stamp(registered))
        group.append(contentsOf: batch)
        return try join(registered, start: start, bumpsGeneration: bumpsGeneration)
    }

    static let readWriteConflict = SQLError(
        .serializationFailure, "could not serialize access due to read/write dependencies among transactions", position: 0)

    /// MVCC layout: decides a commit that writes `notes` (the keys its commit log notes) after
    /// reading `reads` at `readTS` (nil: not validated), on each range holding one of them,
    /// under those ranges' decision locks (`KVRange.decisionLock`, taken in range order):
    /// validates the reads against the ranges' commit logs, draws the commit timestamp (in
    /// flight until the group write holding the commit is applied), notes the writes there and
    /// calls `stamp`. Commits on other ranges decide beside it: there is no order of all
    /// commits, only each range's.
    ///
    /// Why no commit is missed: a commit that wrote into `reads` decided on the range holding
    /// that read, either before this one took the range's lock (its writes are noted, at a
    /// timestamp above `readTS` unless this reader saw it) or after (its timestamp is drawn
    /// later, above this one's: it follows this commit, whose read was then still current).
    ///
    /// - Throws: 40001 when a commit above `readTS` wrote into `reads`; nothing is drawn.
    private func decide(_ mvcc: MVCCLayer, notes: [[UInt8]], reads: ReadSet?, readTS: Timestamp,
                        stamp: (Timestamp) -> WriteBatch) throws(SQLError) -> (ts: Timestamp, batch: WriteBatch) {
        let router = mvcc.router
        if router.all.count == 1 {
            let range = router.all[0]
            range.decisionLock.lock()
            defer { range.decisionLock.unlock() }
            if let reads, range.commits.writtenAfter(keys: reads.keys, spans: reads.ranges, readTS) {
                throw TxnCoordinator.readWriteConflict
            }
            let ts = mvcc.draw()
            range.commits.note(notes, at: ts)
            decisionHookForTesting?(ts)
            return (ts, stamp(ts))
        }
        var parts: [Int: (range: KVRange, notes: [[UInt8]], keys: [ByteKey], spans: [(lower: [UInt8], upper: [UInt8])])] = [:]
        for (id, g) in router.grouped(notes, key: { $0 }) { parts[id] = (g.range, g.items, [], []) }
        if let reads {
            for (id, g) in router.grouped(reads.keys, key: \.bytes) { parts[id, default: (g.range, [], [], [])].keys = g.items }
            // Spans are sorted and disjoint, so each range's pieces are too.
            for span in reads.ranges {
                for piece in router.ranges(lower: span.lower, upper: span.upper) {
                    parts[piece.range.id, default: (piece.range, [], [], [])].spans.append((piece.lower, piece.upper))
                }
            }
        }
        let ordered = parts.keys.sorted().map { parts[$0]! }
        for p in ordered { p.range.decisionLock.lock() }
        defer { for p in ordered.reversed() { p.range.decisionLock.unlock() } }
        if reads != nil, ordered.contains(where: { $0.range.commits.writtenAfter(keys: $0.keys, spans: $0.spans, readTS) }) {
            throw TxnCoordinator.readWriteConflict
        }
        let ts = mvcc.draw()
        for p in ordered { p.range.commits.note(p.notes, at: ts) }
        decisionHookForTesting?(ts)
        return (ts, stamp(ts))
    }

    /// Test hook (MVCC layout): called with a commit's timestamp while it decides, under the
    /// decision locks of its ranges.
    var decisionHookForTesting: ((Timestamp) -> Void)?
    /// Test hook: called by the thread writing a group, just before the write.
    var groupWriteHookForTesting: (() -> Void)?

    /// Joins commit number `me` (just added to `group`, caller holds `cond`) to the group
    /// writes, and returns once it is written; releases `cond`. MVCC layout: `visibleAt`, the
    /// commit's timestamp: returns once readers read at or above it (`MVCCLayer.waitVisible`).
    /// `bumpsGeneration`: the catalog generation grows only then, so that a transaction that
    /// begins with the new generation reads a state holding the change.
    private func join(_ me: UInt64, start: UInt64, bumpsGeneration: Bool, visibleAt: Timestamp? = nil) throws(SQLError) -> UInt64 {
        groupLast = me
        removeActive(start)
        var movedThreshold: Timestamp?
        while applied < me {
            if writing {
                cond.wait()
                continue
            }
            writing = true
            var b = group
            let last = groupLast, txns = groupTxns, timestamps = groupTimestamps
            group = WriteBatch()
            groupTxns = []
            groupTimestamps = []
            // The time map travels with the commits (see `history`); the MVCC layout needs none.
            let stored = mvcc != nil ? (points: 0, expired: 0) : storeHistory(in: &b, start: max(SystemClock.wallNanos(), history.last?.wall ?? 0))
            mvcc?.noteClock(&b, groupLastTS)
            cond.broadcast()  // room for commits waiting on the group's size
            cond.unlock()
            groupWriteHookForTesting?()
            var failure: SQLError?
            do { try engine.write(b, sync: true) } catch {
                failure = SQLError(.ioError, "storage error: \(error)")
            }
            let wall = SystemClock.wallNanos()
            let sequence = engine.snapshot().sequence
            cond.lock()
            if failure == nil {
                unstoredPoints.removeFirst(stored.points)
                expiredPoints.removeFirst(stored.expired)
            }
            if let failure {
                failures.append((applied + 1, last, failure))
                // Before readers may read at their commit timestamps: the records were not written.
                mvcc?.commitFailed(txns)
            }
            applied = last
            if let mvcc {
                mvcc.applied(timestamps)
                if let t = moveGCThreshold(now: wall) { movedThreshold = t }
            } else {
                noteHistory(wall: wall, sequence: sequence)
            }
            sweep(now: wall)
            writing = false
            cond.broadcast()
        }
        commits += 1
        let failed = failures.first { me >= $0.from && me <= $0.through }?.error
        if failures.count > 64 { failures.removeFirst(failures.count - 64) }
        prune()
        cond.unlock()
        // Outside the lock: the rows of tables dropped before the threshold go (a scan of the
        // dropped-table keys, usually none).
        if let movedThreshold { mvcc?.collectDrops(below: movedThreshold) }
        if let failed { throw failed }
        if let visibleAt { mvcc?.waitVisible(visibleAt) }
        if bumpsGeneration { cond.withLock { generation += 1 } }
        return me
    }

    private let outsideLock = NSLock()

    /// `KVTransaction.updateOutside`: read the newest value, write the new one unsynced. A
    /// transaction that uses the value commits with a sync later, which makes this write
    /// durable first (the WAL is synced in order); one that never commits needs no durability.
    func updateOutside(_ key: [UInt8], _ body: ([UInt8]?) throws(SQLError) -> [UInt8]) throws(SQLError) {
        outsideLock.lock()
        defer { outsideLock.unlock() }
        if let mvcc {
            // A version at a new timestamp, in flight (readers read below it) until written.
            let new = try body(try mvcc.latest(key))
            let ts = mvcc.draw()
            defer { mvcc.applied([ts]) }
            try mvcc.writeVersion(key, new, at: ts)
            return
        }
        do {
            let new = try body(try engine.get(key))
            try engine.put(key, new, sync: false)
        } catch let e as SQLError {
            throw e
        } catch {
            throw SQLError(.ioError, "storage error: \(error)")
        }
    }

    // MARK: Time travel

    /// MVCC layout: a timestamp at or below which every commit is applied (what a reader of the
    /// latest committed state reads at; `MVCCLayer.readTimestamp`).
    func readTimestamp() -> Timestamp {
        mvcc?.readTimestamp() ?? .zero
    }

    /// MVCC layout: moves the engine's GC threshold to the start of the window (at most once a
    /// second); transactions older than it lose their snapshot (`sweep`), so no reader needs a
    /// version the threshold lets compaction drop. Caller holds `cond`. Returns the threshold
    /// when it moved.
    private func moveGCThreshold(now: Int64) -> Timestamp? {
        guard now - lastGCThreshold >= sweepIntervalNanos else { return nil }
        lastGCThreshold = now
        let window = max(Int64(gcWindow.components.seconds), leaseMinimumSeconds)
        let threshold = MVCCLayer.timestamp(atWall: now - window * 1_000_000_000)
        engine.setMVCCGCThreshold(threshold)
        return threshold
    }

    /// MVCC layout: the read timestamp of AS OF SYSTEM TIME at wall time `wall` (ns since 1970).
    ///
    /// - Throws: 72000 before the garbage-collection window, 22023 in the future.
    func mvccTimestamp(atWall wall: Int64) throws(SQLError) -> Timestamp {
        let now = SystemClock.wallNanos()
        if wall > now + 1_000_000 {
            throw SQLError(.invalidParameterValue, "AS OF SYSTEM TIME: cannot read at a time in the future")
        }
        let window = Int64(gcWindow.components.seconds)
        let floor = max(now - window * 1_000_000_000, mvcc?.createdWall ?? 0)
        guard wall >= floor else {
            let earliest = Date(timeIntervalSince1970: Double(floor) / 1e9)
            throw SQLError(
                SQLState("72000"),
                "snapshot too old: AS OF SYSTEM TIME reads back to \(TxnCoordinator.format(earliest)) at the earliest "
                    + "(the garbage-collection window is \(window) s)")
        }
        // Not past what is applied: a commit above it may still be on its way.
        return min(MVCCLayer.timestamp(atWall: wall), readTimestamp())
    }

    private func noteHistory(wall: Int64, sequence: UInt64) {
        if let last = history.last, last.sequence == sequence { return }
        // Strictly increasing walls: a point's wall is its stored key.
        history.append((max(wall, (history.last?.wall ?? wall) + 1), sequence))
        unstoredPoints.append(history[history.count - 1])
        advanceHead(now: wall)
    }

    /// Moves the head past the points older than the window (keeping the last one at or before
    /// its start) and past those whose versions the engine may no longer hold (sequences below
    /// `minimumSequence`); the engine then keeps versions from the new head on.
    private func advanceHead(now: Int64, minimumSequence: UInt64 = 0) {
        let cutoff = now - Int64(gcWindow.components.seconds) * 1_000_000_000
        var head = historyHead
        while head + 1 < history.count && (history[head + 1].wall <= cutoff || history[head].sequence < minimumSequence) {
            head += 1
        }
        if history.count - head > TxnCoordinator.historyLimit { head = history.count - TxnCoordinator.historyLimit }
        guard head != historyHead else { return }
        for p in history[historyHead..<head] {
            if let i = unstoredPoints.firstIndex(where: { $0.wall == p.wall }) {
                unstoredPoints.remove(at: i)
            } else {
                expiredPoints.append(p.wall)
            }
        }
        historyHead = head
        try? engine.retainVersions(fromSequence: history[head].sequence)
        if historyHead > 4096 && historyHead > history.count / 2 {
            history.removeFirst(historyHead)
            historyHead = 0
        }
    }

    /// A snapshot of the state at wall-clock time `wall` (ns since 1970).
    ///
    /// - Throws: 72000 (snapshot too old) before the earliest readable time: older than the
    ///   garbage-collection window, or before the time map began (the first open of the data
    ///   directory by a build that stores it); 22023 for a time in the future.
    func snapshot(atWall wall: Int64) throws(SQLError) -> Snapshot {
        cond.lock()
        defer { cond.unlock() }
        if wall > SystemClock.wallNanos() + 1_000_000 {
            throw SQLError(.invalidParameterValue, "AS OF SYSTEM TIME: cannot read at a time in the future")
        }
        var lo = historyHead, hi = history.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if history[mid].wall <= wall { lo = mid + 1 } else { hi = mid }
        }
        guard lo > historyHead else {
            let earliest = Date(timeIntervalSince1970: Double(history[historyHead].wall) / 1e9)
            throw SQLError(
                SQLState("72000"),
                "snapshot too old: AS OF SYSTEM TIME reads back to \(TxnCoordinator.format(earliest)) at the earliest "
                    + "(the garbage-collection window is \(gcWindow.components.seconds) s)")
        }
        return engine.snapshot(atSequence: history[lo - 1].sequence)
    }

    static func format(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: d)
    }

    /// Counters for tests and metrics.
    public var statistics: (commits: Int, serializationFailures: Int, deadlocks: Int, activeTransactions: Int, logEntries: Int) {
        cond.lock()
        defer { cond.unlock() }
        let logEntries = mvcc.map { $0.router.all.reduce(0) { $0 + $1.commits.count } } ?? commitLog.count
        return (commits, serializationFailures, locks.deadlocks, active.values.reduce(0, +), logEntries)
    }

    // MARK: Internals

    private func removeActive(_ start: UInt64) {
        if let n = active[start], n > 1 {
            active[start] = n - 1
        } else {
            active[start] = nil
            startTS[start] = nil
        }
    }

    /// Forgets the commits no open transaction can conflict with: those at or below the oldest
    /// open start point (caller holds `cond`). Commits validated but not yet applied lie above
    /// `applied` (on the MVCC layout: in flight, above every read timestamp), so they stay.
    private func prune() {
        let threshold = min(active.keys.min() ?? applied, applied)
        guard let mvcc else {
            commitLog.forget(through: TxnCoordinator.stamp(threshold))
            return
        }
        // The oldest open transaction's read timestamp; with none open, what the next one reads at.
        let ts = active.isEmpty ? mvcc.readTimestamp(draw: false) : (startTS[threshold] ?? forgottenTS)
        guard ts > forgottenTS else { return }
        forgottenTS = ts
        for r in mvcc.router.all { r.commits.forget(through: ts) }
    }
}
