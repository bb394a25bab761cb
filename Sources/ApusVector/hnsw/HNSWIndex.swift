/// An HNSW vector index: approximate k-nearest-neighbor search under L2, cosine or inner
/// product, with inserts and deletes while searches run, filtered search that returns exactly
/// `k` rows whenever `k` rows match, and optional persistence in an ordered key space.
///
/// ```swift
/// let index = try HNSWIndex(parameters: HNSWParameters(dimension: 3, metric: .cosine))
/// try index.insert(rowID: 1, vector: [1, 0, 0])
/// let hits = try index.search([1, 0.1, 0], k: 10, efSearch: 40)
/// ```
///
/// Concurrency contract: every method may be called from any thread at any time. Searches take
/// the read side of a readers-writer lock and run in parallel with each other; `insert` and
/// `remove` take the write side, so each is atomic with respect to searches: a search sees a
/// row entirely or not at all, and sees every write that returned before it started. A search
/// waits for at most one write in progress (one insert costs about `ef_construction * m`
/// distances). With a store, each write persists its changed nodes in one batch while holding
/// the write lock, so the store's order is the index's order.
///
/// Failure: if persisting a write fails, the in-memory graph already has it but the store may
/// not, so the index stops accepting writes (`storeFailed`) and keeps serving searches; reopen
/// from the store to continue from the last persisted state.
public final class HNSWIndex: Sendable {
    private struct State {
        var graph: HNSWGraph
        var writesStopped: VectorError?
    }

    /// The build parameters.
    public let parameters: HNSWParameters
    public let limits: VectorLimits
    private let state: ReadWriteLock<State>
    private let scratches = ScratchPool()
    private let store: (any VectorIndexStore)?
    private let keyPrefix: [UInt8]

    /// Creates an empty in-memory index.
    ///
    /// - Throws: `invalidArgument` if a parameter or limit is out of range.
    public convenience init(parameters: HNSWParameters, limits: VectorLimits = VectorLimits()) throws {
        try self.init(parameters: parameters, limits: limits, store: nil, keyPrefix: [])
    }

    /// Opens the index persisted under `keyPrefix` in `store`, or creates it there (writing its
    /// meta record) if the prefix holds nothing.
    ///
    /// When an index exists, its persisted parameters win over `parameters`, except that the
    /// dimension and metric must agree (a mismatch is `invalidArgument`).
    /// - Throws: `corruption` or `unsupportedVersion` for a bad record, `storeFailed`-coded or
    ///   the store's own errors when it fails.
    public init(
        parameters: HNSWParameters, limits: VectorLimits = VectorLimits(), store: (any VectorIndexStore)?,
        keyPrefix: [UInt8]
    ) throws {
        try limits.validate()
        try parameters.validate(limits)
        self.limits = limits
        self.store = store
        self.keyPrefix = keyPrefix
        var graph = HNSWGraph(parameters: parameters, limits: limits)
        if let store {
            if let metaBytes = try store.get(HNSWFormat.metaKey(prefix: keyPrefix)) {
                graph = try HNSWIndex.load(store: store, prefix: keyPrefix, meta: metaBytes, limits: limits)
                guard graph.dimension == parameters.dimension, graph.metric == parameters.metric else {
                    throw VectorError(
                        .invalidArgument,
                        "persisted index has dimension \(graph.dimension) and metric \(graph.metric)")
                }
            } else {
                var batch = VectorStoreBatch()
                batch.puts.append((HNSWFormat.metaKey(prefix: keyPrefix), HNSWFormat.encodeMeta(graph)))
                try store.write(batch)
            }
            graph.tracksDirty = true
        }
        self.parameters = graph.parameters
        state = ReadWriteLock(State(graph: graph))
    }

    private static func load(store: any VectorIndexStore, prefix: [UInt8], meta metaBytes: [UInt8], limits: VectorLimits)
        throws -> HNSWGraph
    {
        let meta = try HNSWFormat.decodeMeta(metaBytes, limits: limits)
        var graph = HNSWGraph(parameters: meta.parameters, limits: limits)
        graph.generator = SeededGenerator(seed: meta.rngState)
        let pairs = try store.scan(prefix: prefix + [HNSWFormat.nodeTag])
        guard pairs.count == meta.nodeCount else {
            throw VectorError(.corruption, "hnsw: meta counts \(meta.nodeCount) nodes, store holds \(pairs.count)")
        }
        for (i, pair) in pairs.enumerated() {
            let node = Int32(i)
            guard pair.key == HNSWFormat.nodeKey(prefix: prefix, node: node) else {
                throw VectorError(.corruption, "hnsw: node \(i) missing or misplaced")
            }
            try HNSWFormat.decodeNode(pair.value, node: node, nodeCount: meta.nodeCount, into: &graph)
        }
        // Links on level l must point at nodes that reach level l, or a search would index
        // past their link lists.
        for node in 0..<graph.nodeCount {
            for level in stride(from: Int(graph.levels[node]), through: 1, by: -1) {
                for n in graph.links(of: Int32(node), level: level) where Int(graph.levels[Int(n)]) < level {
                    throw VectorError(.corruption, "hnsw: node \(node) links to node \(n) above its level")
                }
            }
        }
        graph.entryPoint = meta.entryPoint
        graph.maxLevel = meta.maxLevel
        if meta.entryPoint >= 0 {
            guard Int(graph.levels[Int(meta.entryPoint)]) == meta.maxLevel,
                graph.levels.allSatisfy({ Int($0) <= meta.maxLevel })
            else { throw VectorError(.corruption, "hnsw: entry point is not on the top level") }
        }
        graph.dirtyNodes.removeAll()
        return graph
    }

    /// Adds a row.
    ///
    /// - Throws: `dimensionMismatch`, `nonFiniteValue`, `zeroVector` (cosine) for a bad vector;
    ///   `duplicateRowID`; `limitExceeded`; `storeFailed` after an earlier persist failure; the
    ///   store's error if persisting fails.
    public func insert(rowID: Int64, vector: [Float]) throws {
        let stored = try validatedVector(vector, dimension: parameters.dimension, metric: parameters.metric)
        let scratch = scratches.take()
        defer { scratches.give(scratch) }
        try state.withWriteLock { s throws in
            if let stopped = s.writesStopped { throw stopped }
            try s.graph.insert(rowID: rowID, vector: stored, scratch: scratch)
            try persistLocked(&s)
        }
    }

    /// The vector indexed for `rowID` (normalized under cosine), or nil when the row is not
    /// indexed.
    public func vector(rowID: Int64) -> [Float]? {
        state.withReadLock { s in
            guard let node = s.graph.nodeByRow[rowID] else { return nil }
            let d = s.graph.dimension
            return Array(s.graph.vectors[Int(node) * d ..< (Int(node) + 1) * d])
        }
    }

    /// Removes a row; later searches do not return it.
    ///
    /// - Throws: `rowNotFound`; `storeFailed` after an earlier persist failure; the store's error.
    public func remove(rowID: Int64) throws {
        try state.withWriteLock { s throws in
            if let stopped = s.writesStopped { throw stopped }
            try s.graph.remove(rowID: rowID)
            try persistLocked(&s)
        }
    }

    private func persistLocked(_ s: inout State) throws {
        guard let store else { return }
        var batch = VectorStoreBatch()
        var seen = Set<Int32>()
        for node in s.graph.takeDirtyNodes() where seen.insert(node).inserted {
            batch.puts.append((HNSWFormat.nodeKey(prefix: keyPrefix, node: node), HNSWFormat.encodeNode(s.graph, node)))
        }
        batch.puts.append((HNSWFormat.metaKey(prefix: keyPrefix), HNSWFormat.encodeMeta(s.graph)))
        do {
            try store.write(batch)
        } catch {
            s.writesStopped = VectorError(.storeFailed, "an earlier persist failed: \(error)")
            throw error
        }
    }

    /// The `k` nearest rows to `query`, nearest first.
    ///
    /// - Parameters:
    ///   - efSearch: the candidate-list width (pgvector's `hnsw.ef_search`); larger is slower
    ///     and more accurate. Values below `k` are raised to `k`.
    /// - Returns: `min(k, count)` hits.
    /// - Throws: `invalidArgument` for `k` or `efSearch` out of range, the vector errors of
    ///   `insert` for a bad query, `notTrained` when the index holds no rows.
    public func search(_ query: [Float], k: Int, efSearch: Int) throws -> [VectorHit] {
        try search(query, k: k, efSearch: efSearch, filter: NoRowFilter(), strategy: .traversal).hits
    }

    /// The `k` nearest rows to `query` that satisfy `filter`, nearest first.
    ///
    /// Returns exactly `k` hits whenever at least `k` live rows match. With `.automatic`, a
    /// filter matching few rows is answered by an exact scan of them; otherwise the graph is
    /// walked admitting only matching rows, with `ef` widened (4x, at most
    /// `limits.filterWideningsMax` times) while fewer than `k` are found, and an exact scan
    /// as the last resort.
    ///
    /// - Complexity: exact scan O(n) filter checks plus one distance per match; traversal
    ///   about `ef / selectivity * m` distances.
    public func search<F: RowFilter>(
        _ query: [Float], k: Int, efSearch: Int, filter: F, strategy: FilteredSearchStrategy = .automatic
    ) throws -> (hits: [VectorHit], report: SearchReport) {
        guard k >= 1, k <= limits.kMax else {
            throw VectorError(.invalidArgument, "k must be in 1...\(limits.kMax), got \(k)")
        }
        guard efSearch >= 1, efSearch <= limits.efMax else {
            throw VectorError(.invalidArgument, "ef_search must be in 1...\(limits.efMax), got \(efSearch)")
        }
        let q = try validatedVector(query, dimension: parameters.dimension, metric: parameters.metric)
        let isFiltered = !(F.self == NoRowFilter.self)
        let scratch = scratches.take()
        defer { scratches.give(scratch) }
        return try state.withReadLock { s throws(VectorError) in
            guard s.graph.liveCount > 0 else { throw VectorError(.notTrained, "the index holds no rows") }
            return s.graph.search(
                q, k: k, ef: efSearch, filter: filter, strategy: strategy, isFiltered: isFiltered, scratch: scratch)
        }
    }

    /// The exact `k` nearest live rows satisfying `filter`: the reference that recall is measured
    /// against.
    public func exactSearch<F: RowFilter>(_ query: [Float], k: Int, filter: F) throws -> [VectorHit] {
        try search(query, k: k, efSearch: 1, filter: filter, strategy: .exactScan).hits
    }

    /// Live rows.
    public var count: Int { state.withReadLock { $0.graph.liveCount } }

    /// Nodes, including deleted ones that still route searches.
    public var nodeCount: Int { state.withReadLock { $0.graph.nodeCount } }

    /// The live rows' IDs, in no particular order.
    public var rowIDs: [Int64] { state.withReadLock { Array($0.graph.nodeByRow.keys) } }

    /// Whether `rowID` is live in the index.
    public func contains(rowID: Int64) -> Bool { state.withReadLock { $0.graph.nodeByRow[rowID] != nil } }

    /// Bytes held in memory, by part.
    public var memoryUsage: VectorIndexMemory { state.withReadLock { $0.graph.memory } }
}
