import ApusCore
import Synchronization

/// The result of a point lookup in a memtable.
package enum MemtableLookup: Equatable, Sendable {
    /// The newest visible entry of the key is a put of this value at this sequence.
    case found([UInt8], SequenceNumber)
    /// The newest visible entry of the key is a point deletion at this sequence.
    case deleted(SequenceNumber)
    /// The memtable holds no visible put or delete of the key; older data may hold one.
    case notFound
}

/// The in-memory, sorted write buffer of the LSM: every write lands here (after the WAL) until
/// the memtable is frozen and flushed to a level-0 table.
///
/// Entries are internal keys (user key + trailer of sequence and kind) with values, kept in an
/// arena-allocated skiplist (`SkipList` over an `Arena`): one preallocated buffer of
/// `capacityBytes`, nodes linked by `UInt32` offsets, so an insert allocates no Swift objects.
/// Range deletions are entries of kind `.rangeDelete` (key = start user key, value = end user
/// key) and are also kept in a side list for `rangeTombstones()`.
///
/// Capacity is a hard bound: the engine calls `hasRoom(keyBytes:valueBytes:)` before each
/// `add` and freezes the memtable (starting a new one) when it answers false; `add` on a full
/// memtable is a programmer error and stops the process.
///
/// Concurrency: `@unchecked Sendable` because
/// - there is a single writer: `add` must be serialized by the caller (the engine's write path,
///   which applies batches one at a time in sequence order); the writer-only state (the
///   skiplist's random generator and scratch splice) is touched nowhere else;
/// - readers (`get`, iterators, `rangeTombstones`, the counters) run on any thread with no lock:
///   the writer fills a node completely and then links it with release stores, and readers
///   follow links with acquire loads, so they see either nothing of an entry or all of it;
/// - the arena never moves or frees memory while the memtable or any of its iterators lives
///   (iterators retain the arena), so the offsets readers hold stay valid;
/// - the range-tombstone side list is guarded by its own `Mutex`, and the counters are atomics.
package final class Memtable: @unchecked Sendable {
    /// The order of user keys.
    package let comparator: KeyComparator
    private let list: SkipList
    /// Number of entries added. Written by the writer after linking, read by anyone.
    private let entries: Atomic<Int>
    /// Range deletions in insertion order. Guarded by its own lock; held only to append or copy.
    private let tombstones: Mutex<[RangeTombstone]>
    /// Set (releasing) once the first range deletion is appended: probes ask it on every read
    /// without taking the lock.
    private let holdsTombstones = Atomic<Bool>(false)

    /// Creates an empty memtable whose arena holds `capacityBytes`.
    ///
    /// Each entry costs `SkipList.nodeHeaderBytes` + 4 bytes per tower level (5.3 on average) +
    /// key + 8 + value bytes, rounded up to 4; the engine sizes the arena as `memtableBytesMax`
    /// plus room for the largest single write.
    /// - Parameter randomSeed: seeds skiplist tower heights (the shape, never the contents).
    /// - Precondition: `capacityBytes` is at least 1 KiB and at most 4 GiB - 1 (offsets are `UInt32`).
    /// The filter of keys and prefixes (nil: unfiltered), and the prefix function it uses.
    private let filter: MemtableFilter?
    private let bloomPrefix: BloomPrefix?
    /// Group heads (with the filter): of each key's entries, and of each `bloomPrefix` prefix's.
    private let keyGroups: MemtableGroupIndex?
    private let prefixGroups: MemtableGroupIndex?

    /// - Parameters:
    ///   - indexedBytes: the entry bytes the group indexes are sized for (default: the capacity;
    ///     the engine gives its flush threshold, below an arena with room for a large write).
    ///   - groupSlots: the slots of each group index (tests; default: by `indexedBytes`).
    package init(comparator: KeyComparator, capacityBytes: Int, randomSeed: UInt64 = 0, filtered: Bool = false,
                 bloomPrefix: BloomPrefix? = nil, indexedBytes: Int? = nil, groupSlots: Int? = nil) {
        precondition(capacityBytes >= 1024, "memtable capacity is at least 1 KiB")
        precondition(capacityBytes <= Arena.capacityBytesMax, "memtable capacity fits UInt32 offsets")
        self.comparator = comparator
        self.list = SkipList(arena: Arena(capacityBytes: capacityBytes), comparator: comparator, seed: randomSeed)
        self.entries = Atomic(0)
        self.tombstones = Mutex([])
        // About 8 bits per 16 arena bytes: entries take 40 bytes and more, and add at most
        // two hashes each.
        self.filter = filtered ? MemtableFilter(bits: capacityBytes / 2) : nil
        self.bloomPrefix = filtered ? bloomPrefix : nil
        // Entries take 40 bytes and more (most above 64): a slot per 32 bytes for keys (4 bytes
        // each, an eighth of the bytes), one per 64 for prefixes, of which there are fewer
        // (index entries only); at most 4 Mi and 2 Mi slots (24 MiB), as the filter is capped.
        // A memtable with more groups leaves the rest out (their probes seek).
        let indexed = indexedBytes ?? capacityBytes
        self.keyGroups = filtered ? MemtableGroupIndex(slots: groupSlots ?? Swift.min(indexed / 32, 1 << 22)) : nil
        self.prefixGroups = filtered && bloomPrefix != nil
            ? MemtableGroupIndex(slots: groupSlots ?? Swift.min(indexed / 64, 1 << 21)) : nil
    }

    /// A memtable of `capacityBytes` filtered as `options` asks (bloom bits, prefix function).
    package convenience init(options: StorageOptions, capacityBytes: Int) {
        self.init(comparator: options.comparator, capacityBytes: capacityBytes, filtered: options.bloomBitsPerKey > 0,
                  bloomPrefix: options.bloomPrefix, indexedBytes: Swift.min(capacityBytes, options.memtableBytesMax))
    }

    /// Whether the memtable may hold the key whose filter hash (of its
    /// `KeyComparator.prefixLength` bytes) is `hash`.
    package func mayContain(keyHash hash: UInt64) -> Bool {
        filter?.mayContain(hash) ?? true
    }

    /// Whether the memtable may hold a key with the prefix whose hash is `hash`, as `prefix`
    /// extracts them.
    package func mayContain(prefixHash hash: UInt64, of prefix: BloomPrefix) -> Bool {
        guard let filter, bloomPrefix?.name == prefix.name else { return true }
        return filter.mayContain(hash)
    }

    /// The arena size given at init.
    package var capacityBytes: Int { list.arena.capacityBytes }

    /// Arena bytes not yet used.
    package var availableBytes: Int { list.arena.availableBytes }

    /// Arena bytes in use, node overhead and padding included; grows with every `add`.
    package var approximateBytes: Int { list.arena.usedBytes }

    /// Number of entries added (puts, deletes and range deletes).
    package var entryCount: Int { entries.load(ordering: .acquiring) }

    /// Whether no entry has been added.
    package var isEmpty: Bool { entryCount == 0 }

    /// Whether an entry with a user key of `keyBytes` and a value of `valueBytes` fits, assuming
    /// the tallest tower. The engine checks this before `add` and freezes the memtable on false.
    package func hasRoom(keyBytes: Int, valueBytes: Int) -> Bool {
        precondition(keyBytes >= 0 && valueBytes >= 0, "entry sizes are not negative")
        let worst = SkipList.nodeBytes(height: SkipList.maxHeight, keyBytes: keyBytes + InternalKey.trailerLength,
                                       valueBytes: valueBytes)
        return worst <= list.arena.availableBytes
    }

    /// Adds an entry. Single writer only (see the type's concurrency contract).
    ///
    /// For `.rangeDelete`, `key` is the start user key (inclusive) and `value` the end user key
    /// (exclusive); the tombstone is also appended to `rangeTombstones()`. An empty range
    /// (start >= end) is stored as given and covers nothing.
    /// - Precondition: `hasRoom(keyBytes: key.count, valueBytes: value.count)`;
    ///   `sequence <= maxSequenceNumber`; no earlier entry has the same key, sequence and kind.
    /// - Complexity: O(log n) comparisons; no heap allocation except for range deletions.
    package func add(sequence: SequenceNumber, kind: ValueKind, key: UnsafeRawBufferPointer,
                     value: UnsafeRawBufferPointer) {
        precondition(sequence <= maxSequenceNumber, "sequence fits in 56 bits")
        precondition(hasRoom(keyBytes: key.count, valueBytes: value.count), "memtable has room for the entry")
        let node = list.insert(userKey: key, trailer: InternalKey.trailer(sequence, kind), value: value)
        if let filter {
            let keyLength = comparator.prefixLength(key)
            let keyHash = bloomHash(UnsafeRawBufferPointer(rebasing: key[0..<keyLength]))
            filter.add(keyHash)
            let prefixLength = bloomPrefix?.prefixLength(of: key)
            let prefixHash = prefixLength.map { bloomHash(UnsafeRawBufferPointer(rebasing: key[0..<$0])) }
            if let prefixHash { filter.add(prefixHash) }
            // Range deletions are passed by probes: a group starts at its first other entry.
            if kind != .rangeDelete {
                let nodeKey = list.key(node)
                let precedes = { (other: UInt32) in self.comparator.compareInternal(nodeKey, self.list.key(other)) < 0 }
                keyGroups?.note(keyHash, node: node, inGroup: { self.inGroup($0, UnsafeRawBufferPointer(rebasing: key[0..<keyLength]), prefix: nil) },
                                precedes: precedes)
                if let prefixHash, let prefixLength {
                    prefixGroups?.note(prefixHash, node: node,
                                       inGroup: { self.inGroup($0, UnsafeRawBufferPointer(rebasing: key[0..<prefixLength]), prefix: self.bloomPrefix) },
                                       precedes: precedes)
                }
            }
        }
        if kind == .rangeDelete {
            let tombstone = RangeTombstone(start: Array(key), end: Array(value), sequence: sequence)
            tombstones.withLock { $0.append(tombstone) }
            holdsTombstones.store(true, ordering: .releasing)
        }
        entries.wrappingAdd(1, ordering: .releasing)
    }

    /// Adds an entry held in arrays; see `add(sequence:kind:key:value:)`.
    package func add(sequence: SequenceNumber, kind: ValueKind, key: [UInt8], value: [UInt8]) {
        key.withUnsafeBytes { k in value.withUnsafeBytes { v in add(sequence: sequence, kind: kind, key: k, value: v) } }
    }

    /// Finds the newest put or delete of `userKey` with a sequence <= `sequence`.
    ///
    /// Range deletions are not consulted here: the engine applies `rangeTombstones()` of every
    /// source separately, since a tombstone in this memtable may hide entries in older tables.
    /// - Complexity: O(log n); allocates only the returned value.
    package func get(userKey: UnsafeRawBufferPointer, sequence: SequenceNumber) -> MemtableLookup {
        precondition(sequence <= maxSequenceNumber, "sequence fits in 56 bits")
        let targetLength = userKey.count + InternalKey.trailerLength
        return withUnsafeTemporaryAllocation(byteCount: targetLength, alignment: 1) { target in
            if userKey.count > 0 {
                target.baseAddress.unsafelyUnwrapped.copyMemory(from: userKey.baseAddress.unsafelyUnwrapped,
                                                                byteCount: userKey.count)
            }
            // The seek kind sorts first among entries of one sequence, so the target precedes
            // every entry of `userKey` with a sequence <= `sequence`.
            target.storeBytes(of: InternalKey.trailer(sequence, ValueKind.seekKind).littleEndian,
                              toByteOffset: userKey.count, as: UInt64.self)
            var node = list.seekGreaterOrEqual(UnsafeRawBufferPointer(target))
            while node != 0 {
                let key = list.key(node)
                let userKeyLength = key.count - InternalKey.trailerLength
                if comparator.compare(UnsafeRawBufferPointer(rebasing: key[0..<userKeyLength]), userKey) != 0 {
                    return .notFound
                }
                let trailer = UInt64(littleEndian: key.loadUnaligned(fromByteOffset: userKeyLength, as: UInt64.self))
                let entrySequence = trailer >> 8
                switch ValueKind(rawValue: UInt8(truncatingIfNeeded: trailer)) {
                case .put: return .found(Array(list.value(node)), entrySequence)
                case .delete: return .deleted(entrySequence)
                case .rangeDelete: node = list.next(node, 0)
                case nil: preconditionFailure("memtable entries have known kinds")
                }
            }
            return .notFound
        }
    }

    /// Finds the newest put or delete of `userKey`; see `get(userKey:sequence:)`.
    package func get(userKey: [UInt8], sequence: SequenceNumber) -> MemtableLookup {
        userKey.withUnsafeBytes { get(userKey: $0, sequence: sequence) }
    }

    /// The first entry at or after the internal key `target` that `probe` stops at (see
    /// `ProbeBounds`), or nil when the memtable holds none below the probe's upper bound.
    /// - Complexity: O(log n) plus one step per entry passed; allocates only the returned entry.
    /// - Throws: `.corruption` for a malformed entry.
    package func firstVisible(atOrAfter target: UnsafeRawBufferPointer, _ probe: ProbeBounds,
                              group: StorageEngine.ReadFilter? = nil) throws(StorageError) -> ProbeEntry? {
        var node: UInt32
        switch groupHead(group) {
        case .absent: return nil
        case .unknown: node = list.seekGreaterOrEqual(target)
        case .node(let head): node = walk(from: head, to: target)
        }
        while node != 0 {
            let key = list.key(node)
            switch probe.visit(key) {
            case .pass: node = list.next(node, 0)
            case .end: return nil
            case .stop(let userKeyLength, let sequence, let kind):
                var entry = ProbeEntry(userKey: Array(key[0..<userKeyLength]), sequence: sequence, isPut: kind == .put,
                                       value: kind == .put ? Array(list.value(node)) : [])
                // A few entries on: does a later visible key follow below the bound?
                var next = node
                let look = try probe.lookahead(entry.userKey, endIsSourceEnd: true) { past in
                    next = list.next(next, 0)
                    return next == 0 ? nil : past.visit(list.key(next))
                }
                entry.note(look) { n, isPut in (Array(list.key(next)[0..<n]), isPut ? Array(list.value(next)) : []) }
                return entry
            case .malformed: throw StorageError(.corruption, "malformed internal key in a memtable")
            }
        }
        return nil
    }

    /// What the group indexes know of the group every key of a read's bounds is in (`group`,
    /// from the read's filter): `.unknown` without an index for it.
    func groupHead(_ group: StorageEngine.ReadFilter?) -> MemtableGroupIndex.Head {
        guard let group else { return .unknown }
        return group.group.withUnsafeBytes { bytes -> MemtableGroupIndex.Head in
            if let prefix = group.prefix {
                guard let prefixGroups, bloomPrefix?.name == prefix.name else { return .unknown }
                return prefixGroups.head(group.hash) { inGroup($0, bytes, prefix: prefix) }
            }
            return keyGroups?.head(group.hash) { inGroup($0, bytes, prefix: nil) } ?? .unknown
        }
    }

    /// The first node at or after `target`, from `head`, a node at or before it in the list:
    /// a few steps along level 0, else a seek.
    private func walk(from head: UInt32, to target: UnsafeRawBufferPointer) -> UInt32 {
        var node = head
        for _ in 0..<Memtable.groupWalkSteps {
            if node == 0 || comparator.compareInternal(list.key(node), target) >= 0 { return node }
            node = list.next(node, 0)
        }
        return list.seekGreaterOrEqual(target)
    }

    /// Whether a group index left groups out (tests).
    var groupIndexesIncomplete: (keys: Bool, prefixes: Bool) {
        (keyGroups?.isIncomplete ?? false, prefixGroups?.isIncomplete ?? false)
    }

    /// Steps a probe takes from its group's head before it seeks instead.
    static let groupWalkSteps = 16

    /// Whether `node`'s user key is in the group `group` names: has it as its `prefixLength`
    /// part (`prefix` nil: a key's group), or as its prefix as `prefix` extracts it.
    private func inGroup(_ node: UInt32, _ group: UnsafeRawBufferPointer, prefix: BloomPrefix?) -> Bool {
        let k = list.key(node)
        let user = UnsafeRawBufferPointer(rebasing: k[0..<(k.count - InternalKey.trailerLength)])
        let length: Int? = if let prefix { prefix.prefixLength(of: user) } else { comparator.prefixLength(user) }
        guard let n = length, n == group.count else { return false }
        return compareBytes(UnsafeRawBufferPointer(rebasing: user[0..<n]), group) == 0
    }

    /// Whether a range deletion was added (cheaper than `rangeTombstones()`: no copy).
    package var hasRangeTombstones: Bool {
        holdsTombstones.load(ordering: .acquiring)
    }

    /// The range deletions added so far, in the order they were added.
    /// - Complexity: O(t) for t tombstones (a copy under a short lock).
    package func rangeTombstones() -> [RangeTombstone] {
        tombstones.withLock { $0 }
    }

    /// An iterator over every entry (puts, deletes and range deletes) in internal-key order.
    /// It sees entries added before each positioning call and possibly later ones.
    package func makeIterator() -> any InternalIterator {
        MemtableIterator(list: list)
    }

    /// The concrete iterator, for callers that want direct dispatch and borrowed key access.
    package func makeMemtableIterator() -> MemtableIterator {
        MemtableIterator(list: list)
    }
}

/// An `InternalIterator` over a memtable's skiplist.
///
/// Forward steps follow level-0 links (O(1)); backward steps search for the predecessor
/// (O(log n)), since nodes keep no back links. The iterator retains the arena, so it stays
/// usable after the memtable itself is released (for example while a flush reads it).
///
/// Concurrency: one owner (not `Sendable`); it may run while the memtable's writer inserts.
package final class MemtableIterator: InternalIterator {
    private let list: SkipList
    /// The current node's arena offset; 0 when not positioned.
    private var node: UInt32 = 0

    init(list: SkipList) {
        self.list = list
    }

    package var isValid: Bool { node != 0 }

    package var key: [UInt8] {
        precondition(isValid, "iterator is positioned")
        return Array(list.key(node))
    }

    package func copyKey(into buffer: inout [UInt8]) {
        precondition(isValid, "iterator is positioned")
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: list.key(node))
    }

    package var value: [UInt8] {
        precondition(isValid, "iterator is positioned")
        return Array(list.value(node))
    }

    package func copyValue(into buffer: inout [UInt8]) {
        precondition(isValid, "iterator is positioned")
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: list.value(node))
    }

    /// Calls `body` with the current internal key, borrowed from the arena without copying.
    /// The buffer must not escape `body`.
    /// - Precondition: `isValid`.
    package func withKey<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(isValid, "iterator is positioned")
        return try body(list.key(node))
    }

    /// Calls `body` with the current value, borrowed from the arena without copying.
    /// The buffer must not escape `body`.
    /// - Precondition: `isValid`.
    package func withValue<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(isValid, "iterator is positioned")
        return try body(list.value(node))
    }

    package func seekToFirst() {
        node = list.first()
    }

    package func seekToLast() {
        node = list.last()
    }

    /// - Precondition: `target` is an internal key (at least 8 bytes).
    package func seek(_ target: [UInt8]) {
        node = target.withUnsafeBytes { list.seekGreaterOrEqual($0) }
    }

    /// - Precondition: `target` is an internal key (at least 8 bytes).
    package func seekForPrev(_ target: [UInt8]) {
        node = target.withUnsafeBytes { list.seekLessOrEqual($0) }
    }

    package func next() {
        precondition(isValid, "iterator is positioned")
        node = list.next(node, 0)
    }

    package func prev() {
        precondition(isValid, "iterator is positioned")
        node = list.seekLessThan(list.key(node))
    }
}
