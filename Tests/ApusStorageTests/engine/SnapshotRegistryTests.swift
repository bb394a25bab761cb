// The registry of live snapshots (`SnapshotRegistry`), which compaction asks for the oldest
// sequence it must keep: in shards now, so it must still count every snapshot exactly once and
// name the oldest while snapshots come and go on many threads.
import ApusCore
import Dispatch
import Testing
@testable import ApusStorage

@Suite struct SnapshotRegistryTests {
    @Test func countsAndOldestAcrossShards() throws {
        let registry = SnapshotRegistry()
        #expect(registry.oldest == nil && registry.count == 0)
        // More snapshots than shards, two at the same sequence.
        var held = (0..<40).map { Snapshot(sequence: SequenceNumber(100 + $0 % 37), registry: registry) }
        #expect(registry.count == 40)
        #expect(registry.oldest == 100)
        // Dropping the snapshots at 100 (two of them) leaves 101 the oldest; the count follows.
        held.removeAll { $0.sequence == 100 }
        #expect(registry.count == 38)
        #expect(registry.oldest == 101)
        held.removeAll()
        #expect(registry.oldest == nil && registry.count == 0)
    }

    /// Threads take and drop snapshots at newer sequences while one old snapshot is held: the
    /// oldest stays the held one throughout, and nothing is left counted at the end.
    @Test func concurrentSnapshotsKeepTheOldest() throws {
        let registry = SnapshotRegistry()
        let old = Snapshot(sequence: 7, registry: registry)
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<20_000 {
                let s = Snapshot(sequence: SequenceNumber(10 + (i * 31 + t) % 1000), registry: registry)
                if i % 1000 == 0 { #expect(registry.oldest == 7, "thread \(t) step \(i)") }
                _ = s.sequence
            }
        }
        #expect(registry.count == 1)
        #expect(registry.oldest == old.sequence)
    }
}
