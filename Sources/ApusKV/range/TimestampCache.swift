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
/// Reads and writes meet here: a reader notes its read before it takes its engine snapshot; a
/// writer takes its timestamp under the lock and is *in flight* on its key until its intent is
/// written (`write`). A note returns the writers in flight on what it read, which the reader
/// pushes above its timestamp before it reads. So a writer below the read either has its
/// intent in the reader's snapshot (the reader meets it and pushes its owner), or was in flight
/// (pushed), or saw the read. The lock is not held while the intent is written: that engine
/// write can wait behind another commit's sync.
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

    /// A transaction laying an intent, and the key of its record (where it is pushed).
    public struct Writer: Sendable, Equatable {
        public var txn: TxnID
        public var record: [UInt8]
    }

    private let lock = NSLock()
    /// Writers between taking their timestamp and their intent's write, by key.
    private var inFlight: [ByteKey: [Writer]] = [:]
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
    /// - Returns: the other transactions in flight on `key` (the reader pushes them).
    @discardableResult
    public func noteRead(_ key: [UInt8], at ts: Timestamp, txn: TxnID) -> [Writer] {
        lock.lock()
        defer { lock.unlock() }
        let k = ByteKey(key)
        let writers = inFlight.isEmpty ? [] : (inFlight[k] ?? []).filter { $0.txn != txn }
        guard ts > lowWater else { return writers }
        let read = Read(ts: ts, txn: txn)
        current.points[k] = current.points[k].map { $0.merged(read) } ?? read
        added(ts)
        return writers
    }

    /// Notes that `txn` scanned `[lower, upper)` at `ts`.
    /// - Returns: the other transactions in flight on keys of the span.
    @discardableResult
    public func noteRead(lower: [UInt8], upper: [UInt8], at ts: Timestamp, txn: TxnID) -> [Writer] {
        lock.lock()
        defer { lock.unlock() }
        var writers: [Writer] = []
        for (k, ws) in inFlight where compareBytes(lower, k.bytes) <= 0 && compareBytes(k.bytes, upper) < 0 {
            writers.append(contentsOf: ws.filter { $0.txn != txn })
        }
        guard ts > lowWater, compareBytes(lower, upper) < 0 else { return writers }
        current.spans.append((lower, upper, Read(ts: ts, txn: txn)))
        added(ts)
        return writers
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

    /// Runs `body` with the timestamp at which `txn` (its record at `record`) may write `key`:
    /// `ts`, or just above the newest read of `key` by another transaction when that is not
    /// below `ts`. `body` lays the intent; meanwhile the writer is in flight on `key`, and
    /// every read noted on it returns the writer.
    public func write<T>(_ key: [UInt8], txn: TxnID, record: [UInt8], atLeast ts: Timestamp,
                         _ body: (Timestamp) throws(KVError) -> T) throws(KVError) -> T {
        let k = ByteKey(key)
        let writer = Writer(txn: txn, record: record)
        lock.lock()
        let read = newestReadLocked(key)
        var at = ts
        if read.txn == txn {
            at = max(at, read.ts)
        } else if read.ts >= at {
            at = read.ts.next
        }
        inFlight[k, default: []].append(writer)
        lock.unlock()
        defer {
            lock.lock()
            if var ws = inFlight[k], let i = ws.firstIndex(of: writer) {
                ws.remove(at: i)
                inFlight[k] = ws.isEmpty ? nil : ws
            }
            lock.unlock()
        }
        return try body(at)
    }

    /// The newest timestamp any read was noted at (at least the low-water mark): where a new
    /// cache taking this one's place starts (`KVRange.transferLease`).
    public var highWater: Timestamp {
        lock.lock()
        defer { lock.unlock() }
        return max(lowWater, current.newest, previous.newest)
    }

    /// Writers between taking their timestamp and writing their intent (a lease moves only
    /// when there are none).
    public var inFlightCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return inFlight.values.reduce(0) { $0 + $1.count }
    }

    /// The entries held (for tests and statistics).
    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return current.count + previous.count
    }
}
