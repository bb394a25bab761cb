import ApusCore
import ApusStorage
import Foundation
import Synchronization

/// A contiguous span of user keys `[start, end)` and the engine that stores its versions,
/// intents and transaction records (one replica for now).
public final class KVRange: Sendable {
    /// The range's identity (stable while the range exists).
    public let id: Int
    /// The first user key of the span.
    public let start: [UInt8]
    /// The key after the span; nil: unbounded.
    public let end: [UInt8]?
    /// The engine holding the range's data, opened with the `.mvcc` comparator.
    public let engine: StorageEngine
    /// The range's recent commits, by commit timestamp: what write-conflict checks and
    /// SERIALIZABLE validation ask of the keys and spans the range holds.
    public let commits = CommitLog(floor: .zero)
    /// Held by a commit deciding on this range (the SQL layer's `TxnCoordinator`): while it
    /// validates its reads against `commits`, draws its timestamp and notes its writes there,
    /// no other decision on the range runs. A commit that decides later on the range draws a
    /// later timestamp, and one that decided earlier has noted its writes, so a validation
    /// misses no commit below its own timestamp. Commits on other ranges decide beside it;
    /// one over several ranges takes their locks in `id` order.
    public let decisionLock = NSLock()
    /// What the range's lease holder keeps in memory: lost when the lease moves.
    private final class Lease: Sendable {
        let reads: TimestampCache
        let live: LiveTxns
        let number: Int

        init(reads: TimestampCache, live: LiveTxns, number: Int) {
            self.reads = reads
            self.live = live
            self.number = number
        }
    }

    /// The current lease: every request reads it, so it is one atomic load rather than a lock
    /// (a lock here was a convoy for 32 clients on one range). Unretained: `leases` keeps it.
    private let current: Atomic<Unmanaged<Lease>>
    /// Every lease the range has had, which keeps each alive for readers of `current` (leases
    /// move rarely; a few objects each).
    private let leases: Mutex<[Lease]>

    private var lease: Lease { current.load(ordering: .acquiring).takeUnretainedValue() }

    /// The range's recent reads: a write lands above every other transaction's read of its key
    /// (`TxnDB`'s transactions; the SQL layer's readers use one clock with its commits and read
    /// below every commit in flight, which makes it unneeded there so far).
    public var reads: TimestampCache { lease.reads }
    /// The live transactions whose records the range holds, and how far readers pushed them.
    public var live: LiveTxns { lease.live }
    /// How many leases the range has had (1 until it first moves).
    public var leaseNumber: Int { lease.number }

    /// The lease moves to another holder, which starts without the old one's memory: an empty
    /// timestamp cache and set of live transactions, both with a low-water mark above every
    /// read, push and decision the old holder saw (a node's clock is above every timestamp it
    /// was sent, so a real lease starts there). Writes, pushes' effects and commits therefore
    /// stay above everything forgotten; transactions the new holder does not know are judged
    /// by their records (see `LiveTxns`). The range's lock table is `TxnDB`'s to move
    /// (`TxnDB.transferLease`).
    ///
    /// The caller stops the range's requests first, as the old holder stops serving before
    /// its lease ends: no read, write or commit is under way on the range meanwhile. `TxnDB`
    /// only: the SQL layer keeps state here that it cannot rebuild.
    public func transferLease() {
        leases.withLock { all in
            let l = lease
            #if INVARIANTS
            precondition(l.reads.inFlightCount == 0, "a lease moved while a write was in flight on range \(id)")
            #endif
            let low = max(l.reads.highWater, l.live.highWater)
            let next = Lease(reads: TimestampCache(lowWater: low), live: LiveTxns(lowWater: low), number: l.number + 1)
            all.append(next)
            current.store(.passUnretained(next), ordering: .releasing)
        }
    }

    public init(id: Int, start: [UInt8], end: [UInt8]?, engine: StorageEngine) {
        let first = Lease(reads: TimestampCache(), live: LiveTxns(), number: 1)
        leases = Mutex([first])
        current = Atomic(.passUnretained(first))
        self.id = id
        self.start = start
        self.end = end
        self.engine = engine
    }

    /// Whether `key` falls in the range.
    public func contains(_ key: [UInt8]) -> Bool {
        compareBytes(key, start) >= 0 && (end.map { compareBytes(key, $0) < 0 } ?? true)
    }
}

/// Maps key spans to the ranges that hold them. Transaction code addresses keys and spans only
/// through the router, so that it works unchanged once the key space is split into many ranges
/// on many nodes. By default one range covers every key; with split points the key space is
/// split into several ranges over the one engine (each range's write is a separate engine
/// write), which tests use to run transactions across ranges.
///
/// A transaction record's key (`TxnRecord.key(_:anchor:)`) is a local key of the range holding
/// its anchor: `range(for:)` routes it by the anchor.
///
/// Concurrency: `Sendable`; the range list is immutable.
public final class RangeRouter: Sendable {
    private let ranges: [KVRange]

    /// A router whose ranges, stored in `engine`, start at `[]` and at each of `splitPoints`
    /// (sorted and deduplicated here; an empty split point is ignored).
    public init(engine: StorageEngine, splitPoints: [[UInt8]] = []) {
        var starts: [[UInt8]] = [[]]
        for p in splitPoints.filter({ !$0.isEmpty }).sorted(by: { compareBytes($0, $1) < 0 }) where p != starts.last! {
            starts.append(p)
        }
        ranges = starts.indices.map { i in
            KVRange(id: i + 1, start: starts[i], end: i + 1 < starts.count ? starts[i + 1] : nil, engine: engine)
        }
    }

    /// The range holding `key` (a transaction record's key: the range holding its anchor).
    public func range(for key: [UInt8]) -> KVRange {
        if ranges.count == 1 { return ranges[0] }
        if let anchor = TxnRecord.anchor(ofRecordKey: key) { return range(at: anchor) }
        return range(at: key[...])
    }

    private func range(at key: ArraySlice<UInt8>) -> KVRange {
        // Ranges are sorted by start and cover the key space; the last one starting at or before `key`.
        var lo = 0, hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if compareBytes(ranges[mid].start[...], key) <= 0 { lo = mid + 1 } else { hi = mid }
        }
        return ranges[max(lo - 1, 0)]
    }

    /// The distinct engines holding the ranges, each once (for work that visits every engine's
    /// local keys, such as the transaction records at recovery).
    public var engines: [StorageEngine] {
        var out: [StorageEngine] = []
        for r in ranges where !out.contains(where: { $0 === r.engine }) { out.append(r.engine) }
        return out
    }

    /// The ranges overlapping `[lower, upper)`, in key order, each with the part of the span it
    /// holds.
    public func ranges(lower: [UInt8], upper: [UInt8]) -> [(range: KVRange, lower: [UInt8], upper: [UInt8])] {
        var out: [(range: KVRange, lower: [UInt8], upper: [UInt8])] = []
        for r in ranges {
            if let end = r.end, compareBytes(end, lower) <= 0 { continue }
            if compareBytes(r.start, upper) >= 0 { break }
            let lo = compareBytes(r.start, lower) > 0 ? r.start : lower
            let hi = r.end.map { compareBytes($0, upper) < 0 ? $0 : upper } ?? upper
            out.append((r, lo, hi))
        }
        return out
    }

    /// `items` grouped by the range holding each one's key (`key`), by range id; each group
    /// keeps the items' order.
    @inlinable
    public func grouped<S: Sequence>(_ items: S, key: (S.Element) -> [UInt8]) -> [Int: (range: KVRange, items: [S.Element])] {
        var out: [Int: (range: KVRange, items: [S.Element])] = [:]
        for item in items {
            let r = range(for: key(item))
            out[r.id, default: (r, [])].items.append(item)
        }
        return out
    }

    /// Every range (for recovery and maintenance that visits all data).
    public var all: [KVRange] { ranges }
}
