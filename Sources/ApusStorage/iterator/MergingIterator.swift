/// Merges several internal iterators into one, in internal-key order, with a binary heap.
///
/// Forward, the heap is a min-heap of the children positioned at or after the current key;
/// backward, a max-heap of those at or before it. Changing direction repositions every child
/// relative to the current key (as LevelDB's merging iterator does), so mixed `next`/`prev`
/// calls stay correct. Errors from a child propagate. Concurrency: one owner.
final class MergingIterator: InternalIterator {
    private let children: [any InternalIterator]
    private let comparator: KeyComparator
    /// Indexes of valid children, heap-ordered for the current direction.
    private var heap: [Int] = []
    private var forward = true

    init(children: [any InternalIterator], comparator: KeyComparator) {
        self.children = children
        self.comparator = comparator
        heap.reserveCapacity(children.count)
    }

    var isValid: Bool { !heap.isEmpty }
    var key: [UInt8] { children[heap[0]].key }
    var value: [UInt8] { children[heap[0]].value }

    /// Whether child `a` should sit above child `b` in the heap.
    private func before(_ a: Int, _ b: Int) -> Bool {
        let c = comparator.compareInternal(children[a].key, children[b].key)
        if c != 0 { return forward ? c < 0 : c > 0 }
        return a < b  // equal keys: the earlier (newer) source first, deterministically
    }

    private func rebuild() {
        heap = children.indices.filter { children[$0].isValid }
        if heap.count > 1 {
            for i in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(i) }
        }
    }

    private func siftDown(_ start: Int) {
        var i = start
        let n = heap.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var best = i
            if l < n && before(heap[l], heap[best]) { best = l }
            if r < n && before(heap[r], heap[best]) { best = r }
            if best == i { return }
            heap.swapAt(i, best)
            i = best
        }
    }

    /// Restores the heap after the top child moved (or became invalid).
    private func fixTop() {
        if !children[heap[0]].isValid {
            heap[0] = heap[heap.count - 1]
            heap.removeLast()
        }
        if !heap.isEmpty { siftDown(0) }
    }

    func seekToFirst() throws(StorageError) {
        forward = true
        for c in children { try c.seekToFirst() }
        rebuild()
    }

    func seekToLast() throws(StorageError) {
        forward = false
        for c in children { try c.seekToLast() }
        rebuild()
    }

    func seek(_ target: [UInt8]) throws(StorageError) {
        forward = true
        for c in children { try c.seek(target) }
        rebuild()
    }

    func seekForPrev(_ target: [UInt8]) throws(StorageError) {
        forward = false
        for c in children { try c.seekForPrev(target) }
        rebuild()
    }

    func next() throws(StorageError) {
        precondition(isValid, "next on a valid iterator")
        if !forward {
            // Put every other child at the first entry after the current key.
            let current = key
            let top = heap[0]
            for (i, c) in children.enumerated() where i != top {
                try c.seek(current)
                if c.isValid && comparator.compareInternal(c.key, current) == 0 { try c.next() }
            }
            forward = true
            rebuild()
        }
        try children[heap[0]].next()
        fixTop()
    }

    func prev() throws(StorageError) {
        precondition(isValid, "prev on a valid iterator")
        if forward {
            // Put every other child at the last entry before the current key.
            let current = key
            let top = heap[0]
            for (i, c) in children.enumerated() where i != top {
                try c.seek(current)
                if c.isValid { try c.prev() } else { try c.seekToLast() }
            }
            forward = false
            rebuild()
        }
        try children[heap[0]].prev()
        fixTop()
    }
}
