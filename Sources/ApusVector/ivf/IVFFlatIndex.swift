/// An IVFFlat vector index: k-means lists of full-precision vectors, for large sets that
/// change rarely (pgvector's `ivfflat` with `lists` and `probes`).
///
/// `train` fixes `lists` centroids from a sample; each row then lives in the list of its
/// nearest centroid. A search ranks the centroids, scans the nearest `probes` lists exactly,
/// and keeps going to further lists while it holds fewer than `k` rows that satisfy its
/// filter, so it returns exactly `k` hits whenever `k` rows match (pgvector stops at `probes`
/// and may return fewer). Rows inserted after training join the list of their nearest
/// centroid; when the data drifts, retrain by building a new index.
///
/// Concurrency contract: as `HNSWIndex`: searches share a readers-writer lock's read side and
/// run in parallel; `train`, `insert` and `remove` take the write side.
///
/// Limits: IVFFlat is in memory only for now (persisting its lists is left for later).
public final class IVFFlatIndex: Sendable {
    private struct State {
        var centroids: [Float] = []
        var isTrained = false
        /// Per list: vectors (contiguous) and their row IDs.
        var listVectors: [[Float]]
        var listRows: [[Int64]]
        /// Row -> (list, position); positions move on swap-remove.
        var location: [Int64: (list: Int32, position: Int32)] = [:]
    }

    public let dimension: Int
    public let metric: DistanceMetric
    public let lists: Int
    public let seed: UInt64
    public let limits: VectorLimits
    private let state: ReadWriteLock<State>

    /// Creates an untrained index.
    ///
    /// - Throws: `invalidArgument` for a dimension or `lists` out of range.
    public init(
        dimension: Int, metric: DistanceMetric = .l2, lists: Int, seed: UInt64 = 42,
        limits: VectorLimits = VectorLimits()
    ) throws {
        try limits.validate()
        guard dimension >= 1, dimension <= limits.dimensionMax else {
            throw VectorError(.invalidArgument, "dimension must be in 1...\(limits.dimensionMax), got \(dimension)")
        }
        guard lists >= 1, lists <= limits.listsMax else {
            throw VectorError(.invalidArgument, "lists must be in 1...\(limits.listsMax), got \(lists)")
        }
        self.dimension = dimension
        self.metric = metric
        self.lists = lists
        self.seed = seed
        self.limits = limits
        state = ReadWriteLock(
            State(listVectors: Array(repeating: [], count: lists), listRows: Array(repeating: [], count: lists)))
    }

    /// Fixes the centroids from `samples` (Lloyd's k-means, `iterations` rounds), and
    /// redistributes any rows already inserted.
    ///
    /// - Throws: `invalidArgument` for no samples, vector errors for a bad sample.
    public func train(_ samples: [[Float]], iterations: Int = 10) throws {
        guard !samples.isEmpty else { throw VectorError(.invalidArgument, "training needs at least one sample") }
        var checked = [[Float]]()
        checked.reserveCapacity(samples.count)
        for s in samples { checked.append(try validatedVector(s, dimension: dimension, metric: metric)) }
        let centroids = KMeans.centroids(
            of: checked, k: lists, dimension: dimension, metric: metric, iterations: iterations, seed: seed)
        let dimension = self.dimension
        let metric = self.metric
        let lists = self.lists
        state.withWriteLock { s in
            var rows: [(Int64, [Float])] = []
            for l in 0..<lists {
                for (p, row) in s.listRows[l].enumerated() {
                    rows.append((row, Array(s.listVectors[l][(p * dimension)..<((p + 1) * dimension)])))
                }
            }
            s.centroids = centroids
            s.isTrained = true
            s.listVectors = Array(repeating: [], count: lists)
            s.listRows = Array(repeating: [], count: lists)
            s.location = [:]
            for (row, v) in rows { Self.add(&s, rowID: row, vector: v, dimension: dimension, metric: metric, lists: lists) }
        }
    }

    private static func add(_ s: inout State, rowID: Int64, vector: [Float], dimension: Int, metric: DistanceMetric, lists: Int) {
        let list = KMeans.closest(vector, centroids: s.centroids, k: lists, dimension: dimension, metric: metric).0
        s.location[rowID] = (Int32(list), Int32(s.listRows[list].count))
        s.listRows[list].append(rowID)
        s.listVectors[list].append(contentsOf: vector)
    }

    /// Adds a row to the list of its nearest centroid.
    ///
    /// - Throws: `notTrained` before `train`; vector errors; `duplicateRowID`; `limitExceeded`.
    public func insert(rowID: Int64, vector: [Float]) throws {
        let v = try validatedVector(vector, dimension: dimension, metric: metric)
        let dimension = self.dimension
        let metric = self.metric
        let lists = self.lists
        let nodesMax = limits.nodesMax
        try state.withWriteLock { s throws(VectorError) in
            guard s.isTrained else { throw VectorError(.notTrained, "IVFFlat needs train before insert") }
            guard s.location[rowID] == nil else { throw VectorError(.duplicateRowID, "row \(rowID) is already in the index") }
            guard s.location.count < nodesMax else { throw VectorError(.limitExceeded, "index holds \(nodesMax) rows") }
            Self.add(&s, rowID: rowID, vector: v, dimension: dimension, metric: metric, lists: lists)
        }
    }

    /// Removes a row (swap-remove within its list).
    ///
    /// - Throws: `rowNotFound`.
    public func remove(rowID: Int64) throws {
        let dimension = self.dimension
        try state.withWriteLock { s throws(VectorError) in
            guard let (list32, position32) = s.location.removeValue(forKey: rowID) else {
                throw VectorError(.rowNotFound, "row \(rowID) is not in the index")
            }
            let list = Int(list32)
            let position = Int(position32)
            let last = s.listRows[list].count - 1
            if position != last {
                let moved = s.listRows[list][last]
                s.listRows[list][position] = moved
                for d in 0..<dimension {
                    s.listVectors[list][position * dimension + d] = s.listVectors[list][last * dimension + d]
                }
                s.location[moved] = (list32, position32)
            }
            s.listRows[list].removeLast()
            s.listVectors[list].removeLast(dimension)
        }
    }

    /// The `k` nearest rows, scanning the `probes` nearest lists.
    public func search(_ query: [Float], k: Int, probes: Int) throws -> [VectorHit] {
        try search(query, k: k, probes: probes, filter: NoRowFilter())
    }

    /// The `k` nearest rows satisfying `filter`, scanning the `probes / selectivity` nearest
    /// lists and then further lists, nearest first, until `k` matching rows are held or every
    /// list is scanned.
    ///
    /// Why `probes / selectivity`: the k-th nearest matching row lies about as far away as the
    /// `k / selectivity`-th nearest row overall, so keeping the unfiltered recall needs that many
    /// more lists. Scanning a list costs a filter check per row and a distance per matching row,
    /// so the widened scan costs about `probes * listSize * (1 + filterCost / selectivity)`; at
    /// low selectivity it becomes an exact scan of the matching rows, which is what it should be.
    ///
    /// - Throws: `invalidArgument` for `k` or `probes` out of range; vector errors for a bad
    ///   query; `notTrained` before `train` or with no rows.
    public func search<F: RowFilter>(_ query: [Float], k: Int, probes: Int, filter: F) throws -> [VectorHit] {
        guard k >= 1, k <= limits.kMax else { throw VectorError(.invalidArgument, "k must be in 1...\(limits.kMax)") }
        guard probes >= 1 else { throw VectorError(.invalidArgument, "probes must be >= 1, got \(probes)") }
        let q = try validatedVector(query, dimension: dimension, metric: metric)
        let dimension = self.dimension
        let metric = self.metric
        let lists = self.lists
        let isFiltered = !(F.self == NoRowFilter.self)
        return try state.withReadLock { s throws(VectorError) in
            guard s.isTrained, !s.location.isEmpty else { throw VectorError(.notTrained, "the index holds no rows") }
            var probes = min(probes, lists)
            if isFiltered {
                let selectivity = Self.estimateSelectivity(s, filter: filter)
                probes = Int(min(Double(lists), (Double(probes) / max(selectivity, 1e-9)).rounded(.up)))
            }
            return q.withUnsafeBufferPointer { qBuffer in
                let qb = qBuffer.baseAddress.unsafelyUnwrapped
                // Lists come off a heap nearest first: a search usually needs only `probes`
                // of them, so a full sort of all centroids would be wasted work.
                var order = NearestFirstHeap()
                s.centroids.withUnsafeBufferPointer { c in
                    let cb = c.baseAddress.unsafelyUnwrapped
                    for list in 0..<lists {
                        order.push(rankDistance(metric, qb, cb + list * dimension, dimension), Int32(list))
                    }
                }
                var results = FarthestFirstHeap()
                // Heap entries name a slot in `slotRows` (each row is pushed at most once per
                // search, and rows number fewer than Int32.max, so slots fit an Int32).
                var slotRows: [Int64] = []
                var scanned = 0
                while !order.isEmpty {
                    if scanned >= probes && results.count >= k { break }
                    let list = Int(order.pop().node)
                    scanned += 1
                    let rows = s.listRows[list]
                    s.listVectors[list].withUnsafeBufferPointer { v in
                        guard let base = v.baseAddress else { return }
                        for (p, row) in rows.enumerated() where filter.contains(row) {
                            let vector = base + p &* dimension
                            let d: Float
                            if metric == .l2 && results.count >= k {
                                // Rows farther than the worst result stop early.
                                d = Distance.l2SquaredBounded(qb, vector, dimension, bound: results.top.distance)
                            } else {
                                d = rankDistance(metric, qb, vector, dimension)
                            }
                            if results.count < k {
                                results.push(d, Int32(slotRows.count))
                                slotRows.append(row)
                            } else if d < results.top.distance {
                                results.pop()
                                results.push(d, Int32(slotRows.count))
                                slotRows.append(row)
                            }
                        }
                    }
                }
                return results.drainSortedAscending().map {
                    VectorHit(rowID: slotRows[Int($0.node)], distance: reportedDistance(metric, $0.distance))
                }
            }
        }
    }

    /// The filter's selectivity: the caller's estimate, or a deterministic sample of up to
    /// 1,024 rows taken evenly across the lists.
    private static func estimateSelectivity<F: RowFilter>(_ s: State, filter: F) -> Double {
        if let given = filter.selectivityEstimate, given.isFinite { return min(max(given, 0), 1) }
        let total = s.location.count
        let step = max(1, total / 1024)
        var sampled = 0
        var matched = 0
        var seen = 0
        for rows in s.listRows {
            var p = (step - seen % step) % step
            while p < rows.count {
                sampled += 1
                if filter.contains(rows[p]) { matched += 1 }
                p += step
            }
            seen += rows.count
        }
        return sampled == 0 ? 0 : Double(matched) / Double(sampled)
    }

    /// Live rows.
    public var count: Int { state.withReadLock { $0.location.count } }

    /// Bytes held in memory, by part.
    public var memoryUsage: VectorIndexMemory {
        state.withReadLock { s in
            var m = VectorIndexMemory()
            m.vectorBytes = s.listVectors.reduce(0) { $0 + $1.capacity * 4 } + s.centroids.capacity * 4
            m.structureBytes = s.listRows.reduce(0) { $0 + $1.capacity * 8 }
            m.rowMapBytes = s.location.capacity * 16 * 4 / 3
            return m
        }
    }
}
