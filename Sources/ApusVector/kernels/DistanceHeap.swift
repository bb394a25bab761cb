/// Binary heaps of `(distance, node)` pairs over arrays that are reused across searches.
///
/// `NearestFirstHeap` pops the smallest distance (HNSW's candidate queue); `FarthestFirstHeap`
/// pops the largest (the bounded result set, whose top is the current worst result). Both keep
/// their storage on `removeAll`, so a search that reuses a scratch allocates nothing once warm.
struct HeapEntry {
    var distance: Float
    var node: Int32
}

/// A min-heap on `distance`.
struct NearestFirstHeap {
    private(set) var entries: [HeapEntry] = []

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }
    /// The nearest entry. - Precondition: not empty.
    var top: HeapEntry { entries[0] }

    mutating func removeAll() { entries.removeAll(keepingCapacity: true) }

    mutating func push(_ distance: Float, _ node: Int32) {
        entries.append(HeapEntry(distance: distance, node: node))
        var i = entries.count - 1
        let e = entries[i]
        while i > 0 {
            let p = (i - 1) >> 1
            if entries[p].distance <= e.distance { break }
            entries[i] = entries[p]
            i = p
        }
        entries[i] = e
    }

    @discardableResult
    mutating func pop() -> HeapEntry {
        let first = entries[0]
        let last = entries.removeLast()
        if !entries.isEmpty {
            var i = 0
            let n = entries.count
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                let r = l + 1
                let c = (r < n && entries[r].distance < entries[l].distance) ? r : l
                if entries[c].distance >= last.distance { break }
                entries[i] = entries[c]
                i = c
            }
            entries[i] = last
        }
        return first
    }
}

/// A max-heap on `distance`.
struct FarthestFirstHeap {
    private(set) var entries: [HeapEntry] = []

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }
    /// The farthest entry. - Precondition: not empty.
    var top: HeapEntry { entries[0] }

    mutating func removeAll() { entries.removeAll(keepingCapacity: true) }

    mutating func push(_ distance: Float, _ node: Int32) {
        entries.append(HeapEntry(distance: distance, node: node))
        var i = entries.count - 1
        let e = entries[i]
        while i > 0 {
            let p = (i - 1) >> 1
            if entries[p].distance >= e.distance { break }
            entries[i] = entries[p]
            i = p
        }
        entries[i] = e
    }

    @discardableResult
    mutating func pop() -> HeapEntry {
        let first = entries[0]
        let last = entries.removeLast()
        if !entries.isEmpty {
            var i = 0
            let n = entries.count
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                let r = l + 1
                let c = (r < n && entries[r].distance > entries[l].distance) ? r : l
                if entries[c].distance <= last.distance { break }
                entries[i] = entries[c]
                i = c
            }
            entries[i] = last
        }
        return first
    }

    /// The entries sorted nearest first (ties by node), leaving the heap empty.
    mutating func drainSortedAscending() -> [HeapEntry] {
        var out = entries
        entries.removeAll(keepingCapacity: true)
        out.sort { ($0.distance, $0.node) < ($1.distance, $1.node) }
        return out
    }
}
