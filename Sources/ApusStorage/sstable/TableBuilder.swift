import ApusCore

/// Writes one sorted table (see `TableFormat`) from entries given in internal-key order.
///
/// Data blocks are cut when they reach `options.blockBytes`; each block's index entry is
/// written when the next key arrives, so that its separator can be shortened to lie between the
/// block's last key and the next block's first key (LevelDB's approach). Filter hashes are kept
/// in memory (8 bytes per distinct prefix) until `finish()`.
///
/// Usage: `add` entries in strictly increasing order, `addRangeTombstone` in any order, then
/// `finish()`; the caller syncs and closes the file. After any thrown error the builder is
/// unusable (each later call rethrows it) and the caller removes the partial file.
///
/// Concurrency: one owner; not `Sendable`.
package final class TableBuilder {
    private let file: any WritableFile
    private let comparator: KeyComparator
    private let blockBytes: Int
    private let bloomBitsPerKey: Int
    private let compression: BlockCompression

    private var dataBlock: BlockBuilder
    private var indexBlock = BlockBuilder(restartInterval: 1)
    /// Handle of the last flushed data block whose index entry waits for the next key.
    private var pendingHandle: BlockHandle?
    private var lastKey: [UInt8] = []
    private var filterHashes: [UInt64] = []
    private let bloomPrefix: BloomPrefix?
    /// The last key's filter hashes (whole key, prefix), so that runs of equal ones add one.
    private var lastKeyHash: UInt64?
    private var lastPrefixHash: UInt64?
    private var tombstones: [RangeTombstone] = []
    private var properties = TableProperties()
    /// Bytes written to the file so far.
    private var offset: Int
    private var compressedScratch: [UInt8] = []
    private var writeScratch: [UInt8] = []
    private var failure: StorageError?
    /// Where written data blocks go (see `warm(_:fileNumber:)`).
    private var warmCache: (cache: BlockCache, fileNumber: UInt64)?
    private var isFinished = false

    /// Point entries added so far.
    package var entryCount: Int { properties.entryCount }
    /// Point deletions among them (kept in the manifest, not in the table: see `TableFile`).
    package private(set) var pointDeletionCount = 0

    /// The file size if the table were finished now, not counting filter, index and footer.
    package var estimatedFileBytes: Int { offset + (dataBlock.isEmpty ? 0 : dataBlock.estimatedBytes) }

    /// Creates a builder writing to `file` (normally empty) with the comparator, block size,
    /// restart interval, bloom bits and compression of `options`.
    package init(file: any WritableFile, options: StorageOptions) {
        precondition(options.blockBytes >= 1, "blockBytes is positive")
        precondition(options.bloomBitsPerKey >= 0, "bloomBitsPerKey is not negative")
        self.file = file
        comparator = options.comparator
        blockBytes = options.blockBytes
        bloomBitsPerKey = options.bloomBitsPerKey
        compression = options.compression
        bloomPrefix = options.bloomBitsPerKey > 0 ? options.bloomPrefix : nil
        properties.bloomPrefixName = bloomPrefix?.name ?? ""
        dataBlock = BlockBuilder(restartInterval: options.blockRestartInterval)
        offset = file.size
        properties.comparatorName = options.comparator.name
        properties.compression = options.compression
        lastKey.reserveCapacity(64)
    }

    /// Puts each data block, as it is written, into `cache` as the block of table `fileNumber`
    /// at its offset (what a read of the finished table would load).
    package func warm(_ cache: BlockCache, fileNumber: UInt64) {
        warmCache = (cache, fileNumber)
    }

    /// Adds a point entry.
    /// - Precondition: `internalKey` is a well-formed internal key, strictly greater (by
    ///   `comparator.compareInternal`) than every key added before; `finish()` was not called.
    /// - Throws: the file's error if writing a full block fails.
    package func add(_ internalKey: [UInt8], _ value: [UInt8]) throws(StorageError) {
        var failure: StorageError?
        internalKey.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                do throws(StorageError) { try add(k, v) } catch { failure = error }
            }
        }
        if let failure { throw failure }
    }

    /// Adds a point entry from borrowed bytes (for hot loops that hold raw views).
    /// - Precondition: as for `add(_:_:)` with arrays.
    package func add(_ internalKey: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(StorageError) {
        if let failure { throw failure }
        precondition(!isFinished, "add before finish")
        guard let parsed = InternalKey.parse(internalKey) else {
            preconditionFailure("TableBuilder.add needs a well-formed internal key")
        }
        if properties.entryCount > 0 {
            let order = lastKey.withUnsafeBytes { comparator.compareInternal($0, internalKey) }
            precondition(order < 0, "TableBuilder keys strictly increase")
        }
        if let handle = pendingHandle {
            let separator = lastKey.withUnsafeBytes { last in shortSeparator(last, internalKey) }
            addIndexEntry(separator, handle)
            pendingHandle = nil
        }
        if bloomBitsPerKey > 0 {
            let userKey = UnsafeRawBufferPointer(rebasing: internalKey[0..<parsed.userKeyLength])
            let prefix = UnsafeRawBufferPointer(rebasing: userKey[0..<comparator.prefixLength(userKey)])
            let h = bloomHash(prefix)
            // Keys sharing a prefix are adjacent; one hash per run keeps the filter exact-sized.
            if lastKeyHash != h { filterHashes.append(h); lastKeyHash = h }
            if let ph = bloomPrefix?.hash(of: userKey), lastPrefixHash != ph {
                filterHashes.append(ph)
                lastPrefixHash = ph
            }
        }
        dataBlock.add(internalKey, value)
        lastKey.removeAll(keepingCapacity: true)
        lastKey.append(contentsOf: internalKey)

        if properties.entryCount == 0 {
            properties.smallestKey = lastKey
            properties.smallestSequence = parsed.sequence
            properties.largestSequence = parsed.sequence
        } else {
            properties.smallestSequence = min(properties.smallestSequence, parsed.sequence)
            properties.largestSequence = max(properties.largestSequence, parsed.sequence)
        }
        properties.entryCount += 1
        if parsed.kind == .delete { pointDeletionCount += 1 }
        properties.rawKeyBytes += internalKey.count
        properties.rawValueBytes += value.count

        if dataBlock.estimatedBytes >= blockBytes {
            try flushDataBlock()
        }
    }

    /// Adds a range tombstone; tombstones may come in any order and are stored as given.
    /// - Precondition: `start < end` by the comparator; `sequence <= maxSequenceNumber`.
    package func addRangeTombstone(_ t: RangeTombstone) throws(StorageError) {
        if let failure { throw failure }
        precondition(!isFinished, "addRangeTombstone before finish")
        precondition(comparator.compare(t.start, t.end) < 0, "range tombstone start < end")
        precondition(t.sequence <= maxSequenceNumber, "range tombstone sequence fits 56 bits")
        tombstones.append(t)
    }

    /// Writes the remaining data, filter, range-deletion, properties and index blocks and the
    /// footer. Does not sync or close the file.
    /// - Returns: the table's properties, including `fileBytes`.
    package func finish() throws(StorageError) -> TableProperties {
        if let failure { throw failure }
        precondition(!isFinished, "finish once")
        isFinished = true
        do throws(StorageError) {
            if !dataBlock.isEmpty { try flushDataBlock() }
            if let handle = pendingHandle {
                addIndexEntry(lastKey.withUnsafeBytes { shortSuccessor($0) }, handle)
                pendingHandle = nil
            }
            let filter = BloomFilter.buildBlocked(hashes: filterHashes, bitsPerKey: bloomBitsPerKey)
            filterHashes = []
            let filterHandle = try writeBlock(filter, compressible: false)
            properties.filterBytes = filterHandle.size + TableFormat.blockTrailerLength
            let rangeHandle = try writeBlock(RangeDeletionBlock.encode(tombstones), compressible: false)
            if properties.entryCount > 0 { properties.largestKey = lastKey }
            includeTombstoneBounds()
            let propertiesHandle = try writeBlock(properties.encode(), compressible: false)
            let indexHandle = try writeBlock(indexBlock.finish(), compressible: false)
            properties.indexBytes = indexHandle.size + TableFormat.blockTrailerLength
            let footer = TableFooter(index: indexHandle, filter: filterHandle, rangeDeletions: rangeHandle,
                                     properties: propertiesHandle)
            try file.append(footer.encode())
            offset += TableFormat.footerLength
            properties.fileBytes = offset
            return properties
        } catch {
            failure = error
            throw error
        }
    }

    // MARK: - Helpers

    private func addIndexEntry(_ separator: [UInt8], _ handle: BlockHandle) {
        var encoded = [UInt8]()
        handle.appendVarints(to: &encoded)
        separator.withUnsafeBytes { s in encoded.withUnsafeBytes { v in indexBlock.add(s, v) } }
    }

    private func flushDataBlock() throws(StorageError) {
        precondition(!dataBlock.isEmpty, "flush a non-empty block")
        let handle: BlockHandle
        let contents = dataBlock.finish()
        do throws(StorageError) {
            handle = try writeBlock(contents, compressible: true)
        } catch {
            failure = error
            throw error
        }
        if let (cache, number) = warmCache, let block = try? Block(bytes: contents, path: "", offset: handle.offset) {
            cache.insert(fileNumber: number, offset: handle.offset, block: block)
        }
        dataBlock.reset()
        pendingHandle = handle
        properties.dataBlockCount += 1
        properties.dataBytes += handle.size + TableFormat.blockTrailerLength
    }

    /// Writes `contents` (compressed if allowed and worth it) and its trailer in one append.
    private func writeBlock(_ contents: [UInt8], compressible: Bool) throws(StorageError) -> BlockHandle {
        var type = BlockCompression.none
        if compressible && compression != .none
            && BlockCodec.compress(contents, compression, into: &compressedScratch) {
            type = compression
        }
        writeScratch.removeAll(keepingCapacity: true)
        if type == .none {
            writeScratch.append(contentsOf: contents)
        } else {
            writeScratch.append(contentsOf: compressedScratch)
        }
        let storedCount = writeScratch.count
        writeScratch.append(type.rawValue)
        let crc = writeScratch.withUnsafeBytes { CRC32C.update(0, $0) }
        writeScratch.appendFixed32(CRC32C.mask(crc))
        try file.append(writeScratch)
        let handle = BlockHandle(offset: offset, size: storedCount)
        offset += writeScratch.count
        return handle
    }

    /// Widens the key bounds by the tombstones (see `TableProperties` for the sentinel keys).
    private func includeTombstoneBounds() {
        properties.rangeTombstoneCount = tombstones.count
        let hasPoints = properties.entryCount > 0
        for (i, t) in tombstones.enumerated() {
            let lower = InternalKey.make(t.start, t.sequence, .rangeDelete)
            let upper = InternalKey.make(t.end, maxSequenceNumber, .rangeDelete)
            if properties.smallestKey.isEmpty || comparator.compareInternal(lower, properties.smallestKey) < 0 {
                properties.smallestKey = lower
            }
            if properties.largestKey.isEmpty || comparator.compareInternal(upper, properties.largestKey) > 0 {
                properties.largestKey = upper
            }
            if !hasPoints && i == 0 {
                properties.smallestSequence = t.sequence
                properties.largestSequence = t.sequence
            } else {
                properties.smallestSequence = min(properties.smallestSequence, t.sequence)
                properties.largestSequence = max(properties.largestSequence, t.sequence)
            }
        }
    }

    /// A short internal key `s` with `a <= s < b`, for the index entry of the block ending at `a`.
    private func shortSeparator(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> [UInt8] {
        let pa = prefixPart(a), pb = prefixPart(b)
        var i = 0
        let n = min(pa.count, pb.count)
        while i < n && pa[i] == pb[i] { i += 1 }
        if i < n && pa[i] < 0xFF && pa[i] + 1 < pb[i] {
            var user = [UInt8](UnsafeRawBufferPointer(rebasing: pa[0...i]))
            user[i] += 1
            if let s = candidate(user, above: a, below: b) { return s }
        }
        return [UInt8](a)
    }

    /// A short internal key `s >= a`, for the index entry of the last block.
    private func shortSuccessor(_ a: UnsafeRawBufferPointer) -> [UInt8] {
        let pa = prefixPart(a)
        for i in 0..<pa.count where pa[i] != 0xFF {
            var user = [UInt8](UnsafeRawBufferPointer(rebasing: pa[0...i]))
            user[i] += 1
            if let s = candidate(user, above: a, below: nil) { return s }
            break
        }
        return [UInt8](a)
    }

    /// The part of an internal key's user key that separators shorten: the whole user key for
    /// bytewise order, the key without its timestamp for MVCC order.
    private func prefixPart(_ internalKey: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let user = UnsafeRawBufferPointer(rebasing: internalKey[0..<(internalKey.count - InternalKey.trailerLength)])
        return UnsafeRawBufferPointer(rebasing: user[0..<comparator.prefixLength(user)])
    }

    /// Turns a shortened prefix into an internal key and keeps it only if it is shorter than `a`
    /// and strictly between the bounds, so a comparator quirk can never misplace a block.
    private func candidate(_ prefix: [UInt8], above a: UnsafeRawBufferPointer, below b: UnsafeRawBufferPointer?)
        -> [UInt8]? {
        let user: [UInt8]
        switch comparator {
        case .bytewise: user = prefix
        case .mvcc: user = prefix + [0]  // the unversioned MVCC key of `prefix`
        }
        let s = InternalKey.make(user, maxSequenceNumber, .rangeDelete)
        guard s.count < a.count else { return nil }
        let ok = s.withUnsafeBytes { sk in
            comparator.compareInternal(a, sk) < 0 && (b.map { comparator.compareInternal(sk, $0) < 0 } ?? true)
        }
        return ok ? s : nil
    }
}
