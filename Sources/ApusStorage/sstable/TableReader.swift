import ApusCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads one sorted table: point lookups, iteration, its range tombstones and properties.
///
/// `open` reads and checks the footer, then loads the index block (kept for the reader's life,
/// so a lookup never re-reads it), the filter, the range tombstones and the properties. Data
/// blocks are read on demand through the block cache when one is given. Every block read checks
/// its CRC-32C; a mismatch is `.corruption` naming the file and the block's offset.
///
/// The reader owns its file and closes it in `deinit`, when the last holder (the table cache, an
/// iterator, a lookup in flight) lets go, so evicting a reader from the table cache never closes
/// a file under a running iterator.
///
/// Concurrency: `Sendable`, checked by the compiler: every stored property is an immutable `let`
/// of a `Sendable` type (the `Block` values are immutable after creation, the file is a
/// thread-safe `ReadableFile` doing positional reads, the block cache locks internally). Any
/// number of threads may call `get`, `mayContain` and `makeIterator` at once; each iterator has
/// one owner.
package final class TableReader: Sendable {
    /// The path the table was opened from, for error messages.
    package let path: String
    /// The table's file number (the block cache key space).
    package let fileNumber: UInt64
    /// What the table holds; `fileBytes` is the file's size.
    package let properties: TableProperties
    /// The table's range tombstones, in the order they were added.
    package let rangeTombstones: [RangeTombstone]

    let comparator: KeyComparator
    private let file: any ReadableFile
    private let blockCache: BlockCache?
    /// The pinned index block.
    let indexBlock: Block
    /// Filter block contents (empty: no filter).
    private let filter: LoadedFilter
    /// Offset of the footer; every block ends before it.
    private let footerOffset: Int
    /// File offset of the index block, for error messages.
    let indexOffset: Int
    /// Entries of the index block (one per data block), each a restart point.
    let indexEntryCount: Int

    private init(file: any ReadableFile, path: String, fileNumber: UInt64, comparator: KeyComparator,
                 blockCache: BlockCache?, indexBlock: Block, filter: [UInt8], properties: TableProperties,
                 rangeTombstones: [RangeTombstone], footerOffset: Int, indexOffset: Int,
                 indexEntryCount: Int) {
        self.file = file
        self.path = path
        self.fileNumber = fileNumber
        self.comparator = comparator
        self.blockCache = blockCache
        self.indexBlock = indexBlock
        self.filter = LoadedFilter(filter)
        self.properties = properties
        self.rangeTombstones = rangeTombstones
        self.footerOffset = footerOffset
        self.indexOffset = indexOffset
        self.indexEntryCount = indexEntryCount
    }

    deinit {
        file.close()
    }

    /// Opens the table in `file`, checking its footer, index, filter, range-deletion and
    /// properties blocks. The reader takes ownership of `file` and closes it when released; if
    /// `open` throws, the caller still owns and closes `file`.
    /// - Parameters:
    ///   - path: the file's path, named in every error.
    ///   - fileNumber: the table's number, the block cache key space.
    ///   - options: the comparator must match the one the table was written with.
    ///   - blockCache: cache for data blocks; nil reads every block from the file.
    /// - Throws: `.corruption` (bad magic, checksum, structure), `.unsupportedVersion` (newer
    ///   format), `.invalidArgument` (comparator mismatch), or the file's read error.
    package static func open(file: any ReadableFile, path: String, fileNumber: UInt64, options: StorageOptions,
                             blockCache: BlockCache?) throws(StorageError) -> TableReader {
        let size = file.size
        guard size >= TableFormat.footerLength else {
            throw .corruption("file of \(size) bytes is too short for a table footer", path: path, offset: 0)
        }
        let footerOffset = size - TableFormat.footerLength
        let footerBytes = try file.read(at: footerOffset, count: TableFormat.footerLength)
        let footer = try TableFooter.decode(footerBytes, path: path, fileSize: size)
        func load(_ handle: BlockHandle) throws(StorageError) -> [UInt8] {
            try readBlockContents(file: file, path: path, footerOffset: footerOffset, handle: handle)
        }
        let propertiesBytes = try load(footer.properties)
        var properties: TableProperties
        do { properties = try TableProperties.decode(propertiesBytes) } catch {
            throw .corruption("malformed properties block (\(error))", path: path, offset: footer.properties.offset)
        }
        guard properties.smallestKey.isEmpty || properties.smallestKey.count >= InternalKey.trailerLength,
              properties.largestKey.isEmpty || properties.largestKey.count >= InternalKey.trailerLength
        else { throw .corruption("malformed key bounds in properties block", path: path, offset: footer.properties.offset) }
        guard properties.comparatorName == options.comparator.name else {
            throw StorageError(.invalidArgument, "table was written with comparator \(properties.comparatorName), "
                               + "the engine uses \(options.comparator.name)", path: path)
        }
        properties.fileBytes = size
        properties.indexBytes = footer.index.size + TableFormat.blockTrailerLength
        let rangeBytes = try load(footer.rangeDeletions)
        let tombstones: [RangeTombstone]
        do { tombstones = try RangeDeletionBlock.decode(rangeBytes) } catch {
            throw .corruption("malformed range-deletion block (\(error))", path: path, offset: footer.rangeDeletions.offset)
        }
        let filter = try load(footer.filter)
        let index = try Block(bytes: try load(footer.index), path: path, offset: footer.index.offset)
        let indexEntryCount = try checkIndex(index, comparator: options.comparator, path: path,
                                             offset: footer.index.offset)
        return TableReader(file: file, path: path, fileNumber: fileNumber, comparator: options.comparator,
                           blockCache: blockCache, indexBlock: index, filter: filter, properties: properties,
                           rangeTombstones: tombstones, footerOffset: footerOffset, indexOffset: footer.index.offset,
                           indexEntryCount: indexEntryCount)
    }

    /// Checks once, at open, what lookups then rely on: every index entry is a restart point
    /// (so lookups binary-search the restart array alone), keys increase, and handles decode.
    /// - Returns: the number of index entries (0 for an empty table, whose index block still
    ///   has its one restart point).
    private static func checkIndex(_ index: Block, comparator: KeyComparator, path: String,
                                   offset: Int) throws(StorageError) -> Int {
        var cursor = BlockCursor(block: index, comparator: comparator, path: path, blockOffset: offset)
        var count = 0
        try cursor.seekToFirst()
        while cursor.isValid {
            guard count < index.restartCount, index.restart(count) == cursor.currentOffset,
                  BlockHandle.decodeVarints(cursor.valueRaw) != nil
            else { throw .corruption("malformed index block entry \(count)", path: path, offset: offset) }
            if count > 0, let previous = index.restartEntry(count - 1) {
                let order = cursor.key.withUnsafeBytes { comparator.compareInternal(previous.key, $0) }
                guard order < 0 else { throw .corruption("index block keys out of order", path: path, offset: offset) }
            }
            count += 1
            try cursor.next()
        }
        guard count == index.restartCount || (count == 0 && index.restartsOffset == 0) else {
            throw .corruption("index block has \(count) entries and \(index.restartCount) restarts", path: path,
                              offset: offset)
        }
        return count
    }

    // MARK: - Lookups

    /// Whether the table may hold a key with `userKey`'s prefix (false means certainly not).
    package func mayContain(userKey: [UInt8]) -> Bool {
        userKey.withUnsafeBytes { mayContain(userKey: $0) }
    }

    /// Whether the table may hold a key with `userKey`'s prefix (false means certainly not).
    package func mayContain(userKey: UnsafeRawBufferPointer) -> Bool {
        if filter.isEmpty { return true }
        return mayContain(keyHash: bloomHash(UnsafeRawBufferPointer(rebasing: userKey[0..<comparator.prefixLength(userKey)])))
    }

    /// `mayContain(userKey:)` given the key's filter hash (of its `prefixLength` bytes).
    package func mayContain(keyHash h: UInt64) -> Bool {
        if filter.isEmpty { return true }
        return filter.mayContain(h)
    }

    /// Whether the table may hold a key with the prefix whose hash is `hash`, as `prefix` (the
    /// engine's `BloomPrefix`) extracts prefixes; true when its filter holds no such prefixes.
    package func mayContain(prefixHash hash: UInt64, of prefix: BloomPrefix) -> Bool {
        if filter.isEmpty || properties.bloomPrefixName != prefix.name { return true }
        return filter.mayContain(hash)
    }

    /// The first entry whose internal key is >= `seekTarget` and whose user key equals the
    /// target's, or nil. Checks the bloom filter first, then searches the pinned index block and
    /// reads one data block (through the cache).
    /// `keyHash`, when the caller has it, is the target user key's filter hash (a read that
    /// probes several tables hashes the key once).
    /// - Precondition: `seekTarget` is an internal key (at least 8 bytes).
    /// - Throws: `.corruption` or the file's read error.
    package func get(_ seekTarget: [UInt8], keyHash: UInt64? = nil) throws(StorageError) -> (key: [UInt8], value: [UInt8])? {
        precondition(seekTarget.count >= InternalKey.trailerLength, "seek target is an internal key")
        let userCount = seekTarget.count - InternalKey.trailerLength
        let may = keyHash.map(mayContain(keyHash:))
            ?? seekTarget.withUnsafeBytes { mayContain(userKey: UnsafeRawBufferPointer(rebasing: $0[0..<userCount])) }
        if !may { return nil }
        var failure: StorageError?
        var result: (key: [UInt8], value: [UInt8])?
        seekTarget.withUnsafeBytes { target in
            do throws(StorageError) { result = try get(target, userCount: userCount) } catch { failure = error }
        }
        if let failure { throw failure }
        return result
    }

    private func get(_ target: UnsafeRawBufferPointer, userCount: Int) throws(StorageError)
        -> (key: [UInt8], value: [UInt8])? {
        var i = try indexBlock.firstRestart(notBelow: target, below: indexEntryCount, comparator: comparator,
                                            path: path, offset: indexOffset)
        // Normally the first block whose separator is >= target holds the answer; the loop only
        // continues when the target falls between a block's last key and its separator.
        while i < indexEntryCount {
            let handle = try indexHandle(i)
            var data = BlockCursor(block: try dataBlock(handle), comparator: comparator, path: path,
                                   blockOffset: handle.offset)
            try data.seek(target)
            if data.isValid {
                let same = data.key.withUnsafeBytes { k in
                    k.count == target.count && memcmpEqual(k, target, count: userCount)
                }
                return same ? (data.key, data.value) : nil
            }
            i += 1
        }
        return nil
    }

    /// The first entry at or after the internal key `target` that `probe` stops at (see
    /// `ProbeBounds`), or nil when the table holds none below the probe's upper bound. Searches
    /// the pinned index block, then reads data blocks (through the cache) from the one that
    /// would hold `target` until the probe stops. The caller tests the filter.
    /// - Throws: `.corruption` or the file's read error.
    package func firstVisible(atOrAfter target: UnsafeRawBufferPointer, _ probe: ProbeBounds) throws(StorageError) -> ProbeEntry? {
        var i = try indexBlock.firstRestart(notBelow: target, below: indexEntryCount, comparator: comparator,
                                            path: path, offset: indexOffset)
        var data = BlockCursor(block: Block.empty, comparator: comparator, path: path, blockOffset: 0)
        var isFirstBlock = true
        while i < indexEntryCount {
            let handle = try indexHandle(i)
            data.reset(block: try dataBlock(handle), blockOffset: handle.offset)
            // Only the first block holds entries below `target`.
            if isFirstBlock { try data.seek(target) } else { try data.seekToFirst() }
            isFirstBlock = false
            while data.isValid {
                switch data.key.withUnsafeBytes({ probe.visit($0) }) {
                case .pass: try data.next()
                case .end: return nil
                case .stop(let userKeyLength, let sequence, let kind):
                    var entry = ProbeEntry(userKey: Array(data.key[0..<userKeyLength]), sequence: sequence, isPut: kind == .put,
                                           value: kind == .put ? data.value : [])
                    // A few entries on, within this block (its end is the table's after the
                    // last block): does a later visible key follow below the bound?
                    let look = try probe.lookahead(entry.userKey, endIsSourceEnd: i + 1 == indexEntryCount) {
                        past throws(StorageError) in
                        try data.next()
                        return data.isValid ? data.key.withUnsafeBytes { past.visit($0) } : nil
                    }
                    entry.note(look) { n, isPut in (Array(data.key[0..<n]), isPut ? data.value : []) }
                    return entry
                case .malformed: throw .corruption("malformed internal key", path: path, offset: handle.offset)
                }
            }
            i += 1
        }
        return nil
    }

    /// The data block handle of index entry `i` (every index entry is a restart point).
    private func indexHandle(_ i: Int) throws(StorageError) -> BlockHandle {
        guard let entry = indexBlock.restartEntry(i), let handle = BlockHandle.decodeVarints(entry.value) else {
            throw .corruption("malformed index entry \(i)", path: path, offset: indexOffset)
        }
        return handle
    }

    /// An iterator over the table's point entries (two-level: index, then data blocks).
    package func makeIterator() -> any InternalIterator {
        TableIterator(reader: self)
    }

    /// An iterator that reads the blocks the cache lacks without inserting them: a
    /// compaction's input, read once and deleted when the compaction ends.
    package func makeIteratorBypassingCache() -> any InternalIterator {
        TableIterator(reader: self, fillCache: false)
    }

    /// The same iterator as `makeIterator()`, as its concrete type for hot loops.
    package func makeTableIterator() -> TableIterator {
        TableIterator(reader: self)
    }

    /// The approximate file offset where entries >= `key` (an internal key) begin: the offset
    /// of the data block that would hold it, or the end of the data blocks.
    package func approximateOffset(of key: [UInt8]) throws(StorageError) -> Int {
        precondition(key.count >= InternalKey.trailerLength, "approximateOffset takes an internal key")
        var failure: StorageError?
        var i = 0
        key.withUnsafeBytes { k in
            do throws(StorageError) {
                i = try indexBlock.firstRestart(notBelow: k, below: indexEntryCount, comparator: comparator,
                                                path: path, offset: indexOffset)
            } catch { failure = error }
        }
        if let failure { throw failure }
        if i < indexEntryCount { return try indexHandle(i).offset }
        return properties.dataBytes
    }

    // MARK: - Blocks

    /// Decodes the data block handle at the index cursor's position.
    func dataHandle(_ index: BlockCursor) throws(StorageError) -> BlockHandle {
        guard let handle = BlockHandle.decodeVarints(index.valueRaw) else {
            throw .corruption("malformed block handle in index block", path: path, offset: index.blockOffset)
        }
        return handle
    }

    /// The data block at `handle`, from the cache or read, checked and decoded (and inserted in
    /// the cache when `fillCache`).
    func dataBlock(_ handle: BlockHandle, fillCache: Bool = true) throws(StorageError) -> Block {
        if let cache = blockCache, let block = cache.lookup(fileNumber: fileNumber, offset: handle.offset) {
            return block
        }
        let contents = try TableReader.readBlockContents(file: file, path: path, footerOffset: footerOffset,
                                                         handle: handle)
        let block = try Block(bytes: contents, path: path, offset: handle.offset)
        if fillCache { blockCache?.insert(fileNumber: fileNumber, offset: handle.offset, block: block) }
        return block
    }

    /// Reads the block at `handle` with its trailer, checks the CRC and decompresses it.
    static func readBlockContents(file: any ReadableFile, path: String, footerOffset: Int,
                                  handle: BlockHandle) throws(StorageError) -> [UInt8] {
        let trailer = TableFormat.blockTrailerLength
        guard handle.offset >= 0, handle.size >= 0, handle.offset <= footerOffset, handle.size <= footerOffset,
              handle.offset + handle.size + trailer <= footerOffset
        else { throw .corruption("block handle out of range", path: path, offset: handle.offset) }
        var bytes = try file.read(at: handle.offset, count: handle.size + trailer)
        guard bytes.count == handle.size + trailer else {
            throw .corruption("short block read", path: path, offset: handle.offset)
        }
        let type = bytes[handle.size]
        let crc = bytes.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[0...handle.size])) }
        guard CRC32C.mask(crc) == decodeFixed32(bytes, at: handle.size + 1) else {
            throw .corruption("block checksum mismatch", path: path, offset: handle.offset)
        }
        guard let compression = BlockCompression(rawValue: type) else {
            throw .corruption("unknown block compression type \(type)", path: path, offset: handle.offset)
        }
        bytes.removeLast(trailer)
        if compression == .none { return bytes }
        let decoded = bytes.withUnsafeBytes { BlockCodec.decompress($0, compression) }
        guard let decoded else {
            throw .corruption("malformed compressed block", path: path, offset: handle.offset)
        }
        return decoded
    }
}

/// Whether the first `count` bytes of `a` and `b` are equal. - Precondition: both hold `count`.
@inline(__always)
func memcmpEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, count: Int) -> Bool {
    precondition(a.count >= count && b.count >= count, "memcmpEqual within bounds")
    if count == 0 { return true }
    guard let pa = a.baseAddress, let pb = b.baseAddress else { return false }
    return memcmp(pa, pb, count) == 0
}
