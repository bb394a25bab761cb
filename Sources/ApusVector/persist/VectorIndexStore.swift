import ApusCore
import Synchronization

/// Where an index persists itself: an ordered key space of byte keys and values.
///
/// This is the slice of the KV layer an index needs. The engine-backed implementation (keys
/// under the index's table span, so the graph replicates and splits with its table) arrives
/// with `ApusKV`; until then `InMemoryVectorIndexStore` serves tests and the benchmark.
///
/// Contract: `write` applies a whole batch or none of it; `scan` returns every pair whose key
/// starts with `prefix`, in ascending bytewise key order.
public protocol VectorIndexStore: Sendable {
    /// The value at `key`, or `nil`.
    func get(_ key: [UInt8]) throws -> [UInt8]?
    /// Applies the batch atomically.
    func write(_ batch: VectorStoreBatch) throws
    /// Every pair under `prefix`, ascending by key.
    func scan(prefix: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])]
}

/// Puts and deletes applied together by `VectorIndexStore.write`; deletes apply after puts.
public struct VectorStoreBatch: Sendable {
    public var puts: [(key: [UInt8], value: [UInt8])] = []
    public var deletes: [[UInt8]] = []

    public init() {}

    public var isEmpty: Bool { puts.isEmpty && deletes.isEmpty }
}

/// An in-memory `VectorIndexStore`, for tests and the benchmark.
///
/// Concurrency: all state behind one `Mutex`. `failsWrites` makes every later `write` throw
/// (to test that the index stops accepting writes after a failed persist).
public final class InMemoryVectorIndexStore: VectorIndexStore {
    private struct State {
        var pairs: [[UInt8]: [UInt8]] = [:]
        var failsWrites = false
        var writeCount = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func get(_ key: [UInt8]) throws -> [UInt8]? {
        state.withLock { $0.pairs[key] }
    }

    public func write(_ batch: VectorStoreBatch) throws {
        try state.withLock { s throws(VectorError) in
            if s.failsWrites { throw VectorError(.storeFailed, "injected write failure") }
            for p in batch.puts { s.pairs[p.key] = p.value }
            for k in batch.deletes { s.pairs[k] = nil }
            s.writeCount += 1
        }
    }

    public func scan(prefix: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])] {
        let found = state.withLock { s in
            s.pairs.filter { $0.key.starts(with: prefix) }.map { (key: $0.key, value: $0.value) }
        }
        return found.sorted { compareBytes($0.key, $1.key) < 0 }
    }

    /// Makes every later `write` fail (`true`) or succeed again (`false`).
    public func setFailsWrites(_ fails: Bool) {
        state.withLock { $0.failsWrites = fails }
    }

    /// Number of pairs held.
    public var count: Int { state.withLock { $0.pairs.count } }

    /// Number of batches written.
    public var writeCount: Int { state.withLock { $0.writeCount } }
}
