import ApusCore

/// One decoded (uncompressed, checksum-verified) data or index block, immutable once made.
///
/// The bytes live in memory the block allocates once and frees in `deinit`, so cursors decode
/// through a raw pointer with no closure, copy or retain per entry. The restart array was
/// checked at creation: every restart offset lies inside the entry area.
///
/// Concurrency: `@unchecked Sendable` because nothing is written after `init`; the raw memory is
/// read-only for its whole life and freed only when the last reference goes away.
package final class Block: @unchecked Sendable {
    /// The block contents (entries, restart array, restart count).
    let raw: UnsafeRawBufferPointer
    /// Offset of the restart array, which is also the end of the entries.
    let restartsOffset: Int
    /// Number of restart points (>= 1).
    let restartCount: Int

    /// Bytes held, the charge of this block in the block cache.
    package var byteCount: Int { raw.count }

    /// Copies `bytes` (the block contents) and checks its restart array.
    /// - Throws: `.corruption` naming `path` and `offset` (the block's file offset) if malformed.
    init(bytes: [UInt8], path: String, offset: Int) throws(StorageError) {
        let n = bytes.count
        guard n >= 4 else { throw .corruption("block too short for its restart count", path: path, offset: offset) }
        let count = Int(decodeFixed32(bytes, at: n - 4))
        guard count >= 1, count <= (n - 4) / 4 else {
            throw .corruption("block restart count \(count) out of range", path: path, offset: offset)
        }
        let restarts = n - 4 - 4 * count
        var previous = -1
        for i in 0..<count {
            let r = Int(decodeFixed32(bytes, at: restarts + 4 * i))
            guard r <= restarts, r > previous else {
                throw .corruption("block restart offset \(r) out of range", path: path, offset: offset)
            }
            previous = r
        }
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: n, alignment: 8)
        bytes.withUnsafeBytes { memory.copyMemory(from: $0) }
        raw = UnsafeRawBufferPointer(memory)
        restartsOffset = restarts
        restartCount = count
    }

    deinit {
        raw.deallocate()
    }

    /// An empty block (no entries), the resting state of a table iterator's data cursor.
    static let empty: Block = {
        let bytes: [UInt8] = [0, 0, 0, 0, 1, 0, 0, 0]
        do { return try Block(bytes: bytes, path: "", offset: 0) } catch {
            preconditionFailure("the empty block is well formed")
        }
    }()

    @inline(__always)
    func restart(_ i: Int) -> Int {
        Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: restartsOffset + 4 * i, as: UInt32.self)))
    }

    /// The key and value of the entry at restart point `i` (whole, since a restart shares no
    /// prefix); nil if that entry is malformed or its key is shorter than an internal key.
    func restartEntry(_ i: Int) -> (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)? {
        let limit = restartsOffset
        var p = restart(i)
        var u: UInt64 = 0, v: UInt64 = 0
        // Fast path: the three header varints are one byte each (keys and values under 128 B).
        if p + 3 <= limit, raw[p] == 0, (raw[p + 1] | raw[p + 2]) < 0x80 {
            u = UInt64(raw[p + 1])
            v = UInt64(raw[p + 2])
            p += 3
        } else {
            let entries = UnsafeRawBufferPointer(rebasing: raw[0..<limit])
            guard let s = decodeVarint(entries, &p), let uu = decodeVarint(entries, &p),
                  let vv = decodeVarint(entries, &p), s == 0
            else { return nil }
            u = uu
            v = vv
        }
        guard u >= UInt64(InternalKey.trailerLength), u <= UInt64(limit - p), v <= UInt64(limit - p) - u else { return nil }
        let keyEnd = p + Int(u)
        return (UnsafeRawBufferPointer(rebasing: raw[p..<keyEnd]),
                UnsafeRawBufferPointer(rebasing: raw[keyEnd..<(keyEnd + Int(v))]))
    }

    /// The first of restart points `0..<count` whose key is >= `target`, or `count` if none is.
    ///
    /// For an index block, where every entry is a restart point (checked when a table opens),
    /// this is the index entry of the only data block that can hold `target`'s position.
    /// - Throws: `.corruption` naming `path` and `offset` if a restart entry is malformed.
    /// - Precondition: `count <= restartCount`.
    func firstRestart(notBelow target: UnsafeRawBufferPointer, below count: Int, comparator: KeyComparator,
                      path: String, offset: Int) throws(StorageError) -> Int {
        precondition(count >= 0 && count <= restartCount, "restart search within the restart array")
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            guard let entry = restartEntry(mid) else {
                throw .corruption("malformed restart entry in block", path: path, offset: offset)
            }
            if comparator.compareInternal(entry.key, target) < 0 { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

/// Builds the contents of one data or index block: prefix-compressed entries plus restarts.
///
/// Concurrency: one owner (the table builder).
struct BlockBuilder {
    let restartInterval: Int
    private(set) var buffer: [UInt8] = []
    private var restarts: [UInt32] = [0]
    private var counter = 0
    private(set) var lastKey: [UInt8] = []
    private(set) var entryCount = 0

    init(restartInterval: Int) {
        precondition(restartInterval >= 1, "restart interval is positive")
        self.restartInterval = restartInterval
    }

    var isEmpty: Bool { entryCount == 0 }

    /// The size `finish()` would produce.
    var estimatedBytes: Int { buffer.count + 4 * restarts.count + 4 }

    /// Appends an entry; keys must arrive in increasing order (checked by the caller).
    mutating func add(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        var shared = 0
        if counter < restartInterval {
            let limit = min(lastKey.count, key.count)
            lastKey.withUnsafeBytes { last in
                while shared < limit && last[shared] == key[shared] { shared += 1 }
            }
        } else {
            restarts.append(UInt32(buffer.count))
            counter = 0
        }
        buffer.appendVarint(UInt64(shared))
        buffer.appendVarint(UInt64(key.count - shared))
        buffer.appendVarint(UInt64(value.count))
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: key[shared...]))
        buffer.append(contentsOf: value)
        lastKey.removeLast(lastKey.count - shared)
        lastKey.append(contentsOf: UnsafeRawBufferPointer(rebasing: key[shared...]))
        counter += 1
        entryCount += 1
    }

    /// Appends the restart array and returns the finished contents; call `reset()` before reuse.
    mutating func finish() -> [UInt8] {
        precondition(buffer.count <= Int(UInt32.max), "block fits UInt32 offsets")
        for r in restarts { buffer.appendFixed32(r) }
        buffer.appendFixed32(UInt32(restarts.count))
        return buffer
    }

    mutating func reset() {
        buffer.removeAll(keepingCapacity: true)
        restarts.removeAll(keepingCapacity: true)
        restarts.append(0)
        counter = 0
        lastKey.removeAll(keepingCapacity: true)
        entryCount = 0
    }
}

/// A position inside one `Block`: decodes entries into a reused key buffer.
///
/// Forward steps decode one entry; `prev` rescans from the preceding restart point, so it costs
/// up to one restart interval. Keys must be internal keys (>= 8 bytes); anything else in a block
/// is corruption. Concurrency: one owner.
struct BlockCursor {
    private(set) var block: Block
    let comparator: KeyComparator
    let path: String
    /// File offset of the block, for error messages.
    private(set) var blockOffset: Int

    /// Offset of the current entry (== restartsOffset when past the end).
    private var current: Int
    /// Offset just after the current entry.
    private var nextOffset: Int
    private var restartIndex = 0
    private(set) var key: [UInt8] = []
    private var valueStart = 0
    private var valueCount = 0
    private(set) var isValid = false

    init(block: Block, comparator: KeyComparator, path: String, blockOffset: Int) {
        self.block = block
        self.comparator = comparator
        self.path = path
        self.blockOffset = blockOffset
        current = block.restartsOffset
        nextOffset = block.restartsOffset
    }

    /// Switches to another block (unpositioned), keeping the key buffer's capacity.
    mutating func reset(block: Block, blockOffset: Int) {
        self.block = block
        self.blockOffset = blockOffset
        current = block.restartsOffset
        nextOffset = block.restartsOffset
        restartIndex = 0
        key.removeAll(keepingCapacity: true)
        valueStart = 0
        valueCount = 0
        isValid = false
    }

    /// Offset of the current entry in the block.
    var currentOffset: Int { current }

    /// The current value's bytes, valid while this cursor holds its block.
    var valueRaw: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: block.raw[valueStart..<(valueStart + valueCount)])
    }

    var value: [UInt8] { [UInt8](valueRaw) }

    private func corrupt(_ what: String) -> StorageError {
        .corruption("\(what) in block", path: path, offset: blockOffset)
    }

    private mutating func invalidate() {
        isValid = false
        current = block.restartsOffset
        nextOffset = block.restartsOffset
        restartIndex = block.restartCount - 1
    }

    private mutating func seekToRestart(_ i: Int) {
        key.removeAll(keepingCapacity: true)
        restartIndex = i
        nextOffset = block.restart(i)
    }

    /// Decodes the entry at `nextOffset`; returns false (and invalidates) at the end of entries.
    @discardableResult
    private mutating func parseNext() throws(StorageError) -> Bool {
        let raw = block.raw
        let limit = block.restartsOffset
        var p = nextOffset
        guard p < limit else {
            invalidate()
            return false
        }
        current = p
        let entries = UnsafeRawBufferPointer(rebasing: raw[0..<limit])
        var shared = 0, unshared = 0, valueLength = 0
        // Fast path: three one-byte varints, the common case for short keys.
        if p + 3 <= limit, (raw[p] | raw[p + 1] | raw[p + 2]) < 0x80 {
            shared = Int(raw[p])
            unshared = Int(raw[p + 1])
            valueLength = Int(raw[p + 2])
            p += 3
        } else {
            guard let s = decodeVarint(entries, &p), let u = decodeVarint(entries, &p),
                  let v = decodeVarint(entries, &p), s <= UInt64(limit), u <= UInt64(limit), v <= UInt64(limit)
            else {
                invalidate()
                throw corrupt("malformed entry header")
            }
            shared = Int(s)
            unshared = Int(u)
            valueLength = Int(v)
        }
        guard shared <= key.count, unshared + valueLength <= limit - p, shared + unshared >= InternalKey.trailerLength
        else {
            invalidate()
            throw corrupt("entry out of range")
        }
        key.removeLast(key.count - shared)
        key.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[p..<(p + unshared)]))
        valueStart = p + unshared
        valueCount = valueLength
        nextOffset = valueStart + valueLength
        while restartIndex + 1 < block.restartCount && block.restart(restartIndex + 1) <= current {
            restartIndex += 1
        }
        isValid = true
        return true
    }

    mutating func seekToFirst() throws(StorageError) {
        seekToRestart(0)
        try parseNext()
    }

    mutating func seekToLast() throws(StorageError) {
        seekToRestart(block.restartCount - 1)
        while try parseNext() && nextOffset < block.restartsOffset {}
    }

    mutating func next() throws(StorageError) {
        precondition(isValid, "next on a valid cursor")
        try parseNext()
    }

    mutating func prev() throws(StorageError) {
        precondition(isValid, "prev on a valid cursor")
        let original = current
        while block.restart(restartIndex) >= original {
            if restartIndex == 0 {
                invalidate()
                return
            }
            restartIndex -= 1
        }
        seekToRestart(restartIndex)
        while try parseNext() && nextOffset < original {}
    }

    /// The key stored at restart point `i`.
    private func restartKey(_ i: Int) throws(StorageError) -> UnsafeRawBufferPointer {
        guard let entry = block.restartEntry(i) else { throw corrupt("malformed restart entry") }
        return entry.key
    }

    /// Positions at the first entry whose key is >= `target` (internal-key order).
    mutating func seek(_ target: UnsafeRawBufferPointer) throws(StorageError) {
        // Binary search for the last restart whose key is < target; the answer lies after it.
        var low = 0
        var high = block.restartCount - 1
        while low < high {
            let mid = (low + high + 1) / 2
            let k = try restartKey(mid)
            if comparator.compareInternal(k, target) < 0 {
                low = mid
            } else {
                high = mid - 1
            }
        }
        seekToRestart(low)
        while try parseNext() {
            let c = key.withUnsafeBytes { comparator.compareInternal($0, target) }
            if c >= 0 { return }
        }
    }
}
