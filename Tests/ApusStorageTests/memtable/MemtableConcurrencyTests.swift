// Tests that memtable readers need no lock while one writer inserts. The writer adds seeded,
// unique keys whose values are a function of key and sequence; reader threads repeatedly scan
// forward (and partly backward) and do point lookups of keys already published to them. Every
// entry a reader sees must be complete (key, kind and value all match what the writer wrote for
// that sequence), scans must be strictly ordered, a scan must see at least every entry published
// before it began, and lookups of published keys must find them. The writer pauses at chunk
// boundaries (spinning, no sleeps) until every reader has finished a pass that started after the
// boundary, so reads overlap inserts at many sizes of the list. A failure means a reader saw a
// partially written node, a torn link or a misordered list: a publication (acquire/release) bug.
import ApusCore
import Dispatch
import Foundation
import Synchronization
import Testing
@testable import ApusStorage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// State shared between the writer and the readers of one run.
private final class SharedProgress: Sendable {
    /// Entries added so far; stored with release after each add.
    let published = Atomic<Int>(0)
    /// Set with release once the writer has added everything.
    let isDone = Atomic<Bool>(false)
    /// Completed passes per reader. Guarded by its own lock.
    let passes: Mutex<[Int]>
    /// The first few problems readers found. Guarded by its own lock.
    let failures = Mutex<[String]>([])

    init(readerCount: Int) {
        passes = Mutex([Int](repeating: 0, count: readerCount))
    }

    func fail(_ message: String) {
        failures.withLock { if $0.count < 10 { $0.append(message) } }
    }
}

/// Unique 16-byte keys in a seeded, scattered order: a mixed 8-byte prefix, then the index.
private func concurrencyKeys(count: Int, seed: UInt64) -> [[UInt8]] {
    (0..<count).map { i in
        var z = seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        var key: [UInt8] = []
        key.appendBigEndian64(z ^ (z >> 31))
        key.appendBigEndian64(UInt64(i))
        return key
    }
}

/// The kind and value the writer stores for entry `index` (sequence `index + 1`).
private func expectedEntry(_ index: Int, _ key: [UInt8]) -> (kind: ValueKind, value: [UInt8]) {
    if index % 7 == 3 { return (.delete, []) }
    var value: [UInt8] = []
    value.appendFixed64(UInt64(index + 1))
    for j in 0..<(index % 29) { value.append(key[j % key.count] ^ UInt8(truncatingIfNeeded: j)) }
    return (.put, value)
}

/// Checks one entry a reader saw against what the writer wrote; returns a problem or nil.
private func checkEntry(_ key: [UInt8], _ value: [UInt8], keys: [[UInt8]]) -> String? {
    guard let (userKey, sequence, kind) = InternalKey.parse(key) else { return "unparsable key \(key)" }
    let index = Int(sequence) - 1
    guard index >= 0 && index < keys.count else { return "unknown sequence \(sequence)" }
    guard Array(userKey) == keys[index] else { return "key of sequence \(sequence) is \(Array(userKey))" }
    let expected = expectedEntry(index, keys[index])
    guard kind == expected.kind && value == expected.value else { return "entry \(sequence) is incomplete" }
    return nil
}

/// One reader: passes until the writer is done, then one final pass that must see everything.
private func runReader(_ id: Int, memtable: Memtable, keys: [[UInt8]], progress: SharedProgress, seed: UInt64) {
    var rng = seed &+ UInt64(id)
    while true {
        let finished = progress.isDone.load(ordering: .acquiring)
        let publishedBefore = progress.published.load(ordering: .acquiring)
        let it = memtable.makeMemtableIterator()
        it.seekToFirst()
        var seen = 0
        var previous: [UInt8]?
        while it.isValid {
            let key = it.key
            if let previous, memtable.comparator.compareInternal(previous, key) >= 0 {
                progress.fail("reader \(id): scan out of order at \(seen)")
            }
            if let problem = checkEntry(key, it.value, keys: keys) { progress.fail("reader \(id): \(problem)") }
            previous = key
            seen += 1
            it.next()
        }
        if seen < publishedBefore { progress.fail("reader \(id): scan saw \(seen) < \(publishedBefore) published") }
        if finished && seen != keys.count { progress.fail("reader \(id): final scan saw \(seen)") }

        // A short backward walk from the end, and lookups of published keys.
        it.seekToLast()
        previous = nil
        for _ in 0..<50 where it.isValid {
            let key = it.key
            if let previous, memtable.comparator.compareInternal(key, previous) >= 0 {
                progress.fail("reader \(id): backward walk out of order")
            }
            if let problem = checkEntry(key, it.value, keys: keys) { progress.fail("reader \(id): \(problem)") }
            previous = key
            it.prev()
        }
        let published = progress.published.load(ordering: .acquiring)
        for _ in 0..<(published > 0 ? 200 : 0) {
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let index = Int((rng >> 33) % UInt64(published))
            let expected = expectedEntry(index, keys[index])
            let sequence = SequenceNumber(index + 1)
            let wanted: MemtableLookup = expected.kind == .put ? .found(expected.value, sequence) : .deleted(sequence)
            let got = memtable.get(userKey: keys[index], sequence: maxSequenceNumber)
            if got != wanted { progress.fail("reader \(id): get of entry \(sequence) gave \(got)") }
        }
        progress.passes.withLock { $0[id] += 1 }
        if finished { return }
    }
}

@Suite(.serialized) struct MemtableConcurrencyTests {
    @Test(arguments: [UInt64(11), 12])
    func readersDuringInserts(seed: UInt64) {
        let readerCount = 2
        let entryCount = 20_000
        let chunkCount = 8
        let keys = concurrencyKeys(count: entryCount, seed: seed)
        let memtable = Memtable(comparator: .bytewise, capacityBytes: 8 << 20, randomSeed: seed)
        let progress = SharedProgress(readerCount: readerCount)
        // Dedicated threads, not a shared pool: readers run until the writer is done, and a
        // pool with fewer free workers than readers would never start some of them.
        let finished = DispatchSemaphore(value: 0)
        for id in 0..<readerCount {
            let thread = Thread {
                runReader(id, memtable: memtable, keys: keys, progress: progress, seed: seed)
                finished.signal()
            }
            thread.start()
        }
        for chunk in 0..<chunkCount {
            // Wait (spinning) until every reader finished a pass that began after this point.
            let targets = progress.passes.withLock { $0.map { $0 + 2 } }
            while !progress.passes.withLock({ zip($0, targets).allSatisfy { $0 >= $1 } }) { sched_yield() }
            let range = (chunk * entryCount / chunkCount)..<((chunk + 1) * entryCount / chunkCount)
            for index in range {
                let entry = expectedEntry(index, keys[index])
                memtable.add(sequence: SequenceNumber(index + 1), kind: entry.kind, key: keys[index], value: entry.value)
                progress.published.store(index + 1, ordering: .releasing)
            }
        }
        progress.isDone.store(true, ordering: .releasing)
        for _ in 0..<readerCount { finished.wait() }
        let failures = progress.failures.withLock { $0 }
        #expect(failures.isEmpty, "seed \(seed): \(failures)")
        #expect(memtable.entryCount == entryCount)
    }
}
