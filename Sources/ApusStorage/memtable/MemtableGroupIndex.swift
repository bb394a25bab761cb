import Atomics
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// For each group of a memtable's entries (all entries of one user key, or all with one key
/// prefix), the skiplist node of the group's smallest entry: a probe confined to one group
/// (a point read, an index lookup of one value) starts there instead of descending the
/// skiplist, which costs a cache miss per level in a large memtable.
///
/// An open-addressing table of node offsets (0: empty), probed linearly from the group's
/// filter hash. A slot is set once to a group's first node and afterwards only to a smaller
/// node of the same group; slots are never cleared, so a probe sequence that reached a group
/// stays valid. When the table is three-quarters full, groups not yet in it are left out and
/// the index becomes incomplete: a group it does not hold may still be in the memtable.
///
/// Concurrency: `@unchecked Sendable`. One writer (the memtable's), which sets a slot after the
/// node is linked into the list and before the engine publishes the entry's sequence; readers
/// load slots with acquire ordering. A reader therefore sees, for every entry its snapshot
/// sees, that entry's group head or a smaller node of the group (added after the snapshot, and
/// so passed by the probe), from which the list's level 0 reaches every larger entry.
final class MemtableGroupIndex: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<UnsafeAtomic<UInt32>.Storage>
    private let mask: Int
    /// Groups held; writer only.
    private var used = 0
    private let limit: Int
    /// The mapping's size.
    private let bytes: Int
    private let incomplete = UnsafeAtomic<Bool>.create(false)

    /// What the index knows of a group.
    enum Head: Equatable {
        /// The node of the group's smallest entry (or of a smaller one added since).
        case node(UInt32)
        /// The memtable holds no entry of the group.
        case absent
        /// Not in the index, which is incomplete: the memtable may hold entries of the group.
        case unknown
    }

    /// A table of the power of two at or above `slots` (at least 16).
    init(slots: Int) {
        var n = 16
        while n < slots { n <<= 1 }
        mask = n - 1
        limit = n / 4 * 3
        // An anonymous mapping: zero pages the kernel supplies as slots are first written, so an
        // idle or small memtable's index costs address space rather than memory, and all of it
        // goes back at once with the memtable. (calloc zeroes reused heap memory by hand once
        // glibc's mmap threshold has grown past the table's size, and keeps it after free.)
        bytes = n * MemoryLayout<UnsafeAtomic<UInt32>.Storage>.stride
        let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let mapped, mapped != MAP_FAILED else {
            fatalError("out of memory for a memtable group index of \(n) slots")
        }
        // Zero bytes are an empty slot; the storage is a plain UInt32.
        self.slots = mapped.bindMemory(to: UnsafeAtomic<UInt32>.Storage.self, capacity: n)
    }

    deinit {
        munmap(UnsafeMutableRawPointer(slots), bytes)
        incomplete.destroy()
    }

    @inline(__always)
    private func start(_ hash: UInt64) -> Int {
        // The filter hash's high half: its low half picks the memtable filter's block.
        Int(truncatingIfNeeded: hash >> 32) & mask
    }

    @inline(__always)
    private func slot(_ i: Int) -> UnsafeAtomic<UInt32> { UnsafeAtomic(at: slots + i) }

    /// Notes `node`, an entry of the group with filter hash `hash`. `inGroup` tells whether a
    /// node belongs to the same group; `precedes` whether `node` sorts before a node of it.
    /// Writer only, after `node` is linked.
    func note(_ hash: UInt64, node: UInt32, inGroup: (UInt32) -> Bool, precedes: (UInt32) -> Bool) {
        var i = start(hash)
        while true {
            let s = slot(i)
            let held = s.load(ordering: .relaxed)
            if held == 0 {
                if used >= limit {
                    incomplete.store(true, ordering: .releasing)
                    return
                }
                used += 1
                s.store(node, ordering: .releasing)
                return
            }
            if inGroup(held) {
                if precedes(held) { s.store(node, ordering: .releasing) }
                return
            }
            i = (i + 1) & mask
        }
    }

    /// The group with filter hash `hash` whose members `inGroup` recognises.
    func head(_ hash: UInt64, inGroup: (UInt32) -> Bool) -> Head {
        var i = start(hash)
        // Bounded by the table: at most `limit` slots are ever set, so an empty one is reached.
        while true {
            let held = slot(i).load(ordering: .acquiring)
            if held == 0 { return incomplete.load(ordering: .acquiring) ? .unknown : .absent }
            if inGroup(held) { return .node(held) }
            i = (i + 1) & mask
        }
    }

    /// Whether groups were left out (the table filled up).
    var isIncomplete: Bool { incomplete.load(ordering: .acquiring) }
}
