// Tests of MemoryFileSystem's simulation: crash semantics (synced bytes survive, unsynced bytes
// vanish, a torn crash keeps a seeded prefix of the unsynced tail and never touches synced
// bytes, namespace changes need syncDirectory of the parent, handles die with the crash), fsync
// failure losing the unsynced tail, fault rules by kind, path pattern and call number (one-shot,
// persistent, seeded probability), partial writes, the capacity limit with space freed by
// removal, byte flips, call counters, concurrent readers, and that a bad fault trigger traps.
// Randomized tests name their seed in failure messages.
import Testing

@testable import ApusStorage

@Suite struct MemoryFileSystemTests {
    private func makeFS() throws -> MemoryFileSystem {
        let fs = MemoryFileSystem()
        try fs.createDirectory("/db")
        return fs
    }

    private func write(_ fs: MemoryFileSystem, _ path: String, _ bytes: [UInt8], sync: Bool) throws -> any WritableFile
    {
        let f = try fs.createFile(path)
        try f.append(bytes)
        if sync { try f.sync() }
        return f
    }

    @Test func syncedSurvivesUnsyncedIsDropped() throws {
        let fs = try makeFS()
        let f = try write(fs, "/db/a", [1, 2, 3], sync: true)
        try f.append([4, 5])
        try fs.syncDirectory("/db")
        #expect(try fs.contents("/db/a") == [1, 2, 3, 4, 5])
        fs.crash(mode: .dropUnsynced)
        #expect(try fs.contents("/db/a") == [1, 2, 3])
        // The handle from before the crash is dead.
        #expect(throws: StorageError.self) { try f.append([6]) }
        #expect(throws: StorageError.self) { try f.sync() }
    }

    @Test func namespaceChangesNeedDirectorySync() throws {
        let fs = try makeFS()
        _ = try write(fs, "/db/kept", [1], sync: true)
        try fs.syncDirectory("/db")
        _ = try write(fs, "/db/new", [2], sync: true)  // data synced, name not
        try fs.rename("/db/kept", to: "/db/renamed")
        #expect(try fs.listDirectory("/db") == ["new", "renamed"])
        fs.crash(mode: .dropUnsynced)
        #expect(try fs.listDirectory("/db") == ["kept"])

        try fs.rename("/db/kept", to: "/db/renamed")
        try fs.link("/db/renamed", to: "/db/linked")
        try fs.syncDirectory("/db")
        try fs.removeFile("/db/linked")
        fs.crash(mode: .dropUnsynced)
        #expect(try fs.listDirectory("/db") == ["linked", "renamed"])
        #expect(try fs.contents("/db/linked") == [1])
    }

    @Test func tornCrashKeepsPrefixOfUnsyncedTail() throws {
        var sawPartial = false
        var sawGarbled = false
        for seed in UInt64(0)..<200 {
            let fs = try makeFS()
            let synced = (0..<32).map { UInt8($0) }
            let tail = (0..<64).map { UInt8(100 + $0) }
            let f = try write(fs, "/db/w", synced, sync: true)
            try fs.syncDirectory("/db")
            try f.append(tail)
            fs.simulateCrash(seed: seed)
            let after = try fs.contents("/db/w")
            #expect(after.count >= synced.count && after.count <= synced.count + tail.count, "seed \(seed)")
            #expect(Array(after.prefix(synced.count)) == synced, "seed \(seed): synced bytes changed")
            let kept = Array(after.dropFirst(synced.count))
            if kept.count > 0 && kept.count < tail.count { sawPartial = true }
            // All but at most the last 8 kept bytes are exactly the written ones.
            #expect(Array(kept.dropLast(8)) == Array(tail.prefix(max(0, kept.count - 8))), "seed \(seed)")
            if kept != Array(tail.prefix(kept.count)) { sawGarbled = true }
            // The same seed tears the same way.
            let again = try makeFS()
            let g = try write(again, "/db/w", synced, sync: true)
            try again.syncDirectory("/db")
            try g.append(tail)
            again.simulateCrash(seed: seed)
            #expect(try again.contents("/db/w") == after, "seed \(seed) not reproducible")
        }
        #expect(sawPartial)
        #expect(sawGarbled)
    }

    @Test func failedSyncLosesUnsyncedTail() throws {
        let fs = try makeFS()
        let f = try write(fs, "/db/x", [1, 1], sync: true)
        try fs.syncDirectory("/db")
        try f.append([2, 2])
        fs.injectFault(.init(.sync, path: .suffix("/x"), when: .nth(1)))
        #expect(throws: StorageError.self) { try f.sync() }
        #expect(try fs.contents("/db/x") == [1, 1, 2, 2])  // still readable from the "cache"
        try f.append([3])
        try f.sync()  // succeeds, but the lost pages are zeros
        #expect(fs.durableContents("/db/x") == [1, 1, 0, 0, 3])
        fs.crash(mode: .torn(seed: 1))
        #expect(try fs.contents("/db/x") == [1, 1, 0, 0, 3])
    }

    @Test func faultsByKindPathAndCallNumber() throws {
        let fs = try makeFS()
        fs.injectFault(.init(.append, path: .suffix(".log"), when: .nth(2)))
        let log = try fs.createFile("/db/000001.log")
        let sst = try fs.createFile("/db/000002.sst")
        try log.append([1])
        try sst.append([1])
        try sst.append([2])  // other path: not counted
        if let e = expectStorageError("second append to .log did not fail", { try log.append([2]) }) {
            #expect(e.code == .ioError)
            #expect(e.path == "/db/000001.log")
        }
        try log.append([3])  // one-shot: the third succeeds
        #expect(try fs.contents("/db/000001.log") == [1, 3])
        #expect(fs.callCount(.append) == 5)
        #expect(fs.faultsFired == 1)

        fs.clearFaults()
        fs.injectFault(.init(.rename, path: .contains("CURRENT"), when: .fromNth(2), effect: .diskFull))
        _ = try fs.createFile("/db/t1")
        _ = try fs.createFile("/db/t2")
        _ = try fs.createFile("/db/t3")
        try fs.rename("/db/t1", to: "/db/CURRENT")
        for source in ["/db/t2", "/db/t3"] {
            if let e = expectStorageError(
                "persistent rename fault did not fire", { try fs.rename(source, to: "/db/CURRENT") })
            {
                #expect(e.code == .diskFull)
            }
        }
        fs.clearFaults()
        try fs.rename("/db/t2", to: "/db/CURRENT")
    }

    @Test func everyOperationKindCanFail() throws {
        let kinds: [MemoryFileSystem.Operation] = [
            .create, .open, .read, .append, .sync, .syncDirectory,
            .rename, .remove, .link, .truncate,
        ]
        for kind in kinds {
            let fs = try makeFS()
            let f = try write(fs, "/db/f", [1, 2, 3], sync: true)
            fs.injectFault(.init(kind, when: .nth(1)))
            let r = kind == .read ? try fs.openFile("/db/f") : nil
            let op: () throws -> Void =
                switch kind {
                case .create: { _ = try fs.createFile("/db/g") }
                case .open: { _ = try fs.openFile("/db/f") }
                case .read: { _ = try r?.read(at: 0, count: 1) }
                case .append: { try f.append([4]) }
                case .sync: { try f.sync() }
                case .syncDirectory: { try fs.syncDirectory("/db") }
                case .rename: { try fs.rename("/db/f", to: "/db/g") }
                case .remove: { try fs.removeFile("/db/f") }
                case .link: { try fs.link("/db/f", to: "/db/g") }
                case .truncate: { try fs.truncate("/db/f", to: 1) }
                case .any: {}
                }
            #expect(throws: StorageError.self, "\(kind)") { try op() }
            #expect(fs.faultsFired == 1, "\(kind)")
            try op()  // one-shot: the retry succeeds
        }
    }

    @Test func probabilisticFaultsAreSeeded() throws {
        func pattern(seed: UInt64) throws -> [Bool] {
            let fs = try makeFS()
            fs.injectFault(.init(.any, when: .probability(0.3, seed: seed)))
            var out: [Bool] = []
            for i in 0..<100 {
                do {
                    _ = try fs.createFile("/db/f\(i)")
                    out.append(true)
                } catch { out.append(false) }
            }
            return out
        }
        let a = try pattern(seed: 42)
        #expect(try pattern(seed: 42) == a)
        let failures = a.filter { !$0 }.count
        #expect(failures > 10 && failures < 60, "seed 42: \(failures) failures of 100")
    }

    @Test func partialWriteLandsSomeBytes() throws {
        let fs = try makeFS()
        let f = try write(fs, "/db/p", [9], sync: true)
        fs.injectFault(.init(.append, when: .nth(1), effect: .partialWrite(keepBytes: 3)))
        #expect(throws: StorageError.self) { try f.append([1, 2, 3, 4, 5, 6]) }
        #expect(try fs.contents("/db/p") == [9, 1, 2, 3])
    }

    @Test func diskFullThenFreedSpaceResumes() throws {
        let fs = try makeFS()
        fs.capacityBytes = 100
        let a = try write(fs, "/db/a", Array(repeating: 1, count: 60), sync: true)
        let b = try fs.createFile("/db/b")
        try b.append(Array(repeating: 2, count: 40))
        if let e = expectStorageError("append beyond capacity succeeded", { try b.append([3]) }) {
            #expect(e.code == .diskFull)
        }
        #expect(try fs.contents("/db/a").count == 60)  // acknowledged data stays readable
        try a.close()
        try fs.removeFile("/db/a")
        try b.append([3])
        #expect(fs.usedBytes == 41)
    }

    @Test func flipByteChangesDurableAndVolatileData() throws {
        let fs = try makeFS()
        let f = try write(fs, "/db/c", [0, 0, 0, 0], sync: true)
        try fs.syncDirectory("/db")
        try f.append([0, 0])
        try fs.flipByte(path: "/db/c", offset: 1)
        try fs.corrupt(path: "/db/c", offset: 5)
        #expect(try fs.contents("/db/c") == [0, 0xFF, 0, 0, 0, 0xFF])
        fs.crash(mode: .dropUnsynced)
        #expect(try fs.contents("/db/c") == [0, 0xFF, 0, 0])
        #expect(throws: StorageError.self) { try fs.flipByte(path: "/db/c", offset: 4) }
    }

    @Test func locksAreExclusiveAndReleasedByCrash() throws {
        let fs = try makeFS()
        let lock = try fs.lockFile("/db/LOCK")
        #expect(throws: StorageError(.locked, "lock is held", path: "/db/LOCK")) { _ = try fs.lockFile("/db/LOCK") }
        lock.unlock()
        _ = try fs.lockFile("/db/LOCK")
        try fs.syncDirectory("/db")
        fs.crash(mode: .dropUnsynced)
        _ = try fs.lockFile("/db/LOCK")
    }

    @Test func createNeedsParentAndReadsAreBounded() throws {
        let fs = try makeFS()
        #expect(throws: StorageError.self) { _ = try fs.createFile("/nodir/x") }
        _ = try write(fs, "/db/r", [1, 2, 3], sync: false)
        let r = try fs.openFile("/db/r")
        #expect(try r.read(at: 1, count: 2) == [2, 3])
        if let e = expectStorageError("short read succeeded", { _ = try r.read(at: 2, count: 5) }) {
            #expect(e.code == .corruption)
            #expect(e.path == "/db/r")
            #expect(e.offset == 2)
        }
    }

    @Test func concurrentReadersSeeTheFile() async throws {
        let fs = try makeFS()
        let expected = (0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        _ = try write(fs, "/db/shared", expected, sync: true)
        try await checkConcurrentReads(try fs.openFile("/db/shared"), expected)
    }

    @Test func faultTriggersCountFromOne() async {
        await #expect(processExitsWith: .failure) {
            MemoryFileSystem().injectFault(.init(.append, when: .nth(0)))
        }
    }
}

/// Reads `file` from 8 tasks at once at fixed, overlapping offsets and checks every byte.
func checkConcurrentReads(_ file: any ReadableFile, _ expected: [UInt8]) async throws {
    let results = await withTaskGroup(of: Int?.self) { group in
        for task in 0..<8 {
            group.addTask {
                for i in 0..<200 {
                    let offset = (task * 977 + i * 131) % (expected.count - 100)
                    guard let bytes = try? file.read(at: offset, count: 100),
                        bytes[...] == expected[offset..<offset + 100]
                    else { return offset }
                }
                return nil
            }
        }
        var bad: [Int] = []
        for await r in group { if let r { bad.append(r) } }
        return bad
    }
    #expect(results.isEmpty, "concurrent reads differ at offsets \(results)")
}
