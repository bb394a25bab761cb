import ApusCore
@testable import ApusKV
import Foundation
import Synchronization
import Testing

/// A range's timestamp cache against a model that keeps every read: a write must land above
/// every other transaction's read of its key, and without rotation (a large limit) exactly
/// just above it; with rotation (a small limit) it may land higher, never lower.
@Suite struct TimestampCacheTests {
    private static func key(_ n: Int) -> [UInt8] { [UInt8(n / 256), UInt8(n % 256)] }
    private static func ts(_ n: Int) -> Timestamp { Timestamp(wallNanos: UInt64(n)) }

    /// Even seeds: limits that never rotate; seeds 1 mod 4: an entry limit that rotates every
    /// few reads; 3 mod 4: a span limit that does.
    @Test(arguments: 1...20)
    func writesLandAboveEveryOtherReadOfTheirKey(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed))
        let exact = seed % 2 == 0
        let cache = exact ? TimestampCache(limit: 1 << 20) : seed % 4 == 1 ? TimestampCache(limit: 6) : TimestampCache(limit: 1 << 20, spanLimit: 4)
        // The model: every read (key span [lo, hi) of key numbers, timestamp, reader).
        var reads: [(lo: Int, hi: Int, ts: Int, txn: TxnID)] = []
        let keySpace = 30
        for step in 0..<800 {
            switch rng.uniform(5) {
            case 0, 1:
                let k = rng.uniform(keySpace), t = 1 + rng.uniform(200), txn = TxnID(1 + rng.uniform(4))
                cache.noteRead(TimestampCacheTests.key(k), at: TimestampCacheTests.ts(t), txn: txn)
                reads.append((k, k + 1, t, txn))
            case 2:
                let lo = rng.uniform(keySpace), hi = lo + 1 + rng.uniform(6), t = 1 + rng.uniform(200), txn = TxnID(1 + rng.uniform(4))
                cache.noteRead(lower: TimestampCacheTests.key(lo), upper: TimestampCacheTests.key(hi), at: TimestampCacheTests.ts(t), txn: txn)
                reads.append((lo, hi, t, txn))
            default:
                let k = rng.uniform(keySpace), txn = TxnID(1 + rng.uniform(4)), at = 1 + rng.uniform(200)
                let got = try cache.write(TimestampCacheTests.key(k), txn: txn, record: [0], atLeast: TimestampCacheTests.ts(at)) {
                    (ts: Timestamp) throws(KVError) -> Timestamp in ts
                }
                // The model: above every other transaction's read of k, and not below `at` or
                // the writer's own reads (the cache may merge those into "somebody's").
                let covering = reads.filter { $0.lo <= k && k < $0.hi }
                let others = covering.filter { $0.txn != txn }.map(\.ts).max() ?? 0
                #expect(got >= TimestampCacheTests.ts(at), "seed \(seed) step \(step)")
                #expect(got > TimestampCacheTests.ts(others), "seed \(seed) step \(step): a write below a read")
                if exact {
                    // Exactly the smallest such timestamp, allowing the writer's own newest read.
                    let own = covering.filter { $0.txn == txn }.map(\.ts).max() ?? 0
                    let newest = max(others, own)
                    let expected: Timestamp
                    if own > others {
                        expected = max(TimestampCacheTests.ts(at), TimestampCacheTests.ts(own))
                    } else if others >= at {
                        expected = TimestampCacheTests.ts(others).next
                    } else {
                        expected = TimestampCacheTests.ts(at)
                    }
                    #expect(got == expected, "seed \(seed) step \(step): newest read \(newest)")
                    #expect(cache.newestRead(TimestampCacheTests.key(k)).ts == TimestampCacheTests.ts(newest), "seed \(seed) step \(step)")
                }
            }
        }
        if !exact {
            #expect(cache.lowWater > .zero, "seed \(seed): the small limit never rotated")
            if seed % 4 == 1 { #expect(cache.count <= 8, "seed \(seed): \(cache.count) entries kept") }
        }
    }

    /// Two transactions read at one timestamp: the read is nobody's own, so either writer lands
    /// above it.
    @Test func aTieIsNobodysOwnRead() throws {
        let cache = TimestampCache()
        cache.noteRead([1], at: Timestamp(wallNanos: 10), txn: 1)
        cache.noteRead(lower: [0], upper: [2], at: Timestamp(wallNanos: 10), txn: 2)
        #expect(cache.newestRead([1]) == .init(ts: Timestamp(wallNanos: 10), txn: 0))
        let got = try cache.write([1], txn: 1, record: [0], atLeast: Timestamp(wallNanos: 5)) { (ts: Timestamp) throws(KVError) -> Timestamp in ts }
        #expect(got == Timestamp(wallNanos: 10).next)
    }
}

extension TimestampCacheTests {
    /// A writer is in flight on its key while it lays its intent: a read noted meanwhile (of the
    /// key, or of a span holding it) returns it, to be pushed; the writer's own reads do not;
    /// once the intent is laid, nobody is in flight.
    @Test func aReadNotedWhileAnIntentIsLaidReturnsTheWriter() throws {
        let cache = TimestampCache()
        let writer = TimestampCache.Writer(txn: 5, record: [9])
        var seen: [[TimestampCache.Writer]] = []
        try cache.write([1, 2], txn: 5, record: [9], atLeast: Timestamp(wallNanos: 10)) { (_: Timestamp) throws(KVError) in
            seen.append(cache.noteRead([1, 2], at: Timestamp(wallNanos: 8), txn: 6))
            seen.append(cache.noteRead(lower: [1], upper: [2], at: Timestamp(wallNanos: 8), txn: 6))
            seen.append(cache.noteRead(lower: [1, 3], upper: [2], at: Timestamp(wallNanos: 8), txn: 6))
            seen.append(cache.noteRead([1, 2], at: Timestamp(wallNanos: 8), txn: 5))
            seen.append(cache.noteRead([1, 3], at: Timestamp(wallNanos: 8), txn: 6))
        }
        #expect(seen == [[writer], [writer], [], [], []])
        #expect(cache.noteRead([1, 2], at: Timestamp(wallNanos: 9), txn: 6) == [])
        #expect(cache.noteRead(lower: [0], upper: [3], at: Timestamp(wallNanos: 9), txn: 6) == [])
    }
}

/// The live transactions of a range: pushes, the commit decision, and a push that waits for a
/// commit at or below it.
@Suite struct LiveTxnsTests {
    @Test func aPushRaisesTheCommitTimestampUntilDecided() throws {
        let live = LiveTxns()
        #expect(try live.push(7, above: Timestamp(wallNanos: 5)) == .gone)
        live.begin(7)
        #expect(try live.push(7, above: Timestamp(wallNanos: 5)) == .pushed)
        #expect(live.minimum(7) == Timestamp(wallNanos: 5).next)
        #expect(try live.push(7, above: Timestamp(wallNanos: 3)) == .pushed)
        #expect(live.minimum(7) == Timestamp(wallNanos: 5).next, "a lower push lowered the minimum")
        // Deciding below the push is refused with the minimum; at it, fixed.
        #expect(try live.decide(7, at: Timestamp(wallNanos: 4)) == Timestamp(wallNanos: 5).next)
        #expect(try live.decide(7, at: Timestamp(wallNanos: 6)) == nil)
        // A push below the decided timestamp does not wait: the commit is above it.
        #expect(try live.push(7, above: Timestamp(wallNanos: 5)) == .pushed)
        live.finish(7)
        #expect(live.count == 0)
    }

    /// A push at or above a decided commit returns only once the commit is finished (its record
    /// written), so that the pusher reads it.
    @Test func aPushAboveADecidedCommitWaitsForIt() throws {
        let live = LiveTxns()
        live.begin(9)
        #expect(try live.decide(9, at: Timestamp(wallNanos: 10)) == nil)
        let finished = Mutex(false)
        let returned = DispatchSemaphore(value: 0)
        let outcome = Mutex<LiveTxns.PushOutcome?>(nil)
        let started = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            started.signal()
            let o = try? live.push(9, above: Timestamp(wallNanos: 10))
            outcome.withLock { $0 = o }
            #expect(finished.withLock { $0 }, "the push returned before the commit finished")
            returned.signal()
        }
        started.wait()
        // Some work on this thread before finishing, so that a push that does not wait returns first.
        var x = 0
        for i in 0..<2_000_000 { x &+= i }
        #expect(x != 1)
        finished.withLock { $0 = true }
        live.finish(9)
        returned.wait()
        #expect(outcome.withLock { $0 } == .gone)
    }
}
