import ApusCore
import Foundation

/// What a range remembers of recent commits, for conflict checks: for each commit that an open
/// transaction may still conflict with, the keys it wrote in the range, under the commit's
/// stamp: on the MVCC layout its commit timestamp, so that any node can ask; the sequence
/// layout, one range on one engine, stamps commits with their numbers (`Timestamp(wallNanos:)`
/// of the number). Not generic over the stamp: unspecialized across modules, a generic log cost
/// TPC-B several percent.
///
/// The questions are the two a transaction asks of the keys it touched: did a commit after my
/// snapshot write this key (first committer wins), and did one write into what I read (the
/// read set of a SERIALIZABLE transaction: keys and scanned spans)? A transaction asks them of
/// the range holding each key or span piece (`RangeRouter`), never of a log of its own node.
///
/// Commits are forgotten once no open transaction started below them (`forget(through:)`).
/// A question about a start below what was forgotten is answered "yes": the answer may have
/// been dropped, and a false conflict (40001, retried) is safe where a missed one is not.
///
/// A commit of more than `largeCommitKeys` keys (a bulk load) is kept as its list of keys, and
/// hashed only when a question first needs it: usually no older transaction is open, and the
/// commit is forgotten as soon as it is applied, unhashed (hashing a million keys in and out
/// cost a sixth of a bulk load's session time).
///
/// Commits may be noted in any stamp order (without a node's commit order, a commit with a
/// lower timestamp can reach a range after one with a higher); one at or below what was
/// forgotten is dropped, since no open transaction started below it.
///
/// Concurrency: each log has its own lock.
public final class CommitLog: @unchecked Sendable {
    private let lock = NSLock()
    /// The commits held, oldest first from `head`, sorted by stamp (equal stamps possible);
    /// `large`: kept in `large` rather than `lastWriter`.
    private var entries: [(stamp: Timestamp, keys: [[UInt8]], large: Bool)] = []
    private var head = 0
    /// For each key of the small commits in `entries`, the newest stamp that wrote it.
    private var lastWriter: [ByteKey: Timestamp] = [:]
    /// The large commits held, sorted by stamp, each with its keys, hashed once asked about.
    private var large: [(stamp: Timestamp, raw: [[UInt8]], keys: Set<ByteKey>?)] = []
    /// Commits at or below this stamp were forgotten.
    private var floor: Timestamp
    private let largeCommitKeys: Int

    /// A log that knows every commit above `floor` (none yet).
    public init(floor: Timestamp, largeCommitKeys: Int = 4096) {
        self.floor = floor
        self.largeCommitKeys = largeCommitKeys
    }

    /// Notes a commit at `stamp` that wrote `keys` (in this range), in any stamp order.
    public func note(_ keys: [[UInt8]], at stamp: Timestamp) {
        if keys.isEmpty { return }
        lock.lock()
        defer { lock.unlock() }
        guard stamp > floor else { return }
        let isLarge = keys.count > largeCommitKeys
        // Usually the newest: the search ends at once.
        var i = entries.count
        while i > head && entries[i - 1].stamp > stamp { i -= 1 }
        entries.insert((stamp, keys, isLarge), at: i)
        if isLarge {
            var j = large.count
            while j > 0 && large[j - 1].stamp > stamp { j -= 1 }
            large.insert((stamp, keys, nil), at: j)
        } else {
            for k in keys.lazy.map(ByteKey.init) where lastWriter[k].map({ $0 < stamp }) ?? true { lastWriter[k] = stamp }
        }
    }

    /// Whether a large commit after `start` wrote `key` (caller holds `lock`).
    private func largeWrote(_ key: ByteKey, after start: Timestamp) -> Bool {
        if large.isEmpty { return false }
        for i in large.indices.reversed() {
            if large[i].stamp <= start { break }
            if large[i].keys == nil { large[i].keys = Set(large[i].raw.lazy.map(ByteKey.init)) }
            if large[i].keys!.contains(key) { return true }
        }
        return false
    }

    /// Whether a commit after `start` wrote `key`.
    public func writtenAfter(_ key: ByteKey, _ start: Timestamp) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if start < floor { return true }
        return lastWriter[key].map { $0 > start } ?? false || largeWrote(key, after: start)
    }

    /// Whether a commit after `start` wrote one of `keys` or a key in one of `spans`
    /// (`[lower, upper)`, sorted by lower bound and disjoint).
    public func writtenAfter(keys: Set<ByteKey>, spans: [(lower: [UInt8], upper: [UInt8])], _ start: Timestamp) -> Bool {
        asked(keys: keys, spans: spans, start)
    }

    /// Whether a commit after `start` wrote one of `keys` or a key in one of `spans`.
    public func writtenAfter(keys: [ByteKey], spans: [(lower: [UInt8], upper: [UInt8])], _ start: Timestamp) -> Bool {
        asked(keys: keys, spans: spans, start)
    }

    /// The two `writtenAfter`s (specialized inside the module; a generic entry point is not
    /// across it).
    private func asked<Keys: Sequence<ByteKey>>(keys: Keys, spans: [(lower: [UInt8], upper: [UInt8])], _ start: Timestamp) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if start < floor { return true }
        if !lastWriter.isEmpty || !large.isEmpty {
            for k in keys where lastWriter[k].map({ $0 > start }) == true || largeWrote(k, after: start) { return true }
        }
        if spans.isEmpty { return false }
        // The commits after `start`: binary search for the first.
        var lo = head, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].stamp <= start { lo = mid + 1 } else { hi = mid }
        }
        for i in lo..<entries.count {
            for k in entries[i].keys where CommitLog.covers(spans, k) { return true }
        }
        return false
    }

    /// Forgets the commits at or below `stamp` (no open transaction started below it).
    public func forget(through stamp: Timestamp) {
        lock.lock()
        defer { lock.unlock() }
        if stamp <= floor { return }
        floor = stamp
        while head < entries.count && entries[head].stamp <= stamp {
            let e = entries[head]
            if !e.large {
                for k in e.keys.lazy.map(ByteKey.init) where lastWriter[k] == e.stamp { lastWriter[k] = nil }
            }
            entries[head].keys = []
            head += 1
        }
        while let first = large.first, first.stamp <= stamp { large.removeFirst() }
        if head > 1024 && head > entries.count / 2 {
            entries.removeFirst(head)
            head = 0
        }
    }

    /// The commits held (for statistics).
    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return entries.count - head
    }

    /// Whether `key` lies in one of `spans` (sorted by lower bound, disjoint).
    static func covers(_ spans: [(lower: [UInt8], upper: [UInt8])], _ key: [UInt8]) -> Bool {
        // The last span starting at or before `key`.
        var lo = 0, hi = spans.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if compareBytes(spans[mid].lower, key) <= 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo > 0 && compareBytes(key, spans[lo - 1].upper) < 0
    }
}
