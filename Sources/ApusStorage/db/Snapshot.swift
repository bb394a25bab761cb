import Synchronization

/// A consistent view of the engine at one sequence number: reads through it see exactly the
/// writes committed before it was taken, whatever happens afterwards.
///
/// Holding a snapshot keeps compaction from dropping the versions it can see; release it (or let
/// it go out of scope) when done. Concurrency: immutable; safe to share across threads.
public final class Snapshot: Sendable {
    /// The sequence number of the last write the snapshot sees.
    public let sequence: SequenceNumber
    private let registry: SnapshotRegistry

    init(sequence: SequenceNumber, registry: SnapshotRegistry) {
        self.sequence = sequence
        self.registry = registry
        registry.add(sequence)
    }

    deinit { registry.remove(sequence) }
}

/// The multiset of live snapshot sequences, for compaction's "oldest reader" bound.
/// Concurrency: a `Mutex`; never held while taking the engine's monitor.
final class SnapshotRegistry: Sendable {
    private let live = Mutex<[SequenceNumber: Int]>([:])

    func add(_ s: SequenceNumber) { live.withLock { $0[s, default: 0] += 1 } }

    func remove(_ s: SequenceNumber) {
        live.withLock { m in
            if let n = m[s], n > 1 { m[s] = n - 1 } else { m[s] = nil }
        }
    }

    /// The oldest live snapshot, if any.
    var oldest: SequenceNumber? { live.withLock { $0.keys.min() } }
    var count: Int { live.withLock { $0.values.reduce(0, +) } }
}
