import Atomics

/// A bloom filter over a memtable's keys (whole keys as `KeyComparator.prefixLength` cuts
/// them, and the `BloomPrefix` prefixes), so that point reads and one-prefix reads skip the
/// skip-list search of a memtable that lacks the key: at a million entries that search is
/// the most expensive step of a read that the table filters already answer.
///
/// Concurrency: one writer adds (before the entry is inserted into the skip list); readers
/// test concurrently. Bits are set and read with relaxed atomics: a reader only needs the bits
/// of entries its snapshot can see, and those were added before the entry's sequence was
/// published (with release ordering) and the reader acquired it.
package final class MemtableFilter: @unchecked Sendable {
    private let words: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    private let wordCount: Int
    private let bitCount: UInt64
    static let probes = 6

    /// A filter of about `bits` bits (at least 64 Ki, at most 32 Mi).
    init(bits: Int) {
        wordCount = Swift.min(Swift.max(bits, 1 << 16), 1 << 25) / 64
        bitCount = UInt64(wordCount * 64)
        words = .allocate(capacity: wordCount)
        words.initialize(repeating: UnsafeAtomic<UInt64>.Storage(0), count: wordCount)
    }

    deinit {
        words.deinitialize(count: wordCount)
        words.deallocate()
    }

    func add(_ h: UInt64) {
        var position = h & 0xFFFF_FFFF
        let delta = (h >> 32) | 1
        for _ in 0..<MemtableFilter.probes {
            let bit = position % bitCount
            UnsafeAtomic<UInt64>(at: words + Int(bit >> 6)).loadThenBitwiseOr(with: 1 << (bit & 63), ordering: .relaxed)
            position &+= delta
        }
    }

    func mayContain(_ h: UInt64) -> Bool {
        var position = h & 0xFFFF_FFFF
        let delta = (h >> 32) | 1
        for _ in 0..<MemtableFilter.probes {
            let bit = position % bitCount
            if UnsafeAtomic<UInt64>(at: words + Int(bit >> 6)).load(ordering: .relaxed) & (1 << (bit & 63)) == 0 { return false }
            position &+= delta
        }
        return true
    }
}
