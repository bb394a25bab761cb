import Atomics
import Synchronization

/// A skiplist of internal keys and values stored in an `Arena`, with one writer and lock-free
/// readers.
///
/// Each node is one arena allocation; nodes link by `UInt32` arena offsets (0 is null):
/// ```
/// +--------------+----------------+-----------+-------------------------+---------+-------+
/// | keyLength 4B | valueLength 4B | height 4B | next[0..<height] 4B each | key     | value |
/// +--------------+----------------+-----------+-------------------------+---------+-------+
/// ```
/// `key` is an internal key (user key + 8-byte trailer). Fields are in native byte order: the
/// arena never leaves the process. Towers are as tall as the node's height (1...`maxHeight`,
/// geometric with p = 1/4), so the average node spends 5.3 bytes on links.
///
/// Concurrency: `insert` is called by one writer at a time (serialized by the caller). Readers on
/// any thread may search and walk concurrently without locks. The writer fills a node completely
/// (header, key, value, its own next links) before linking it in, and links it with a release
/// store into the predecessor's `next` slot, level 0 first; readers load `next` slots with
/// acquire loads, so any node a reader reaches is fully written. Nodes are never changed after
/// they are linked, except for their `next` slots, which only ever move from a node to a newly
/// inserted node between it and its old successor. A reader may therefore miss an entry inserted
/// during its walk, but never sees a partial or out-of-order one. The arena never moves or frees
/// memory while the skiplist lives, so offsets stay valid.
final class SkipList: @unchecked Sendable {
    /// The in-arena representation of one link, as swift-atomics lays it out (a plain `UInt32`).
    /// Spelled through `UnsafeAtomic` because `UInt32.AtomicRepresentation` is ambiguous between
    /// swift-atomics and the standard `Synchronization` module.
    typealias LinkStorage = UnsafeAtomic<UInt32>.Storage

    // @unchecked Sendable: see the concurrency contract above. `randomState` and `splice` are
    // touched only by the single writer inside `insert`; `height` is an atomic; everything else
    // is immutable after init or published through the acquire/release links.

    /// The tallest tower. With p = 1/4, 16 levels index about 4^16 entries, far beyond what a
    /// 1 GiB memtable (the `memtableBytesMax` limit) can hold.
    static let maxHeight = 16

    /// Bytes of the fixed node header (key length, value length, height).
    static let nodeHeaderBytes = 12

    /// The arena holding every node; retained by iterators so their offsets stay valid.
    let arena: Arena
    /// The order of internal keys.
    let comparator: KeyComparator
    /// The offset of the head node: a node of `maxHeight` with an empty key, before every entry.
    private let head: UInt32
    /// The number of levels in use, 1...maxHeight. Read relaxed by readers: a reader that sees a
    /// raised height before the head's new links finds null links there and just descends.
    private let height: Atomic<Int>
    /// xorshift64* state for tower heights. Writer only.
    private var randomState: UInt64
    /// Scratch space for `insert`: predecessors at `0..<maxHeight`, successors at
    /// `maxHeight..<2*maxHeight`. Writer only; allocated once so inserts allocate nothing.
    private let splice: UnsafeMutablePointer<UInt32>

    /// The arena bytes a node of `height` needs for an internal key of `keyBytes` and a value of
    /// `valueBytes`, padding included.
    static func nodeBytes(height: Int, keyBytes: Int, valueBytes: Int) -> Int {
        Arena.roundedSize(nodeHeaderBytes + 4 * height + keyBytes + valueBytes)
    }

    /// Creates an empty skiplist whose head node is allocated in `arena`.
    /// - Parameter seed: seeds tower heights, so the same inserts build the same shape.
    /// - Precondition: the arena has room for the head node.
    init(arena: Arena, comparator: KeyComparator, seed: UInt64) {
        self.arena = arena
        self.comparator = comparator
        self.height = Atomic(1)
        // xorshift must not start at zero; mix the seed so that small seeds differ well.
        var s = seed &+ 0x9E37_79B9_7F4A_7C15
        s = (s ^ (s >> 30)) &* 0xBF58_476D_1CE4_E5B9
        s = (s ^ (s >> 27)) &* 0x94D0_49BB_1331_11EB
        s ^= s >> 31
        self.randomState = s == 0 ? 1 : s
        self.splice = .allocate(capacity: 2 * SkipList.maxHeight)
        self.splice.initialize(repeating: 0, count: 2 * SkipList.maxHeight)
        let headBytes = SkipList.nodeBytes(height: SkipList.maxHeight, keyBytes: 0, valueBytes: 0)
        precondition(headBytes <= arena.availableBytes, "arena has room for the skiplist head")
        self.head = arena.allocate(headBytes)
        // The empty list's splice: the head before everything at every level.
        for level in 0..<SkipList.maxHeight { splice[level] = head }
        arena.storeUInt32(0, at: head)
        arena.storeUInt32(0, at: head + 4)
        arena.storeUInt32(UInt32(SkipList.maxHeight), at: head + 8)
        for level in 0..<SkipList.maxHeight {
            slot(head, level).initialize(to: LinkStorage(0))
        }
    }

    deinit {
        splice.deallocate()
    }

    // MARK: Node access

    /// The address of `node`'s link at `level`.
    @inline(__always)
    private func slot(_ node: UInt32, _ level: Int) -> UnsafeMutablePointer<LinkStorage> {
        arena.atomicSlot(at: node + UInt32(SkipList.nodeHeaderBytes + 4 * level))
            .assumingMemoryBound(to: LinkStorage.self)
    }

    /// The successor of `node` at `level` (acquire load), or 0.
    @inline(__always)
    func next(_ node: UInt32, _ level: Int) -> UInt32 {
        UnsafeAtomic<UInt32>(at: slot(node, level)).load(ordering: .acquiring)
    }

    /// The internal key of `node`; valid while the arena lives.
    @inline(__always)
    func key(_ node: UInt32) -> UnsafeRawBufferPointer {
        let keyLength = Int(arena.loadUInt32(at: node))
        let nodeHeight = Int(arena.loadUInt32(at: node + 8))
        return arena.bytes(at: node + UInt32(SkipList.nodeHeaderBytes + 4 * nodeHeight), count: keyLength)
    }

    /// The value of `node`; valid while the arena lives.
    @inline(__always)
    func value(_ node: UInt32) -> UnsafeRawBufferPointer {
        let keyLength = Int(arena.loadUInt32(at: node))
        let valueLength = Int(arena.loadUInt32(at: node + 4))
        let nodeHeight = Int(arena.loadUInt32(at: node + 8))
        return arena.bytes(at: node + UInt32(SkipList.nodeHeaderBytes + 4 * nodeHeight + keyLength), count: valueLength)
    }

    // MARK: Writer

    /// A tower height: 1 + the number of pairs of trailing zero bits, so P(height > k) = 4^-k.
    private func randomHeight() -> Int {
        randomState ^= randomState >> 12
        randomState ^= randomState << 25
        randomState ^= randomState >> 27
        let r = randomState &* 0x2545_F491_4F6C_DD1D
        return 1 + Swift.min(SkipList.maxHeight - 1, r.trailingZeroBitCount / 2)
    }

    /// Inserts the entry `userKey + trailer` → `value`. Single writer only.
    /// - Precondition: the arena has room for a node of `maxHeight` (the memtable checks), and
    ///   no entry with the same internal key exists (sequence numbers are unique per entry).
    /// - Returns: the new node.
    @discardableResult
    func insert(userKey: UnsafeRawBufferPointer, trailer: UInt64, value: UnsafeRawBufferPointer) -> UInt32 {
        let nodeHeight = randomHeight()
        let keyLength = userKey.count + InternalKey.trailerLength
        precondition(keyLength <= Int(UInt32.max) && value.count <= Int(UInt32.max), "entry lengths fit in UInt32")
        let node = arena.allocate(SkipList.nodeBytes(height: nodeHeight, keyBytes: keyLength, valueBytes: value.count))
        arena.storeUInt32(UInt32(keyLength), at: node)
        arena.storeUInt32(UInt32(value.count), at: node + 4)
        arena.storeUInt32(UInt32(nodeHeight), at: node + 8)
        let keyOffset = node + UInt32(SkipList.nodeHeaderBytes + 4 * nodeHeight)
        let keyBytes = arena.mutableBytes(at: keyOffset, count: keyLength)
        if userKey.count > 0 {
            keyBytes.baseAddress.unsafelyUnwrapped.copyMemory(from: userKey.baseAddress.unsafelyUnwrapped,
                                                              byteCount: userKey.count)
        }
        keyBytes.storeBytes(of: trailer.littleEndian, toByteOffset: userKey.count, as: UInt64.self)
        if value.count > 0 {
            arena.mutableBytes(at: keyOffset + UInt32(keyLength), count: value.count).baseAddress.unsafelyUnwrapped
                .copyMemory(from: value.baseAddress.unsafelyUnwrapped, byteCount: value.count)
        }

        let listHeight = height.load(ordering: .relaxed)
        // The splice of the previous insert, moved past its node, still brackets a key that
        // sorts right after that one (sequential loads): when it does at level 0 it does at
        // every level, since towers only thin out going up.
        if !spliceBrackets(UnsafeRawBufferPointer(keyBytes)) {
            findSplice(UnsafeRawBufferPointer(keyBytes), listHeight: listHeight)
        }
        let successor0 = splice[SkipList.maxHeight]
        precondition(successor0 == 0 || comparator.compareInternal(key(successor0), UnsafeRawBufferPointer(keyBytes)) != 0,
                     "internal keys in a skiplist are unique")
        if nodeHeight > listHeight {
            for level in listHeight..<nodeHeight {
                splice[level] = head
                splice[SkipList.maxHeight + level] = 0
            }
            height.store(nodeHeight, ordering: .relaxed)
        }
        // The new node's own links are plain initialization: no reader can reach it yet.
        for level in 0..<nodeHeight {
            slot(node, level).initialize(to: LinkStorage(splice[SkipList.maxHeight + level]))
        }
        // Publish bottom-up: once linked at level 0 the node is in the list; higher levels only
        // make it faster to find.
        for level in 0..<nodeHeight {
            UnsafeAtomic<UInt32>(at: slot(splice[level], level)).store(node, ordering: .releasing)
        }
        // Keep the splice valid for the next insert: the new node now precedes its successors.
        for level in 0..<nodeHeight { splice[level] = node }
        return node
    }

    /// Whether the kept splice's level-0 pair still surrounds `target` (predecessor < target <
    /// successor, the head and the end standing for minus and plus infinity). Writer only.
    @inline(__always)
    private func spliceBrackets(_ target: UnsafeRawBufferPointer) -> Bool {
        let before = splice[0], after = splice[SkipList.maxHeight]
        if before != head && comparator.compareInternal(key(before), target) >= 0 { return false }
        return after == 0 || comparator.compareInternal(key(after), target) > 0
    }

    /// Fills `splice` with the predecessor and successor of `target` at every level below
    /// `listHeight`. Writer only.
    private func findSplice(_ target: UnsafeRawBufferPointer, listHeight: Int) {
        var x = head
        var level = listHeight - 1
        var rejected: UInt32 = 0
        while true {
            let n = next(x, level)
            if n != 0 && n != rejected && comparator.compareInternal(key(n), target) < 0 {
                x = n
                continue
            }
            rejected = n
            splice[level] = x
            splice[SkipList.maxHeight + level] = n
            if level == 0 { return }
            level -= 1
        }
    }

    // MARK: Readers

    /// The last node whose key is < `target` (or <= it when `inclusive`) and its level-0
    /// successor; the head stands for "no such node".
    @inline(__always)
    private func findPredecessor(_ target: UnsafeRawBufferPointer, inclusive: Bool) -> (node: UInt32, next: UInt32) {
        var x = head
        var level = height.load(ordering: .relaxed) - 1
        // A node found not to precede `target` at one level need not be compared again below.
        var rejected: UInt32 = 0
        while true {
            let n = next(x, level)
            if n != 0 && n != rejected {
                let c = comparator.compareInternal(key(n), target)
                if c < 0 || (inclusive && c == 0) {
                    x = n
                    continue
                }
            }
            rejected = n
            if level == 0 { return (x, n) }
            level -= 1
        }
    }

    /// The first node, or 0 if the list is empty.
    func first() -> UInt32 { next(head, 0) }

    /// The last node, or 0 if the list is empty.
    /// - Complexity: O(log n).
    func last() -> UInt32 {
        var x = head
        var level = height.load(ordering: .relaxed) - 1
        while true {
            let n = next(x, level)
            if n != 0 {
                x = n
                continue
            }
            if level == 0 { return x == head ? 0 : x }
            level -= 1
        }
    }

    /// The first node whose key is >= `target`, or 0.
    /// - Complexity: O(log n).
    func seekGreaterOrEqual(_ target: UnsafeRawBufferPointer) -> UInt32 {
        findPredecessor(target, inclusive: false).next
    }

    /// The last node whose key is < `target`, or 0.
    /// - Complexity: O(log n).
    func seekLessThan(_ target: UnsafeRawBufferPointer) -> UInt32 {
        let p = findPredecessor(target, inclusive: false).node
        return p == head ? 0 : p
    }

    /// The last node whose key is <= `target`, or 0.
    /// - Complexity: O(log n).
    func seekLessOrEqual(_ target: UnsafeRawBufferPointer) -> UInt32 {
        let p = findPredecessor(target, inclusive: true).node
        return p == head ? 0 : p
    }
}
