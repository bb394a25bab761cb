import ApusCore
import Foundation

/// What a range remembers of recent reads: for each key and scanned span, the newest timestamp
/// it was read at, and by which transaction. A write to a key must land above every read of it
/// by another transaction (`write(_:txn:atLeast:_:)`), so that no read ever misses a version
/// committed at or below its timestamp after it looked: this replaces a node-wide commit order
/// (a later writer on any node is pushed above the read instead of being ordered after it).
///
/// The cache is bounded: entries live in two generations, and when the current one fills up the
/// previous one is dropped and its newest timestamp raises the low-water mark, which every
/// question answers at least. Forgetting can only push a writer higher than needed (a false
/// refresh failure, retried), never let it below a read.
///
/// The lock that guards the entries is also the range's latch between reads and writes: a
/// reader notes its read before it takes its engine snapshot; a writer takes its timestamp and
/// lays its intent under the lock. So either the intent is in the reader's snapshot (the reader
/// meets it and pushes its owner), or the writer saw the read.
///
/// Concurrency: `Sendable`; all state behind one lock per range.
public final class TimestampCache: @unchecked Sendable {
    /// The newest read of a key or span: its timestamp and reader (0: several at that timestamp).
    public struct Read: Sendable, Equatable {
        public var ts: Timestamp
        public var txn: TxnID

        public init(ts: Timestamp, txn: TxnID) {
            self.ts = ts
            self.txn = txn
        }

        /// The newer of two reads; at one timestamp by different transactions, nobody's own.
        func merged(_ o: Read) -> Read {
            if o.ts > ts { return o }
            if o.ts < ts { return self }
            return o.txn == txn ? self : Read(ts: ts, txn: 0)
        }
    }

    private struct Generation {
        var points: [ByteKey: Read] = [:]
        var spans: [(lower: [UInt8], upper: [UInt8], read: Read)] = []
        var newest = Timestamp.zero
        var count: Int { points.count + spans.count }
    }

    private let lock = NSLock()
    private var current = Generation()
    private var previous = Generation()
    /// Every key counts as read at this timestamp by nobody in particular.
    public private(set) var lowWater: Timestamp
    /// Entries per generation before it is rotated.
    private let generationLimit: Int
    /// Spans per generation before it is rotated (a question walks them all).
    private let spanLimit: Int

    /// A cache whose keys all count as read at `lowWater`, keeping about `limit` entries, of
    /// which about `spanLimit` spans.
    public init(lowWater: Timestamp = .zero, limit: Int = 1 << 16, spanLimit: Int = 1024) {
        self.lowWater = lowWater
        self.generationLimit = max(limit / 2, 1)
        self.spanLimit = max(spanLimit / 2, 1)
    }

    /// Notes that `txn` read `key` at `ts`.
    public func noteRead(_ key: [UInt8], at ts: Timestamp, txn: TxnID) {
        lock.lock()
        defer { lock.unlock() }
        guard ts > lowWater else { return }
        let read = Read(ts: ts, txn: txn)
        let k = ByteKey(key)
        current.points[k] = current.points[k].map { $0.merged(read) } ?? read
        added(ts)
    }

    /// Notes that `txn` scanned `[lower, upper)` at `ts`.
    public func noteRead(lower: [UInt8], upper: [UInt8], at ts: Timestamp, txn: TxnID) {
        lock.lock()
        defer { lock.unlock() }
        guard ts > lowWater, compareBytes(lower, upper) < 0 else { return }
        current.spans.append((lower, upper, Read(ts: ts, txn: txn)))
        added(ts)
    }

    private func added(_ ts: Timestamp) {
        if ts > current.newest { current.newest = ts }
        guard current.count > generationLimit || current.spans.count > spanLimit else { return }
        lowWater = max(lowWater, previous.newest)
        previous = current
        current = Generation()
    }

    /// The newest read of `key` (the low-water mark, by nobody, when none is remembered).
    public func newestRead(_ key: [UInt8]) -> Read {
        lock.lock()
        defer { lock.unlock() }
        return newestReadLocked(key)
    }

    private func newestReadLocked(_ key: [UInt8]) -> Read {
        var best = Read(ts: lowWater, txn: 0)
        let k = ByteKey(key)
        for g in [current, previous] where g.newest >= best.ts {
            if let r = g.points[k] { best = best.merged(r) }
            for s in g.spans where s.read.ts >= best.ts && compareBytes(s.lower, key) <= 0 && compareBytes(key, s.upper) < 0 {
                best = best.merged(s.read)
            }
        }
        return best
    }

    /// Runs `body` with the timestamp at which `txn` may write `key`: `ts`, or just above the
    /// newest read of `key` by another transaction when that is not below `ts`. `body` lays the
    /// intent; no read of the range is noted meanwhile.
    public func write<T>(_ key: [UInt8], txn: TxnID, atLeast ts: Timestamp,
                         _ body: (Timestamp) throws(KVError) -> T) throws(KVError) -> T {
        lock.lock()
        defer { lock.unlock() }
        let read = newestReadLocked(key)
        var at = ts
        if read.txn == txn {
            at = max(at, read.ts)
        } else if read.ts >= at {
            at = read.ts.next
        }
        return try body(at)
    }

    /// The entries held (for tests and statistics).
    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return current.count + previous.count
    }
}
