/// Per-search working memory, reused across searches so a warm search allocates nothing.
///
/// The visited set is an array of generation stamps: a node is visited in this search when its
/// stamp equals `generation`. Starting a search bumps the generation instead of clearing the
/// array; only on wrap-around (every 2^32 - 1 searches) is it zeroed.
///
/// Concurrency: `@unchecked Sendable` because one search owns a scratch at a time; the index
/// hands scratches out of and back into `ScratchPool` under its mutex and never shares one.
final class SearchScratch: @unchecked Sendable {
    var visited: [UInt32] = []
    var generation: UInt32 = 0
    var candidates = NearestFirstHeap()
    var results = FarthestFirstHeap()

    /// Starts a search over `nodeCount` nodes: every node unvisited, heaps empty.
    func begin(nodeCount: Int) {
        if visited.count < nodeCount {
            visited.append(contentsOf: repeatElement(0, count: nodeCount - visited.count))
        }
        if generation == UInt32.max {
            for i in visited.indices { visited[i] = 0 }
            generation = 0
        }
        generation &+= 1
        candidates.removeAll()
        results.removeAll()
    }
}

import Synchronization

/// A bounded stack of idle scratches shared by the searches of one index.
///
/// At most `idleMax` scratches are kept; a search that finds the pool empty makes a new one,
/// and a scratch returned to a full pool is dropped, so memory stays bounded by
/// `idleMax * nodes * 4` bytes of visited stamps.
final class ScratchPool: Sendable {
    private let idle = Mutex<[SearchScratch]>([])
    let idleMax: Int

    init(idleMax: Int = 8) { self.idleMax = idleMax }

    func take() -> SearchScratch {
        idle.withLock { $0.popLast() } ?? SearchScratch()
    }

    func give(_ scratch: SearchScratch) {
        idle.withLock { pool in
            if pool.count < idleMax { pool.append(scratch) }
        }
    }
}
