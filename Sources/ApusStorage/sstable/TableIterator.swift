/// The two-level iterator of one table: a cursor over the pinned index block selects data
/// blocks, and a cursor over the current data block yields entries.
///
/// Data blocks come through the reader (and so the block cache); the current block stays
/// referenced by the cursor, so a cache eviction never invalidates a position. After a thrown
/// error the iterator is invalid until repositioned.
///
/// Use `TableReader.makeTableIterator()` where the concrete type avoids existential dispatch in
/// hot loops (merging iterators, compaction).
///
/// The two cursors live in memory the iterator allocates itself rather than in stored `var`
/// properties: a struct property of a class that is mutated across calls gets a dynamic
/// exclusivity check on every access, several per step.
///
/// Concurrency: one owner (not `Sendable`), as `InternalIterator` requires.
package final class TableIterator: InternalIterator {
    private let reader: TableReader
    /// The cursor over the index block.
    private let index: UnsafeMutablePointer<BlockCursor>
    /// The cursor over the current data block.
    private let data: UnsafeMutablePointer<BlockCursor>
    /// File offset of the block `data` is on, or -1 for none.
    private var dataOffset = -1
    /// Whether blocks read from the file go into the block cache.
    private let fillCache: Bool

    /// Creates an unpositioned iterator over `reader`'s entries.
    /// - Parameter fillCache: false: blocks the cache lacks are read without being inserted (a
    ///   compaction's inputs, which are deleted when it ends, would only evict blocks readers use).
    init(reader: TableReader, fillCache: Bool = true) {
        self.reader = reader
        self.fillCache = fillCache
        let cursors = UnsafeMutablePointer<BlockCursor>.allocate(capacity: 2)
        cursors.initialize(to: BlockCursor(block: reader.indexBlock, comparator: reader.comparator, path: reader.path,
                                           blockOffset: reader.indexOffset))
        (cursors + 1).initialize(to: BlockCursor(block: Block.empty, comparator: reader.comparator, path: reader.path,
                                                 blockOffset: 0))
        index = cursors
        data = cursors + 1
    }

    deinit {
        index.deinitialize(count: 2)
        index.deallocate()
    }

    /// Whether the iterator is on an entry.
    package var isValid: Bool { data.pointee.isValid }

    /// The current internal key. - Precondition: `isValid`.
    package var key: [UInt8] {
        precondition(data.pointee.isValid, "key of a valid iterator")
        return data.pointee.key
    }

    /// Copies the current internal key into `buffer`'s storage; the cursor keeps its own key
    /// buffer unshared, so decoding the next entry updates it in place.
    package func copyKey(into buffer: inout [UInt8]) {
        precondition(data.pointee.isValid, "key of a valid iterator")
        buffer.removeAll(keepingCapacity: true)
        data.pointee.key.withUnsafeBytes { buffer.append(contentsOf: $0) }
    }

    /// The current value (a fresh copy). - Precondition: `isValid`.
    package var value: [UInt8] {
        precondition(data.pointee.isValid, "value of a valid iterator")
        return data.pointee.value
    }

    /// Positions at the table's first entry (invalid if the table has none).
    package func seekToFirst() throws(StorageError) {
        try guarded { () throws(StorageError) in
            try index.pointee.seekToFirst()
            try loadBlock()
            if dataOffset >= 0 { try data.pointee.seekToFirst() }
            try skipEmptyForward()
        }
    }

    /// Positions at the table's last entry (invalid if the table has none).
    package func seekToLast() throws(StorageError) {
        try guarded { () throws(StorageError) in
            try index.pointee.seekToLast()
            try loadBlock()
            if dataOffset >= 0 { try data.pointee.seekToLast() }
            try skipEmptyBackward()
        }
    }

    /// Positions at the first entry whose internal key is >= `target`.
    package func seek(_ target: [UInt8]) throws(StorageError) {
        precondition(target.count >= InternalKey.trailerLength, "seek target is an internal key")
        try guarded { () throws(StorageError) in
            try seekRaw(target)
        }
    }

    /// Positions at the last entry whose internal key is <= `target`.
    package func seekForPrev(_ target: [UInt8]) throws(StorageError) {
        precondition(target.count >= InternalKey.trailerLength, "seek target is an internal key")
        try guarded { () throws(StorageError) in
            try seekRaw(target)
            if !data.pointee.isValid {
                try index.pointee.seekToLast()
                try loadBlock()
                if dataOffset >= 0 { try data.pointee.seekToLast() }
                try skipEmptyBackward()
            } else if compare(data.pointee.key, target) > 0 {
                try data.pointee.prev()
                try skipEmptyBackward()
            }
        }
    }

    /// Moves to the next entry. - Precondition: `isValid`.
    package func next() throws(StorageError) {
        precondition(data.pointee.isValid, "next on a valid iterator")
        try guarded { () throws(StorageError) in
            try data.pointee.next()
            try skipEmptyForward()
        }
    }

    /// Moves to the previous entry. - Precondition: `isValid`.
    package func prev() throws(StorageError) {
        precondition(data.pointee.isValid, "prev on a valid iterator")
        try guarded { () throws(StorageError) in
            try data.pointee.prev()
            try skipEmptyBackward()
        }
    }

    // MARK: - Helpers

    private func compare(_ a: [UInt8], _ b: [UInt8]) -> Int {
        reader.comparator.compareInternal(a, b)
    }

    private func seekRaw(_ target: [UInt8]) throws(StorageError) {
        var failure: StorageError?
        target.withUnsafeBytes { t in
            do throws(StorageError) { try index.pointee.seek(t) } catch { failure = error }
        }
        if let failure { throw failure }
        try loadBlock()
        if dataOffset >= 0 {
            target.withUnsafeBytes { t in
                do throws(StorageError) { try data.pointee.seek(t) } catch { failure = error }
            }
            if let failure { throw failure }
        }
        try skipEmptyForward()
    }

    /// Runs `body`; on error leaves the iterator invalid and rethrows.
    private func guarded(_ body: () throws(StorageError) -> Void) throws(StorageError) {
        do { try body() } catch {
            data.pointee.reset(block: Block.empty, blockOffset: 0)
            dataOffset = -1
            throw error
        }
    }

    /// Points `data` at the block the index cursor names (unpositioned), or at no block.
    private func loadBlock() throws(StorageError) {
        guard index.pointee.isValid else {
            data.pointee.reset(block: Block.empty, blockOffset: 0)
            dataOffset = -1
            return
        }
        let handle = try reader.dataHandle(index.pointee)
        if handle.offset != dataOffset {
            let block = try reader.dataBlock(handle, fillCache: fillCache)
            data.pointee.reset(block: block, blockOffset: handle.offset)
            dataOffset = handle.offset
        }
    }

    private func skipEmptyForward() throws(StorageError) {
        while !data.pointee.isValid {
            guard index.pointee.isValid else { return }
            try index.pointee.next()
            try loadBlock()
            guard dataOffset >= 0 else { return }
            try data.pointee.seekToFirst()
        }
    }

    private func skipEmptyBackward() throws(StorageError) {
        while !data.pointee.isValid {
            guard index.pointee.isValid else { return }
            try index.pointee.prev()
            try loadBlock()
            guard dataOffset >= 0 else { return }
            try data.pointee.seekToLast()
        }
    }
}
