import ApusCore
@testable import ApusSQL
import Testing

/// `SortedKeys` against a sorted set: random inserts (with repeats, enough to split chunks)
/// and random range queries.
@Suite struct SortedKeysTests {
    @Test(arguments: 1...8)
    func matchesASortedSet(seed: Int) {
        var rng = SplitMix64(seed: UInt64(seed))
        var keys = SortedKeys()
        var model = Set<[UInt8]>()
        func randomKey() -> [UInt8] {
            let n = Int(rng.next() % 4) + 1
            return (0..<n).map { _ in UInt8(rng.next() % 6) }
        }
        for step in 0..<3000 {
            let k = step % 3 == 0 ? [UInt8(step >> 8), UInt8(step & 255), 9] : randomKey()
            keys.insert(k)
            model.insert(k)
            if step % 97 == 0 {
                let sorted = model.sorted { Value.cmpBytes($0, $1) < 0 }
                #expect(keys.all == sorted, "seed \(seed) step \(step)")
                let a = randomKey(), b = randomKey()
                let (lo, hi) = Value.cmpBytes(a, b) <= 0 ? (a, b) : (b, a)
                let want = sorted.filter { Value.cmpBytes($0, lo) >= 0 && Value.cmpBytes($0, hi) < 0 }
                #expect(keys.range(lo, hi) == want, "seed \(seed) step \(step)")
            }
        }
        #expect(keys.all.count == model.count)
    }
}
