/// An `InternalIterator` that merges several sorted children (memtables, tables, levels) into
/// one stream in internal-key order.
///
/// A binary heap of child indices holds every valid child: a min-heap while moving forward, a
/// max-heap while moving backward; the current entry is the heap's top. Changing direction
/// repositions every other child relative to the current key (as LevelDB's merging iterator
/// does): forward, each other child moves to its first entry after the current one; backward,
/// to its last entry before it. Then the heap is rebuilt in the new order.
///
/// Equal internal keys in different children are ordered by child index (a lower index first
/// when moving forward), which makes the merge a total order and direction changes exact even
/// then. Within one child internal keys are assumed unique (the engine gives every entry its own
/// sequence number).
///
/// Errors: a child's error is rethrown from the positioning call that met it; the merging
/// iterator is then invalid until the next successful `seek...` call.
///
/// Each child's current key is cached after every move of that child, so the heap compares
/// cached arrays instead of asking children for keys again.
///
/// Concurrency: one owner (not `Sendable`), like its children.
package final class MergingIterator: InternalIterator {
    private enum Direction {
        case forward
        case backward
    }

    private let children: [any InternalIterator]
    private let comparator: KeyComparator
    /// The current key of each child while it is valid; stale otherwise.
    private var keys: [[UInt8]]
    /// Indices of valid children, heap-ordered for `direction`; the top is the current child.
    private var heap: [Int]
    private var direction: Direction = .forward

    /// Merges `children`, whose keys compare with `comparator`'s internal-key order.
    /// The iterator starts unpositioned.
    package init(children: [any InternalIterator], comparator: KeyComparator) {
        self.children = children
        self.comparator = comparator
        self.keys = Array(repeating: [], count: children.count)
        self.heap = []
        self.heap.reserveCapacity(children.count)
    }

    package var isValid: Bool { !heap.isEmpty }

    package var key: [UInt8] {
        precondition(isValid, "iterator is positioned")
        return keys[heap[0]]
    }

    package var value: [UInt8] {
        precondition(isValid, "iterator is positioned")
        return children[heap[0]].value
    }

    package func seekToFirst() throws(StorageError) {
        try repositionAll(.forward) { child throws(StorageError) in try child.seekToFirst() }
    }

    package func seekToLast() throws(StorageError) {
        try repositionAll(.backward) { child throws(StorageError) in try child.seekToLast() }
    }

    package func seek(_ target: [UInt8]) throws(StorageError) {
        try repositionAll(.forward) { child throws(StorageError) in try child.seek(target) }
    }

    package func seekForPrev(_ target: [UInt8]) throws(StorageError) {
        try repositionAll(.backward) { child throws(StorageError) in try child.seekForPrev(target) }
    }

    package func next() throws(StorageError) {
        precondition(isValid, "iterator is positioned")
        let current = heap[0]
        if direction == .backward {
            try switchToForward(from: current)
        }
        // `current` is the heap's top again: it precedes every other child's position.
        try guarded { () throws(StorageError) in try children[current].next() }
        refreshTop(current)
    }

    package func prev() throws(StorageError) {
        precondition(isValid, "iterator is positioned")
        let current = heap[0]
        if direction == .forward {
            try switchToBackward(from: current)
        }
        try guarded { () throws(StorageError) in try children[current].prev() }
        refreshTop(current)
    }

    // MARK: Positioning

    /// Moves every child with `move`, then rebuilds the heap for `newDirection`.
    private func repositionAll(_ newDirection: Direction,
                               _ move: (any InternalIterator) throws(StorageError) -> Void) throws(StorageError) {
        heap.removeAll(keepingCapacity: true)
        direction = newDirection
        for i in children.indices {
            try guarded { () throws(StorageError) in try move(children[i]) }
            if children[i].isValid {
                keys[i] = children[i].key
            }
        }
        rebuildHeap()
    }

    /// Puts every other child at its first entry after (current key, `current`) in merge
    /// order, so that the heap can continue forward.
    private func switchToForward(from current: Int) throws(StorageError) {
        let target = keys[current]
        for i in children.indices where i != current {
            let child = children[i]
            try guarded { () throws(StorageError) in try child.seek(target) }
            if child.isValid {
                keys[i] = child.key
                // An equal key in a lower-indexed child came before the current entry.
                if i < current && comparator.compareInternal(keys[i], target) == 0 {
                    try guarded { () throws(StorageError) in try child.next() }
                    if child.isValid { keys[i] = child.key }
                }
            }
        }
        direction = .forward
        rebuildHeap()
        precondition(heap.first == current, "merging iterator resumes forward at the current child")
    }

    /// Puts every other child at its last entry before (current key, `current`) in merge
    /// order, so that the heap can continue backward.
    private func switchToBackward(from current: Int) throws(StorageError) {
        let target = keys[current]
        for i in children.indices where i != current {
            let child = children[i]
            try guarded { () throws(StorageError) in try child.seekForPrev(target) }
            if child.isValid {
                keys[i] = child.key
                // An equal key in a higher-indexed child comes after the current entry.
                if i > current && comparator.compareInternal(keys[i], target) == 0 {
                    try guarded { () throws(StorageError) in try child.prev() }
                    if child.isValid { keys[i] = child.key }
                }
            }
        }
        direction = .backward
        rebuildHeap()
        precondition(heap.first == current, "merging iterator resumes backward at the current child")
    }

    /// Runs a child move; on error leaves the merging iterator invalid and rethrows.
    @inline(__always)
    private func guarded(_ body: () throws(StorageError) -> Void) throws(StorageError) {
        do {
            try body()
        } catch {
            heap.removeAll(keepingCapacity: true)
            throw error
        }
    }

    /// After the top child `current` moved: refresh its key and restore the heap.
    private func refreshTop(_ current: Int) {
        precondition(heap.first == current, "the moved child is the heap's top")
        if children[current].isValid {
            keys[current] = children[current].key
            siftDown(0)
        } else {
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                siftDown(0)
            }
        }
    }

    // MARK: Heap

    /// Whether child `a` belongs above child `b` in the heap for the current direction.
    @inline(__always)
    private func comesFirst(_ a: Int, _ b: Int) -> Bool {
        var c = comparator.compareInternal(keys[a], keys[b])
        if c == 0 { c = a < b ? -1 : (a > b ? 1 : 0) }
        return direction == .forward ? c < 0 : c > 0
    }

    /// Rebuilds the heap from every valid child. O(k) for k children.
    private func rebuildHeap() {
        heap.removeAll(keepingCapacity: true)
        for i in children.indices where children[i].isValid {
            heap.append(i)
        }
        var i = heap.count / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
    }

    private func siftDown(_ start: Int) {
        var i = start
        let n = heap.count
        while true {
            let left = 2 * i + 1
            if left >= n { return }
            var best = left
            let right = left + 1
            if right < n && comesFirst(heap[right], heap[left]) { best = right }
            if !comesFirst(heap[best], heap[i]) { return }
            heap.swapAt(i, best)
            i = best
        }
    }
}
