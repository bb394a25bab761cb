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
    static let probes = 6

    /// A filter of about `bits` bits (at least 64 Ki, at most 32 Mi).
    init(bits: Int) {
        wordCount = Swift.min(Swift.max(bits, 1 << 16), 1 << 25) / 64
        // Aligned to a cache line, so that each block is one.
        words = UnsafeMutableRawPointer.allocate(byteCount: wordCount * 8, alignment: 64)
            .bindMemory(to: UnsafeAtomic<UInt64>.Storage.self, capacity: wordCount)
        words.initialize(repeating: UnsafeAtomic<UInt64>.Storage(0), count: wordCount)
    }

    deinit {
        words.deinitialize(count: wordCount)
        UnsafeMutableRawPointer(words).deallocate()
    }

    /// The probes of hash `h`, as words and masks: all in one 512-bit block (one cache line),
    /// placed by the table filters' blocked rule (`BloomFilter.blockedBits`: no division).
    @inline(__always)
    private func probes(_ h: UInt64, _ body: (Int, UInt64) -> Bool) -> Bool {
        BloomFilter.blockedBits(h, blocks: wordCount / 8, k: MemtableFilter.probes) { bit in
            body(bit >> 6, 1 << UInt64(bit & 63))
        }
    }

    func add(_ h: UInt64) {
        _ = probes(h) { word, mask in
            UnsafeAtomic<UInt64>(at: words + word).loadThenBitwiseOr(with: mask, ordering: .relaxed)
            return true
        }
    }

    func mayContain(_ h: UInt64) -> Bool {
        probes(h) { word, mask in UnsafeAtomic<UInt64>(at: words + word).load(ordering: .relaxed) & mask != 0 }
    }
}
