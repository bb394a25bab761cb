import Synchronization

/// A consistent view of the engine at one sequence number: reads through it see exactly the
/// writes committed before it was taken, whatever happens afterwards.
///
/// Holding a snapshot keeps compaction from dropping the versions it can see; release it (or let
/// it go out of scope) when done. Concurrency: immutable; safe to share across threads.
public final class Snapshot: Sendable {
    /// The sequence number of the last write the snapshot sees.
    public let sequence: SequenceNumber
    private let shard: SnapshotRegistry.Shard

    init(sequence: SequenceNumber, registry: SnapshotRegistry) {
        self.sequence = sequence
        self.shard = registry.add(sequence)
    }

    deinit { shard.remove(sequence) }
}

/// The multiset of live snapshot sequences, for compaction's "oldest reader" bound.
///
/// In 16 shards, each a `Mutex` over its own counts: a snapshot is counted in the shard a
/// rotating counter picks and removed from the same one. Every read takes and drops a snapshot,
/// so with one lock concurrent readers queued on it (`perf` on pgbench select-only with 8
/// clients: 3% of samples spinning in the lock and more asleep on its futex). The rare
/// questions about all of them (`oldest`, `count`) visit every shard.
/// Concurrency: the shards' mutexes, never held while taking the engine's monitor (and `oldest`
/// takes them one at a time).
final class SnapshotRegistry: Sendable {
    final class Shard: Sendable {
        let live = Mutex<[SequenceNumber: Int]>([:])

        func remove(_ s: SequenceNumber) {
            live.withLock { m in
                if let n = m[s], n > 1 { m[s] = n - 1 } else { m[s] = nil }
            }
        }
    }

    static let shardCount = 16
    private let shards = (0..<SnapshotRegistry.shardCount).map { _ in Shard() }
    private let next = Atomic<Int>(0)

    /// Counts `s` in a shard; returns it (the snapshot removes `s` from it).
    func add(_ s: SequenceNumber) -> Shard {
        let shard = shards[next.wrappingAdd(1, ordering: .relaxed).oldValue & (SnapshotRegistry.shardCount - 1)]
        shard.live.withLock { $0[s, default: 0] += 1 }
        return shard
    }

    /// The oldest live snapshot, if any. A snapshot taken while the shards are visited may be
    /// missed, but it is at the visible sequence, which no compaction in progress has passed.
    var oldest: SequenceNumber? {
        shards.compactMap { $0.live.withLock { $0.keys.min() } }.min()
    }

    var count: Int { shards.reduce(0) { sum, shard in sum + shard.live.withLock { $0.values.reduce(0, +) } } }
}
