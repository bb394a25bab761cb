import CVectorKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decides which visited nodes may enter a search's result set.
///
/// Search is generic over this, so the check specializes into the traversal loop: no
/// existential and no closure per node unless the caller's `RowFilter` is itself a closure.
protocol NodeAdmission {
    /// Whether `node` may be a result.
    func admits(_ node: Int32) -> Bool
    /// True when every node is admitted, which lets the search stop as soon as its nearest
    /// candidate is farther than its worst result (the paper's rule). Otherwise it also keeps
    /// going until it holds `ef` admitted results.
    var admitsAll: Bool { get }
}

/// Admits every node that is not deleted.
struct AdmitLive: NodeAdmission {
    let isDeleted: [Bool]
    let hasDeletions: Bool
    @inline(__always) func admits(_ node: Int32) -> Bool { !isDeleted[Int(node)] }
    var admitsAll: Bool { !hasDeletions }
}

/// Admits live nodes whose row satisfies a filter.
struct AdmitFiltered<F: RowFilter>: NodeAdmission {
    let isDeleted: [Bool]
    let rowIDs: [Int64]
    let filter: F
    @inline(__always) func admits(_ node: Int32) -> Bool {
        !isDeleted[Int(node)] && filter.contains(rowIDs[Int(node)])
    }
    var admitsAll: Bool { false }
}

/// The HNSW graph (Malkov & Yashunin, 2016): the deterministic core of `HNSWIndex`.
///
/// Node `i` (an `Int32`, dense from 0) holds the vector `vectors[i*dimension ..< (i+1)*dimension]`,
/// its row ID, its top level and a deleted mark. Bottom-layer links live in one flat array,
/// `links0`, with a stride of `1 + 2m` (a count, then up to `2m` node IDs); the links of levels
/// `1...level` live in `upperLinks[i]` with a stride of `1 + m` per level. Deleting marks a node:
/// it keeps routing searches (as in hnswlib) but is never returned, and it stays until a rebuild.
///
/// Concurrency: a value with one owner. `HNSWIndex` keeps it inside a readers-writer lock;
/// searches only read it (their mutable state lives in a `SearchScratch`), inserts and deletes
/// mutate it under the write side.
struct HNSWGraph {
    let parameters: HNSWParameters
    let limits: VectorLimits
    let dimension: Int
    let metric: DistanceMetric
    /// Link capacity on levels >= 1.
    let maxM: Int
    /// Link capacity on level 0.
    let maxM0: Int
    /// The paper's `mL = 1 / ln(M)`.
    let levelMultiplier: Double
    /// Highest level a node may get; keeps a pathological draw from building a tall tower.
    static let levelMax = 31

    var generator: SeededGenerator
    var vectors: [Float] = []
    var rowIDs: [Int64] = []
    var levels: [UInt8] = []
    var isDeleted: [Bool] = []
    var links0: [Int32] = []
    var upperLinks: [[Int32]] = []
    var nodeByRow: [Int64: Int32] = [:]
    /// The node searches start from, or -1 when the graph is empty.
    var entryPoint: Int32 = -1
    var maxLevel = 0
    var liveCount = 0
    /// Nodes changed since the owner last called `takeDirtyNodes` (persistence), in change order,
    /// possibly repeated.
    var dirtyNodes: [Int32] = []
    var tracksDirty = false

    init(parameters: HNSWParameters, limits: VectorLimits) {
        self.parameters = parameters
        self.limits = limits
        dimension = parameters.dimension
        metric = parameters.metric
        maxM = parameters.m
        maxM0 = 2 * parameters.m
        levelMultiplier = 1 / log(Double(parameters.m))
        generator = SeededGenerator(seed: parameters.seed)
    }

    var nodeCount: Int { rowIDs.count }
    var stride0: Int { maxM0 + 1 }
    var strideUpper: Int { maxM + 1 }

    mutating func takeDirtyNodes() -> [Int32] {
        defer { dirtyNodes.removeAll(keepingCapacity: true) }
        return dirtyNodes
    }

    mutating func randomLevel() -> Int {
        let u = max(generator.nextUnit(), Double.leastNormalMagnitude)
        return min(Int(-log(u) * levelMultiplier), HNSWGraph.levelMax)
    }

    // MARK: links

    /// The links of `node` at `level`, copied out.
    func links(of node: Int32, level: Int) -> [Int32] {
        if level == 0 {
            let base = Int(node) * stride0
            let count = Int(links0[base])
            return Array(links0[(base + 1)..<(base + 1 + count)])
        }
        let base = (level - 1) * strideUpper
        let list = upperLinks[Int(node)]
        let count = Int(list[base])
        return Array(list[(base + 1)..<(base + 1 + count)])
    }

    mutating func setLinks(of node: Int32, level: Int, to ids: [Int32]) {
        if level == 0 {
            precondition(ids.count <= maxM0, "level-0 links within 2m")
            let base = Int(node) * stride0
            links0[base] = Int32(ids.count)
            for (i, id) in ids.enumerated() { links0[base + 1 + i] = id }
        } else {
            precondition(ids.count <= maxM, "upper links within m")
            let base = (level - 1) * strideUpper
            upperLinks[Int(node)][base] = Int32(ids.count)
            for (i, id) in ids.enumerated() { upperLinks[Int(node)][base + 1 + i] = id }
        }
        if tracksDirty { dirtyNodes.append(node) }
    }

    // MARK: distances

    func distance(_ query: UnsafePointer<Float>, to node: Int32) -> Float {
        vectors.withUnsafeBufferPointer { v in
            // The buffer is non-empty whenever a node exists.
            rankDistance(metric, query, v.baseAddress.unsafelyUnwrapped + Int(node) * dimension, dimension)
        }
    }

    func distance(between a: Int32, _ b: Int32) -> Float {
        vectors.withUnsafeBufferPointer { v in
            let base = v.baseAddress.unsafelyUnwrapped
            return rankDistance(metric, base + Int(a) * dimension, base + Int(b) * dimension, dimension)
        }
    }

    /// The distance between two nodes when it is below `bound`; otherwise some value at least
    /// `bound` (L2 stops early, other metrics compute it exactly).
    func distance(between a: Int32, _ b: Int32, below bound: Float) -> Float {
        vectors.withUnsafeBufferPointer { v in
            let base = v.baseAddress.unsafelyUnwrapped
            let pa = base + Int(a) * dimension
            let pb = base + Int(b) * dimension
            if metric == .l2 { return Distance.l2SquaredBounded(pa, pb, dimension, bound: bound) }
            return rankDistance(metric, pa, pb, dimension)
        }
    }

    // MARK: search primitives

    /// Greedy descent on one upper level (the paper's search with `ef = 1`).
    func greedyClosest(_ query: UnsafePointer<Float>, from start: Int32, startDistance: Float, level: Int)
        -> (Int32, Float)
    {
        var current = start
        var currentDistance = startDistance
        var changed = true
        while changed {
            changed = false
            let base = (level - 1) * strideUpper
            let list = upperLinks[Int(current)]
            let count = Int(list[base])
            for i in 0..<count {
                let n = list[base + 1 + i]
                let d = distance(query, to: n)
                if d < currentDistance {
                    currentDistance = d
                    current = n
                    changed = true
                }
            }
        }
        return (current, currentDistance)
    }

    /// Descends from the entry point to level 1 and returns the level-0 start node and distance.
    func descend(_ query: UnsafePointer<Float>, toLevel target: Int) -> (Int32, Float) {
        var ep = entryPoint
        var epDistance = distance(query, to: ep)
        var level = maxLevel
        while level > target {
            (ep, epDistance) = greedyClosest(query, from: ep, startDistance: epDistance, level: level)
            level -= 1
        }
        return (ep, epDistance)
    }

    /// The paper's SEARCH-LAYER (Algorithm 2) with hnswlib's rule for filters: non-admitted
    /// nodes still route the search but never enter the results, and the search does not stop
    /// before it holds `ef` admitted results (or runs out of reachable nodes).
    ///
    /// Leaves at most `ef` admitted nodes in `scratch.results` (farthest on top).
    /// - Precondition: `ef >= 1`; `entry` is a node; `scratch.begin` was called.
    func searchLayer<A: NodeAdmission>(
        _ query: UnsafePointer<Float>, entry: Int32, entryDistance: Float, ef: Int, level: Int,
        admission: A, scratch: SearchScratch
    ) {
        precondition(ef >= 1, "searchLayer: ef >= 1")
        let generation = scratch.generation
        let stopsEarly = admission.admitsAll
        // The heaps move into locals for the loop: a class property access is a dynamic
        // exclusivity check, too slow for the innermost loop.
        var candidates = NearestFirstHeap()
        var results = FarthestFirstHeap()
        swap(&candidates, &scratch.candidates)
        swap(&results, &scratch.results)
        defer {
            swap(&candidates, &scratch.candidates)
            swap(&results, &scratch.results)
        }
        var lowerBound = Float.infinity
        scratch.visited[Int(entry)] = generation
        candidates.push(entryDistance, entry)
        if admission.admits(entry) {
            results.push(entryDistance, entry)
            lowerBound = entryDistance
        }
        let dimension = self.dimension
        let metric = self.metric
        let stride0 = self.stride0
        let upperStart = (level - 1) * strideUpper
        vectors.withUnsafeBufferPointer { vectorBuffer in
            let vectorBase = vectorBuffer.baseAddress.unsafelyUnwrapped
            links0.withUnsafeBufferPointer { links0Buffer in
                let links0Base = links0Buffer.baseAddress.unsafelyUnwrapped
                scratch.visited.withUnsafeMutableBufferPointer { visited in
                    // Two passes per expanded node: first the unvisited neighbors, then their
                    // distances in a tight loop. Without the heap work in between, the CPU
                    // overlaps the cache misses of several neighbors' vectors (the search is
                    // bound by memory latency; Swift has no prefetch intrinsic).
                    let fresh = UnsafeMutablePointer<Int32>.allocate(capacity: maxM0 + 1)
                    let freshDistances = UnsafeMutablePointer<Float>.allocate(capacity: maxM0 + 1)
                    defer {
                        fresh.deallocate()
                        freshDistances.deallocate()
                    }
                    @inline(__always)
                    func expand(_ links: UnsafePointer<Int32>) {
                        let count = Int(links[0])
                        var freshCount = 0
                        var i = 1
                        while i <= count {
                            let n = links[i]
                            i &+= 1
                            if visited[Int(n)] == generation { continue }
                            visited[Int(n)] = generation
                            fresh[freshCount] = n
                            freshCount &+= 1
                            // Start loading the vector now; the distance loop below reads it.
                            apus_vec_prefetch(vectorBase + Int(n) &* dimension)
                        }
                        var j = 0
                        if metric == .l2 && results.count >= ef {
                            // Only candidates nearer than the worst result can enter; others
                            // may stop computing early (see `l2SquaredBounded`).
                            let bound = lowerBound
                            while j < freshCount {
                                freshDistances[j] = Distance.l2SquaredBounded(
                                    query, vectorBase + Int(fresh[j]) &* dimension, dimension, bound: bound)
                                j &+= 1
                            }
                        } else {
                            while j < freshCount {
                                freshDistances[j] = rankDistance(
                                    metric, query, vectorBase + Int(fresh[j]) &* dimension, dimension)
                                j &+= 1
                            }
                        }
                        j = 0
                        while j < freshCount {
                            let n = fresh[j]
                            let d = freshDistances[j]
                            j &+= 1
                            if results.count < ef || d < lowerBound {
                                candidates.push(d, n)
                                if admission.admits(n) {
                                    results.push(d, n)
                                    if results.count > ef { results.pop() }
                                }
                                if !results.isEmpty { lowerBound = results.top.distance }
                            }
                        }
                    }
                    while !candidates.isEmpty {
                        let current = candidates.top
                        if current.distance > lowerBound && (stopsEarly || results.count >= ef) { break }
                        candidates.pop()
                        if level == 0 {
                            expand(links0Base + Int(current.node) &* stride0)
                        } else {
                            upperLinks[Int(current.node)].withUnsafeBufferPointer { list in
                                expand(list.baseAddress.unsafelyUnwrapped + upperStart)
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: insert

    /// The paper's neighbor-selection heuristic (Algorithm 4, without extending or keeping
    /// pruned candidates, as hnswlib): take candidates nearest first, keeping one only if it is
    /// nearer to the base than to every candidate already kept. This keeps links spread across
    /// directions, which is what makes clustered data navigable.
    ///
    /// - Parameter candidates: sorted nearest first by distance to the base.
    func selectNeighbors(_ candidates: [HeapEntry], count m: Int) -> [HeapEntry] {
        if candidates.count <= m { return candidates }
        var selected: [HeapEntry] = []
        selected.reserveCapacity(m)
        for c in candidates {
            if selected.count >= m { break }
            var good = true
            for s in selected where distance(between: c.node, s.node, below: c.distance) < c.distance {
                good = false
                break
            }
            if good { selected.append(c) }
        }
        return selected
    }

    /// Inserts a validated vector (the paper's Algorithm 1).
    ///
    /// - Throws: `duplicateRowID` if the row is present, `limitExceeded` at `nodesMax`.
    mutating func insert(rowID: Int64, vector: [Float], scratch: SearchScratch) throws(VectorError) {
        precondition(vector.count == dimension, "insert: validated vector")
        guard nodeByRow[rowID] == nil else {
            throw VectorError(.duplicateRowID, "row \(rowID) is already in the index")
        }
        guard nodeCount < limits.nodesMax else {
            throw VectorError(.limitExceeded, "the index holds its maximum of \(limits.nodesMax) nodes")
        }
        let node = Int32(nodeCount)
        let level = randomLevel()
        vectors.append(contentsOf: vector)
        rowIDs.append(rowID)
        levels.append(UInt8(level))
        isDeleted.append(false)
        links0.append(contentsOf: repeatElement(0, count: stride0))
        upperLinks.append(level == 0 ? [] : [Int32](repeating: 0, count: level * strideUpper))
        nodeByRow[rowID] = node
        liveCount += 1
        if tracksDirty { dirtyNodes.append(node) }
        guard entryPoint >= 0 else {
            entryPoint = node
            maxLevel = level
            return
        }
        vector.withUnsafeBufferPointer { q in
            link(node, level: level, query: q.baseAddress.unsafelyUnwrapped, scratch: scratch)
        }
        if level > maxLevel {
            maxLevel = level
            entryPoint = node
        }
    }

    private mutating func link(_ node: Int32, level: Int, query: UnsafePointer<Float>, scratch: SearchScratch) {
        var (ep, epDistance) = descend(query, toLevel: level)
        let admission = AdmitLive(isDeleted: isDeleted, hasDeletions: liveCount < nodeCount)
        for lc in stride(from: min(level, maxLevel), through: 0, by: -1) {
            scratch.begin(nodeCount: nodeCount)
            scratch.visited[Int(node)] = scratch.generation  // never link to itself
            searchLayer(
                query, entry: ep, entryDistance: epDistance, ef: parameters.efConstruction, level: lc,
                admission: admission, scratch: scratch)
            var candidates = scratch.results.drainSortedAscending()
            if candidates.isEmpty { candidates = [HeapEntry(distance: epDistance, node: ep)] }
            let selected = selectNeighbors(candidates, count: maxM)
            setLinks(of: node, level: lc, to: selected.map(\.node))
            for s in selected { connect(s.node, to: node, level: lc, distance: s.distance) }
            ep = candidates[0].node
            epDistance = candidates[0].distance
        }
    }

    /// Adds `newNode` to `node`'s links at `level`, shrinking them by the heuristic when full.
    private mutating func connect(_ node: Int32, to newNode: Int32, level: Int, distance d: Float) {
        var current = links(of: node, level: level)
        let capacity = level == 0 ? maxM0 : maxM
        if current.count < capacity {
            current.append(newNode)
            setLinks(of: node, level: level, to: current)
            return
        }
        var candidates = current.map { HeapEntry(distance: distance(between: node, $0), node: $0) }
        candidates.append(HeapEntry(distance: d, node: newNode))
        candidates.sort { ($0.distance, $0.node) < ($1.distance, $1.node) }
        setLinks(of: node, level: level, to: selectNeighbors(candidates, count: capacity).map(\.node))
    }

    /// Marks the row's node deleted.
    ///
    /// - Throws: `rowNotFound` if the row is not in the index.
    mutating func remove(rowID: Int64) throws(VectorError) {
        guard let node = nodeByRow.removeValue(forKey: rowID) else {
            throw VectorError(.rowNotFound, "row \(rowID) is not in the index")
        }
        isDeleted[Int(node)] = true
        liveCount -= 1
        if tracksDirty { dirtyNodes.append(node) }
    }

    // MARK: query

    /// The `k` nearest live rows admitted by `filter`, nearest first.
    ///
    /// - Precondition: the query is validated; `k >= 1`; `ef >= 1`; the graph is not empty.
    func search<F: RowFilter>(
        _ query: [Float], k: Int, ef: Int, filter: F, strategy: FilteredSearchStrategy, isFiltered: Bool,
        scratch: SearchScratch
    ) -> ([VectorHit], SearchReport) {
        precondition(k >= 1 && ef >= 1, "search: k and ef positive")
        precondition(entryPoint >= 0, "search: graph not empty")
        var report = SearchReport()
        let selectivity = isFiltered ? estimateSelectivity(filter) : 1
        report.selectivityEstimate = selectivity
        var chosen = strategy
        if chosen == .automatic {
            chosen = isFiltered && prefersExactScan(selectivity: selectivity, k: k, ef: ef) ? .exactScan : .traversal
        }
        return query.withUnsafeBufferPointer { buffer in
            let q = buffer.baseAddress.unsafelyUnwrapped
            if chosen == .traversal {
                var efNow = max(ef, k)
                while true {
                    report.efUsed = efNow
                    let hits: [VectorHit]
                    if isFiltered {
                        let admission = AdmitFiltered(isDeleted: isDeleted, rowIDs: rowIDs, filter: filter)
                        hits = traverse(q, k: k, ef: efNow, admission: admission, scratch: scratch)
                    } else {
                        let admission = AdmitLive(isDeleted: isDeleted, hasDeletions: liveCount < nodeCount)
                        hits = traverse(q, k: k, ef: efNow, admission: admission, scratch: scratch)
                    }
                    // Fewer than k: either fewer than k rows match (only an exact scan can tell)
                    // or the admitted rows are spread beyond this ef. Widen, then scan.
                    if hits.count >= k || hits.count >= liveCount {
                        report.strategy = .traversal
                        return (hits, report)
                    }
                    if report.widenings >= limits.filterWideningsMax || efNow >= nodeCount { break }
                    report.widenings += 1
                    efNow = min(efNow * 4, max(nodeCount, 1))
                }
            }
            report.strategy = .exactScan
            report.efUsed = 0
            return (exactScan(q, k: k, filter: filter, scratch: scratch), report)
        }
    }

    private func traverse<A: NodeAdmission>(
        _ q: UnsafePointer<Float>, k: Int, ef: Int, admission: A, scratch: SearchScratch
    ) -> [VectorHit] {
        let (ep, epDistance) = descend(q, toLevel: 0)
        scratch.begin(nodeCount: nodeCount)
        searchLayer(q, entry: ep, entryDistance: epDistance, ef: ef, level: 0, admission: admission, scratch: scratch)
        while scratch.results.count > k { scratch.results.pop() }
        return scratch.results.drainSortedAscending().map {
            VectorHit(rowID: rowIDs[Int($0.node)], distance: reportedDistance(metric, $0.distance))
        }
    }

    /// Every live row admitted by `filter`, ranked exactly: the answer a search must match.
    func exactScan<F: RowFilter>(_ q: UnsafePointer<Float>, k: Int, filter: F, scratch: SearchScratch) -> [VectorHit] {
        scratch.begin(nodeCount: 0)
        var heap = FarthestFirstHeap()
        swap(&heap, &scratch.results)
        defer { swap(&heap, &scratch.results) }
        let dimension = self.dimension
        let metric = self.metric
        let nodeCount = self.nodeCount
        let results = vectors.withUnsafeBufferPointer { vectorBuffer -> [HeapEntry] in
            isDeleted.withUnsafeBufferPointer { deleted in
                rowIDs.withUnsafeBufferPointer { rows in
                    guard let base = vectorBuffer.baseAddress else { return [] }
                    for node in 0..<nodeCount where !deleted[node] && filter.contains(rows[node]) {
                        let vector = base + node &* dimension
                        let d: Float
                        if metric == .l2 && heap.count >= k {
                            d = Distance.l2SquaredBounded(q, vector, dimension, bound: heap.top.distance)
                        } else {
                            d = rankDistance(metric, q, vector, dimension)
                        }
                        if heap.count < k {
                            heap.push(d, Int32(node))
                        } else if d < heap.top.distance {
                            heap.pop()
                            heap.push(d, Int32(node))
                        }
                    }
                    return heap.drainSortedAscending()
                }
            }
        }
        return results.map { VectorHit(rowID: rowIDs[Int($0.node)], distance: reportedDistance(metric, $0.distance)) }
    }

    /// The filter's selectivity among live rows: the caller's estimate, or a deterministic
    /// sample of up to 1,024 evenly spaced nodes.
    func estimateSelectivity<F: RowFilter>(_ filter: F) -> Double {
        if let given = filter.selectivityEstimate, given.isFinite { return min(max(given, 0), 1) }
        let step = max(1, nodeCount / 1024)
        var sampled = 0
        var matched = 0
        var node = 0
        while node < nodeCount {
            if !isDeleted[node] {
                sampled += 1
                if filter.contains(rowIDs[node]) { matched += 1 }
            }
            node += step
        }
        return sampled == 0 ? 0 : Double(matched) / Double(sampled)
    }

    /// The cost model of the adaptive choice, in units of one matching row of an exact scan.
    ///
    /// Fitted to `apus bench vector` at 100,000 x 128, m = 16, ef = 64 (docs/bench-vector.md):
    /// an exact scan costs about 2.5 ns per row for the filter check and 150 ns per matching
    /// row (its vector streams from memory), so `s * n + n / 60`; a traversal costs about
    /// 250 us unfiltered and grows like `1 / sqrt(s)` (360 us at 50%, 900 us at 10%), so
    /// `1.6 * ef * m / sqrt(s)`. The scan wins below about 6% selectivity there; on small
    /// indexes it wins more often, which is also right. An earlier `1 / s` model chose the
    /// scan at 10%, measured 2x slower than the traversal.
    func prefersExactScan(selectivity: Double, k: Int, ef: Int) -> Bool {
        let live = Double(liveCount)
        let exactCost = selectivity * live + live / 60
        let traversalCost = 1.6 * Double(max(ef, k)) * Double(maxM) / max(selectivity, 1e-9).squareRoot()
        return exactCost <= traversalCost
    }

    // MARK: memory

    var memory: VectorIndexMemory {
        var m = VectorIndexMemory()
        m.vectorBytes = vectors.capacity * MemoryLayout<Float>.stride
        var upper = 0
        for list in upperLinks { upper += list.capacity * 4 + 32 }
        m.structureBytes = links0.capacity * 4 + upper + levels.capacity + isDeleted.capacity
        // A Swift dictionary entry is a key, a value and a bucket bit at a load factor of 3/4.
        m.rowMapBytes = rowIDs.capacity * 8 + nodeByRow.capacity * (8 + 4) * 4 / 3
        return m
    }
}
