// Block cache and table cache bounds and accounting.
//
// Method: drive each cache with many inserts or opens (seeded sizes; the seed is in failure
// messages) and check its invariants after every step: the block cache never holds more bytes
// than its budget and counts every lookup as a hit or a miss; the table cache never keeps more
// than `openTablesMax` readers and closes the files of evicted readers once released. Also a
// LRU-order check against a small model and a concurrent smoke test. A failure means a cache
// can grow without bound, miscount, or leak open files.

import ApusCore
@testable import ApusStorage
import Testing

@Suite struct CacheTests {
    private func block(bytes: Int) throws -> Block {
        // A valid block: `bytes - 8` filler entry bytes are never decoded here; only the restart
        // array (offset 0, count 1) at the end must be well formed.
        var contents = [UInt8](repeating: 0, count: max(0, bytes - 8))
        contents.appendFixed32(0)
        contents.appendFixed32(1)
        return try Block(bytes: contents, path: "test", offset: 0)
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func blockCacheBudgetRespected(seed: UInt64) throws {
        var rng = SSTTestRandom(seed: seed)
        let cache = BlockCache(capacityBytes: 1 << 20)
        var lookups = 0
        for i in 0..<5000 {
            let file = UInt64.random(in: 1...20, using: &rng)
            let offset = Int.random(in: 0..<200, using: &rng) * 4096
            if cache.lookup(fileNumber: file, offset: offset) == nil {
                cache.insert(fileNumber: file, offset: offset, block: try block(bytes: Int.random(in: 8...40_000, using: &rng)))
            }
            lookups += 1
            #expect(cache.usedBytes <= cache.capacityBytes, "seed \(seed) step \(i)")
            if cache.usedBytes > cache.capacityBytes { return }
        }
        #expect(cache.hits + cache.misses == lookups, "seed \(seed)")
        #expect(cache.hits > 0 && cache.misses > 0, "seed \(seed)")
        #expect(cache.usedBytes > cache.capacityBytes / 2, "seed \(seed): the cache is used")
        for file in UInt64(1)...20 { cache.evictFile(file) }
        #expect(cache.usedBytes == 0 && cache.entryCount == 0, "seed \(seed)")
    }

    @Test func blockCacheHitsMissesAndEviction() throws {
        let cache = BlockCache(capacityBytes: 100_000, shardCount: 1)
        #expect(cache.lookup(fileNumber: 1, offset: 0) == nil)
        let b = try block(bytes: 30_000)
        cache.insert(fileNumber: 1, offset: 0, block: b)
        #expect(cache.lookup(fileNumber: 1, offset: 0) === b)
        #expect(cache.hits == 1 && cache.misses == 1 && cache.usedBytes == 30_000)
        // Replacing a key recharges it rather than double counting.
        cache.insert(fileNumber: 1, offset: 0, block: try block(bytes: 20_000))
        #expect(cache.usedBytes == 20_000 && cache.entryCount == 1)
        cache.insert(fileNumber: 2, offset: 0, block: try block(bytes: 30_000))
        cache.insert(fileNumber: 3, offset: 0, block: try block(bytes: 30_000))
        _ = cache.lookup(fileNumber: 1, offset: 0)  // file 1 is now most recently used
        cache.insert(fileNumber: 4, offset: 0, block: try block(bytes: 30_000))
        // File 2 was least recently used and is gone; the others stay.
        #expect(cache.lookup(fileNumber: 2, offset: 0) == nil)
        #expect(cache.lookup(fileNumber: 1, offset: 0) != nil)
        #expect(cache.lookup(fileNumber: 3, offset: 0) != nil)
        #expect(cache.lookup(fileNumber: 4, offset: 0) != nil)
        #expect(cache.usedBytes == 80_000)
        // A block larger than the budget is not cached.
        cache.insert(fileNumber: 5, offset: 0, block: try block(bytes: 200_000))
        #expect(cache.lookup(fileNumber: 5, offset: 0) == nil && cache.usedBytes == 80_000)
        cache.evictFile(3)
        #expect(cache.lookup(fileNumber: 3, offset: 0) == nil && cache.usedBytes == 50_000)
        let zero = BlockCache(capacityBytes: 0)
        zero.insert(fileNumber: 1, offset: 0, block: b)
        #expect(zero.usedBytes == 0 && zero.lookup(fileNumber: 1, offset: 0) == nil)
    }

    @Test func lruListMatchesModel() {
        let seed: UInt64 = 7
        var rng = SSTTestRandom(seed: seed)
        var lru = LRUList<Int, Int>()
        var model = [(key: Int, value: Int)]()  // most recent first
        for step in 0..<3000 {
            let key = Int.random(in: 0..<30, using: &rng)
            switch Int.random(in: 0..<4, using: &rng) {
            case 0:
                let got = lru.get(key)
                if let i = model.firstIndex(where: { $0.key == key }) {
                    let e = model.remove(at: i); model.insert(e, at: 0)
                    #expect(got == e.value, "seed \(seed) step \(step)")
                } else {
                    #expect(got == nil, "seed \(seed) step \(step)")
                }
            case 1:
                lru.insert(key, step, charge: 1)
                model.removeAll { $0.key == key }
                model.insert((key, step), at: 0)
            case 2:
                let removed = lru.remove(key)
                let i = model.firstIndex { $0.key == key }
                #expect(removed?.value == i.map { model[$0].value }, "seed \(seed) step \(step)")
                if let i { model.remove(at: i) }
            default:
                let oldest = lru.removeLeastRecent()
                #expect(oldest?.key == model.last?.key, "seed \(seed) step \(step)")
                if !model.isEmpty { model.removeLast() }
            }
            #expect(lru.count == model.count && lru.totalCharge == model.count, "seed \(seed) step \(step)")
        }
    }

    @Test func readerUsesBlockCache() throws {
        var options = StorageOptions()
        options.blockBytes = 512
        let entries = (0..<400).map { i in
            SSTTestEntry(key: InternalKey.make(Array("key\(1000 + i)".utf8), 1, .put), value: Array(repeating: 2, count: 30))
        }
        let fs = SSTTestFileSystem()
        try sstTestBuild(fs, "/d/000001.sst", options, entries)
        let cache = BlockCache(capacityBytes: 1 << 20)
        let reader = try sstTestOpen(fs, "/d/000001.sst", options, cache: cache)
        #expect(try reader.get(entries[100].key)?.value == entries[100].value)
        #expect(cache.misses == 1 && cache.hits == 0)
        #expect(try reader.get(entries[101].key)?.value == entries[101].value)
        #expect(cache.hits == 1)
        let it = reader.makeIterator()
        try it.seekToFirst()
        while it.isValid { try it.next() }
        #expect(cache.entryCount == reader.properties.dataBlockCount)
        #expect(cache.usedBytes <= cache.capacityBytes)
    }

    /// A compaction's input iterator reads every entry but leaves the cache as it was: blocks it
    /// lacks are not inserted, blocks it holds are used.
    @Test func bypassingIteratorLeavesTheCache() throws {
        var options = StorageOptions()
        options.blockBytes = 512
        let entries = (0..<400).map { i in
            SSTTestEntry(key: InternalKey.make(Array("key\(1000 + i)".utf8), 1, .put), value: Array(repeating: UInt8(i % 251), count: 30))
        }
        let fs = SSTTestFileSystem()
        try sstTestBuild(fs, "/d/000001.sst", options, entries)
        let cache = BlockCache(capacityBytes: 1 << 20)
        let reader = try sstTestOpen(fs, "/d/000001.sst", options, cache: cache)
        #expect(try reader.get(entries[100].key)?.value == entries[100].value)
        #expect(cache.entryCount == 1)
        let it = reader.makeIteratorBypassingCache()
        try it.seekToFirst()
        var seen: [[UInt8]] = []
        while it.isValid {
            seen.append(it.value)
            try it.next()
        }
        #expect(seen == entries.map(\.value))
        #expect(cache.entryCount == 1)
        #expect(cache.hits == 1, "the cached block is used")
        #expect(reader.properties.dataBlockCount > 2)
    }

    @Test func tableCacheBoundsOpenReaders() throws {
        var options = StorageOptions()
        options.openTablesMax = 16
        let fs = SSTTestFileSystem()
        for n in UInt64(1)...40 {
            let entries = (0..<20).map { i in
                SSTTestEntry(key: InternalKey.make(Array("t\(n)-\(100 + i)".utf8), n, .put), value: [UInt8(n)])
            }
            try sstTestBuild(fs, "/d/" + FileName.table(n).name, options, entries)
        }
        let blockCache = BlockCache(capacityBytes: 1 << 20)
        let tables = TableCache(fileSystem: fs, directory: "/d", options: options, blockCache: blockCache)
        for round in 0..<3 {
            for n in UInt64(1)...40 {
                let reader = try tables.reader(fileNumber: n)
                #expect(reader.fileNumber == n)
                let got = try reader.get(InternalKey.seekTarget(Array("t\(n)-105".utf8), maxSequenceNumber))
                #expect(got?.value == [UInt8(n)], "round \(round) table \(n)")
                #expect(tables.openCount <= 16)
            }
        }
        // Readers released by the loop above closed their files: only cached ones stay open.
        #expect(tables.openCount == 16)
        #expect(fs.openReadableCount.load(ordering: .relaxed) == 16)
        #expect(tables.misses == 120 && tables.hits == 0)
        // Recently used tables hit.
        _ = try tables.reader(fileNumber: 40)
        #expect(tables.hits == 1)
        tables.evict(fileNumber: 40)
        #expect(tables.openCount == 15 && fs.openReadableCount.load(ordering: .relaxed) == 15)
        // A missing table is a typed error, not a cached failure.
        #expect(throws: StorageError.self) { _ = try tables.reader(fileNumber: 99) }
        #expect(tables.openCount == 15)
    }

    /// The shards' shares of the bound sum to it when it does not divide evenly: 37 readers stay
    /// open over 100 tables, and no more, whichever shards the tables fall in.
    @Test func tableCacheShardsShareTheBound() throws {
        var options = StorageOptions()
        options.openTablesMax = 37
        let fs = SSTTestFileSystem()
        for n in UInt64(1)...100 {
            let entries = [SSTTestEntry(key: InternalKey.make(Array("t\(n)".utf8), n, .put), value: [UInt8(n)])]
            try sstTestBuild(fs, "/d/" + FileName.table(n).name, options, entries)
        }
        let tables = TableCache(fileSystem: fs, directory: "/d", options: options, blockCache: nil)
        for n in UInt64(1)...100 {
            #expect(try tables.reader(fileNumber: n).fileNumber == n)
            #expect(tables.openCount <= 37)
        }
        #expect(tables.openCount == 37)
        #expect(fs.openReadableCount.load(ordering: .relaxed) == 37)
    }

    @Test func concurrentReadersAgree() async throws {
        var options = StorageOptions()
        options.blockBytes = 512
        let entries = (0..<2000).map { i in
            SSTTestEntry(key: InternalKey.make(Array("key\(10000 + i)".utf8), 1, .put), value: Array("v\(i)".utf8))
        }
        let fs = SSTTestFileSystem()
        try sstTestBuild(fs, "/d/000001.sst", options, entries)
        let tables = TableCache(fileSystem: fs, directory: "/d", options: options,
                                blockCache: BlockCache(capacityBytes: 16 << 10))
        let failures = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var bad = 0
                    for i in stride(from: worker, to: 2000, by: 4) {
                        let reader = try? tables.reader(fileNumber: 1)
                        let got = try? reader?.get(entries[i].key)
                        if got?.value != entries[i].value { bad += 1 }
                    }
                    return bad
                }
            }
            return await group.reduce(0, +)
        }
        #expect(failures == 0)
    }

    @Test func blockCacheConcurrentAccounting() async throws {
        let cache = BlockCache(capacityBytes: 512 << 10)
        let blocks = try (0..<64).map { i in try block(bytes: 1000 + i * 300) }
        let overBudget = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var rng = SSTTestRandom(seed: 100 + UInt64(worker))
                    var over = 0
                    for _ in 0..<5000 {
                        let file = UInt64.random(in: 1...8, using: &rng)
                        let offset = Int.random(in: 0..<64, using: &rng)
                        if cache.lookup(fileNumber: file, offset: offset) == nil {
                            cache.insert(fileNumber: file, offset: offset, block: blocks[offset])
                        }
                        if Int.random(in: 0..<500, using: &rng) == 0 { cache.evictFile(file) }
                        if cache.usedBytes > cache.capacityBytes { over += 1 }
                    }
                    return over
                }
            }
            return await group.reduce(0, +)
        }
        #expect(overBudget == 0)
        #expect(cache.hits + cache.misses == 20_000)
        #expect(cache.usedBytes == cache.recountUsedBytes())
        #expect(cache.usedBytes <= cache.capacityBytes)
    }
}
