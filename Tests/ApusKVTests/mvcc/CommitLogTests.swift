import ApusCore
@testable import ApusKV
import Testing

/// A range's commit log (`CommitLog`) against a model that keeps every commit: for a start at
/// or above what was forgotten, both answers (a key; keys and spans) must be exactly the
/// model's; below it, "yes".
@Suite struct CommitLogTests {
    private static func key(_ n: Int) -> [UInt8] { [UInt8(n / 256), UInt8(n % 256)] }
    private static func ts(_ n: UInt64) -> Timestamp { Timestamp(wallNanos: n) }

    /// Odd seeds keep every commit of more than two keys as a large one (hashed when asked).
    @Test(arguments: 1...20)
    func answersAsAModelThatForgetsNothing(seed: Int) {
        var rng = SplitMix64(seed: UInt64(seed))
        let log = CommitLog(floor: .zero, largeCommitKeys: seed % 2 == 1 ? 2 : 4096)
        var commits: [(stamp: UInt64, keys: [Int])] = []
        var stamp: UInt64 = 0
        var forgotten: UInt64 = 0
        let keySpace = 40
        func modelWritten(after start: UInt64, _ hit: (Int) -> Bool) -> Bool {
            commits.contains { $0.stamp > start && $0.keys.contains(where: hit) }
        }
        for step in 0..<600 {
            switch rng.uniform(6) {
            case 0, 1, 2:
                // Seeds above 10: a third of the commits reach the log late, with a stamp up to
                // ten below the newest (equal stamps too; those at or below the floor go).
                var at = stamp + UInt64(1 + rng.uniform(3))
                if seed > 10 && rng.uniform(3) == 0 {
                    at = stamp - UInt64(min(Int(stamp), rng.uniform(10)))
                } else {
                    stamp = at
                }
                let keys = (0..<rng.uniform(5)).map { _ in rng.uniform(keySpace) }
                log.note(keys.map(CommitLogTests.key), at: CommitLogTests.ts(at))
                if !keys.isEmpty && at > forgotten { commits.append((at, keys)) }
            case 3:
                // Forget through some stamp at most the newest (never beyond an open start).
                let through = forgotten + UInt64(rng.uniform(Int(stamp - forgotten) + 1))
                log.forget(through: CommitLogTests.ts(through))
                forgotten = max(forgotten, through)
            default:
                let start = UInt64(rng.uniform(Int(stamp) + 2))
                let k = rng.uniform(keySpace)
                let expectKey = start < forgotten || modelWritten(after: start) { $0 == k }
                #expect(log.writtenAfter(ByteKey(CommitLogTests.key(k)), CommitLogTests.ts(start)) == expectKey,
                        "seed \(seed) step \(step): key \(k) after \(start)")
                // A read set: a few keys and disjoint sorted spans.
                let readKeys = (0..<rng.uniform(3)).map { _ in rng.uniform(keySpace) }
                var spans: [(Int, Int)] = []
                var lower = rng.uniform(keySpace / 2)
                for _ in 0..<rng.uniform(3) {
                    let upper = lower + 1 + rng.uniform(6)
                    if upper > keySpace { break }
                    spans.append((lower, upper))
                    lower = upper + 1 + rng.uniform(6)
                }
                let expectSet = start < forgotten || modelWritten(after: start) { k in
                    readKeys.contains(k) || spans.contains { k >= $0.0 && k < $0.1 }
                }
                let got = log.writtenAfter(
                    keys: readKeys.map { ByteKey(CommitLogTests.key($0)) },
                    spans: spans.map { (CommitLogTests.key($0.0), CommitLogTests.key($0.1)) }, CommitLogTests.ts(start))
                #expect(got == expectSet, "seed \(seed) step \(step): read set \(readKeys) \(spans) after \(start)")
            }
        }
        // Everything forgotten: only commits above the newest stamp would count, and there are none.
        log.forget(through: CommitLogTests.ts(stamp))
        #expect(log.count == 0)
        #expect(!log.writtenAfter(ByteKey(CommitLogTests.key(0)), CommitLogTests.ts(stamp)))
        #expect(log.writtenAfter(ByteKey(CommitLogTests.key(0)), CommitLogTests.ts(stamp - 1)) == (stamp > 0))
    }

    /// A commit noted late, below a newer one of the same key, leaves the newer one the key's
    /// writer; one at or below the floor is dropped.
    @Test func aLateCommitKeepsTheNewerWriter() {
        let log = CommitLog(floor: CommitLogTests.ts(10))
        let k = CommitLogTests.key(7)
        log.note([k], at: CommitLogTests.ts(50))
        log.note([k, CommitLogTests.key(8)], at: CommitLogTests.ts(45))
        #expect(log.writtenAfter(ByteKey(k), CommitLogTests.ts(47)))
        #expect(log.writtenAfter(ByteKey(CommitLogTests.key(8)), CommitLogTests.ts(44)))
        #expect(!log.writtenAfter(ByteKey(CommitLogTests.key(8)), CommitLogTests.ts(45)))
        log.forget(through: CommitLogTests.ts(45))
        #expect(log.writtenAfter(ByteKey(k), CommitLogTests.ts(47)))
        #expect(log.count == 1)
        log.note([CommitLogTests.key(9)], at: CommitLogTests.ts(40))
        #expect(log.count == 1, "a commit below the floor was kept")
    }

    @Test func spansAreHalfOpenAndTimestampsOrderCommits() {
        let log = CommitLog(floor: .zero)
        let t1 = Timestamp(wallNanos: 10, logical: 0), t2 = Timestamp(wallNanos: 10, logical: 1)
        log.note([Array("b".utf8)], at: t1)
        log.note([Array("d".utf8)], at: t2)
        let bc: [(lower: [UInt8], upper: [UInt8])] = [(Array("a".utf8), Array("b".utf8))]
        #expect(!log.writtenAfter(keys: [ByteKey](), spans: bc, .zero))  // upper bound excluded
        let bd: [(lower: [UInt8], upper: [UInt8])] = [(Array("b".utf8), Array("c".utf8))]
        #expect(log.writtenAfter(keys: [ByteKey](), spans: bd, .zero))
        #expect(!log.writtenAfter(keys: [ByteKey](), spans: bd, t1))  // "b" at t1, not after it
        #expect(log.writtenAfter(ByteKey(Array("d".utf8)), t1))
        log.forget(through: t1)
        #expect(log.count == 1)
        #expect(log.writtenAfter(ByteKey(Array("z".utf8)), .zero))  // below the floor: yes
        #expect(!log.writtenAfter(ByteKey(Array("b".utf8)), t1))
    }
}
