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
/// Each child's current key is copied after every move of that child into a buffer kept for
/// that child (reusing its storage, so a step allocates nothing), and the heap compares those
/// buffers instead of asking children for keys again.
///
/// The key buffers and the heap live in memory the iterator allocates itself rather than in
/// array properties: an array property of a class that is modified across a call (as
/// `copyKey(into:)` does) gets a dynamic exclusivity check on every access, and those checks
/// cost more than the merge itself.
///
/// Concurrency: one owner (not `Sendable`), like its children.
package final class MergingIterator: InternalIterator {
    private enum Direction {
        case forward
        case backward
    }

    private let children: [any InternalIterator]
    private let comparator: KeyComparator
    /// The current key of each child (`children.count` of them) while it is valid; stale
    /// otherwise. Each buffer is refilled in place (`copyKey(into:)`); `key` hands out a
    /// copy-on-write reference, which only costs the next refill an allocation.
    private let keys: UnsafeMutablePointer<[UInt8]>
    /// Indices of valid children (the first `heapCount`), heap-ordered for `direction`; the top
    /// is the current child. Room for every child.
    private let heap: UnsafeMutablePointer<Int>
    private var heapCount = 0
    private var direction: Direction = .forward

    /// Merges `children`, whose keys compare with `comparator`'s internal-key order.
    /// The iterator starts unpositioned.
    package init(children: [any InternalIterator], comparator: KeyComparator) {
        self.children = children
        self.comparator = comparator
        self.keys = .allocate(capacity: max(1, children.count))
        self.keys.initialize(repeating: [], count: children.count)
        self.heap = .allocate(capacity: max(1, children.count))
    }

    deinit {
        keys.deinitialize(count: children.count)
        keys.deallocate()
        heap.deallocate()
    }

    package var isValid: Bool { heapCount > 0 }

    package var key: [UInt8] {
        precondition(isValid, "iterator is positioned")
        return keys[heap[0]]
    }

    /// Calls `body` with the current internal key, borrowed without copying.
    /// - Precondition: `isValid`.
    @inline(__always)
    package func withKey<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        precondition(isValid, "iterator is positioned")
        return keys[heap[0]].withUnsafeBytes(body)
    }

    package func copyKey(into buffer: inout [UInt8]) {
        precondition(isValid, "iterator is positioned")
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: keys[heap[0]])
    }

    package var value: [UInt8] {
        precondition(isValid, "iterator is positioned")
        return children[heap[0]].value
    }

    package func copyValue(into buffer: inout [UInt8]) {
        precondition(isValid, "iterator is positioned")
        children[heap[0]].copyValue(into: &buffer)
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
        heapCount = 0
        direction = newDirection
        for i in children.indices {
            try guarded { () throws(StorageError) in try move(children[i]) }
            if children[i].isValid {
                children[i].copyKey(into: &keys[i])
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
                child.copyKey(into: &keys[i])
                // An equal key in a lower-indexed child came before the current entry.
                if i < current && comparator.compareInternal(keys[i], target) == 0 {
                    try guarded { () throws(StorageError) in try child.next() }
                    if child.isValid { child.copyKey(into: &keys[i]) }
                }
            }
        }
        direction = .forward
        rebuildHeap()
        precondition(heapCount > 0 && heap[0] == current, "merging iterator resumes forward at the current child")
    }

    /// Puts every other child at its last entry before (current key, `current`) in merge
    /// order, so that the heap can continue backward.
    private func switchToBackward(from current: Int) throws(StorageError) {
        let target = keys[current]
        for i in children.indices where i != current {
            let child = children[i]
            try guarded { () throws(StorageError) in try child.seekForPrev(target) }
            if child.isValid {
                child.copyKey(into: &keys[i])
                // An equal key in a higher-indexed child comes after the current entry.
                if i > current && comparator.compareInternal(keys[i], target) == 0 {
                    try guarded { () throws(StorageError) in try child.prev() }
                    if child.isValid { child.copyKey(into: &keys[i]) }
                }
            }
        }
        direction = .backward
        rebuildHeap()
        precondition(heapCount > 0 && heap[0] == current, "merging iterator resumes backward at the current child")
    }

    /// Runs a child move; on error leaves the merging iterator invalid and rethrows.
    @inline(__always)
    private func guarded(_ body: () throws(StorageError) -> Void) throws(StorageError) {
        do {
            try body()
        } catch {
            heapCount = 0
            throw error
        }
    }

    /// After the top child `current` moved: refresh its key and restore the heap.
    private func refreshTop(_ current: Int) {
        precondition(heapCount > 0 && heap[0] == current, "the moved child is the heap's top")
        if children[current].isValid {
            children[current].copyKey(into: &keys[current])
            siftDown(0)
        } else {
            heapCount -= 1
            if heapCount > 0 {
                heap[0] = heap[heapCount]
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
        heapCount = 0
        for i in children.indices where children[i].isValid {
            heap[heapCount] = i
            heapCount += 1
        }
        var i = heapCount / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
    }

    private func siftDown(_ start: Int) {
        var i = start
        let n = heapCount
        while true {
            let left = 2 * i + 1
            if left >= n { return }
            var best = left
            let right = left + 1
            if right < n && comesFirst(heap[right], heap[left]) { best = right }
            if !comesFirst(heap[best], heap[i]) { return }
            (heap[i], heap[best]) = (heap[best], heap[i])
            i = best
        }
    }
}
