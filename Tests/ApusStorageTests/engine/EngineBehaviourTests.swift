// Behaviour of the engine's public operations in focused scenarios: point reads across the
// memtable, level 0 and deeper levels; range deletions over flushed data; snapshots that keep
// their view through flushes and compactions; prefix and bounded iteration; MVCC key order and
// the garbage-collection hook; many concurrent writers (group commit) with every write present;
// writes that stall behind a slow background instead of failing; and the metrics. Each
// expectation is computed from the writes the test made, not from the engine's own output.
import ApusCore
import Foundation
import Testing
@testable import ApusStorage

@Suite struct EngineBehaviourTests {
    @Test func readsAcrossAllLevels() throws {
        let fs = MemoryFileSystem()
        let e = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
        for i in 0..<5000 { try e.put(k(i), v(i), sync: false) }
        try e.compactAll()
        for i in 0..<5000 where i % 2 == 0 { try e.put(k(i), v(i + 7), sync: false) }
        try e.flush()
        for i in 0..<5000 where i % 3 == 0 { try e.delete(k(i), sync: false) }
        for i in 0..<5000 {
            let want: [UInt8]? = i % 3 == 0 ? nil : (i % 2 == 0 ? v(i + 7) : v(i))
            #expect(try e.get(k(i)) == want, "key \(i)")
        }
        let m = e.metrics()
        #expect(m.flushCount >= 2)
        #expect(m.compactionCount >= 1)
        #expect(m.levelFiles.dropFirst().reduce(0, +) >= 1)
        #expect(m.userBytesWritten > 0 && m.writeAmplification > 1)
        try e.close()
    }

    @Test func rangeDeleteOverFlushedData() throws {
        let fs = MemoryFileSystem()
        let e = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
        for i in 0..<2000 { try e.put(k(i), v(i), sync: false) }
        try e.flush()
        let before = e.snapshot()
        try e.deleteRange(k(100), k(1500))
        try e.put(k(200), v(9), sync: false)  // newer than the tombstone: visible
        for i in [0, 99, 100, 200, 1499, 1500, 1999] {
            let want: [UInt8]? = i == 200 ? v(9) : ((100..<1500).contains(i) ? nil : v(i))
            #expect(try e.get(k(i)) == want, "key \(i)")
            #expect(try e.get(k(i), snapshot: before) == v(i), "snapshot key \(i)")
        }
        try e.compactAll()
        #expect(try e.get(k(700)) == nil)
        #expect(try e.get(k(700), snapshot: before) == v(700))
        let it = try e.makeIterator()
        var n = 0
        try it.seekToFirst()
        while it.isValid { n += 1; try it.next() }
        #expect(n == 2000 - 1400 + 1)
        try e.close()
        let r = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
        #expect(try r.get(k(700)) == nil)
        #expect(try r.get(k(200)) == v(9))
        try r.close()
    }

    @Test func prefixIteration() throws {
        let e = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: MemoryFileSystem())
        for p in ["a", "ab", "abc", "abd", "b", "ab\u{7f}"] { try e.put(Array(p.utf8), Array(p.utf8)) }
        let it = try e.makeIterator(IteratorOptions(prefix: Array("ab".utf8)))
        var got: [String] = []
        try it.seekToFirst()
        while it.isValid { got.append(String(decoding: it.key, as: UTF8.self)); try it.next() }
        #expect(got == ["ab", "abc", "abd", "ab\u{7f}"])
        try it.seekToLast()
        #expect(it.isValid && it.key == Array("ab\u{7f}".utf8))
        try e.close()
    }

    @Test func mvccOrderAndGarbageCollection() throws {
        let fs = MemoryFileSystem()
        let e = try StorageEngine.open(directory: "/db", options: smallOptions(.mvcc), fileSystem: fs)
        func mk(_ key: String, _ ts: UInt64) -> [UInt8] { MVCCKey.encode(Array(key.utf8), Timestamp(wallNanos: ts)) }
        for key in ["apple", "pear"] {
            for ts: UInt64 in [10, 20, 30, 40] { try e.put(mk(key, ts), Array("\(key)@\(ts)".utf8), sync: false) }
            try e.put(MVCCKey.encode(Array(key.utf8), .zero), Array("intent".utf8), sync: false)
        }
        func versions() throws -> [String] {
            let it = try e.makeIterator()
            var out: [String] = []
            try it.seekToFirst()
            while it.isValid {
                let (key, ts) = try #require(MVCCKey.decode(it.key))
                out.append("\(String(decoding: key, as: UTF8.self))@\(ts.wallNanos)")
                try it.next()
            }
            return out
        }
        // The unversioned key first, then newest first.
        #expect(try versions() == ["apple@0", "apple@40", "apple@30", "apple@20", "apple@10",
                                   "pear@0", "pear@40", "pear@30", "pear@20", "pear@10"])
        e.setMVCCGCThreshold(Timestamp(wallNanos: 25))
        try e.compactAll()
        // Versions at or below 25 are collected except the newest of them (20).
        #expect(try versions() == ["apple@0", "apple@40", "apple@30", "apple@20",
                                   "pear@0", "pear@40", "pear@30", "pear@20"])
        #expect(e.metrics().gcBytesReclaimed > 0)
        try e.close()
    }

    @Test func snapshotHoldsBackGarbageCollection() throws {
        let e = try StorageEngine.open(directory: "/db", options: smallOptions(.mvcc), fileSystem: MemoryFileSystem())
        let key = MVCCKey.encode(Array("k".utf8), Timestamp(wallNanos: 10))
        try e.put(key, Array("old".utf8))
        let snap = e.snapshot()
        try e.put(MVCCKey.encode(Array("k".utf8), Timestamp(wallNanos: 20)), Array("new".utf8))
        e.setMVCCGCThreshold(Timestamp(wallNanos: 100))
        try e.compactAll()
        #expect(try e.get(key, snapshot: snap) == Array("old".utf8))
        try e.close()
    }

    @Test func concurrentWritersAllLand() throws {
        let fs = MemoryFileSystem()
        let e = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
        let threads = 8, perThread = 300
        let done = DispatchSemaphore(value: 0)
        for t in 0..<threads {
            Thread {
                for i in 0..<perThread {
                    do { try e.put(k(t * 10_000 + i), v(i), sync: i % 2 == 0) } catch { Issue.record("write failed: \(error)") }
                }
                done.signal()
            }.start()
        }
        for _ in 0..<threads { done.wait() }
        for t in 0..<threads { for i in 0..<perThread { #expect(try e.get(k(t * 10_000 + i)) == v(i)) } }
        try e.close()
        let r = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
        for t in 0..<threads { #expect(try r.get(k(t * 10_000 + perThread - 1)) == v(perThread - 1)) }
        try r.close()
    }

    @Test func writesStallInsteadOfFailing() throws {
        var o = smallOptions()
        o.immutableMemtablesMax = 1
        o.level0CompactionTrigger = 1
        o.level0SlowdownTrigger = 2
        o.level0StopTrigger = 3
        o.compactionBytesPerSecondMax = 1 << 20
        let e = try StorageEngine.open(directory: "/db", options: o, fileSystem: MemoryFileSystem())
        for i in 0..<6000 { try e.put(k(i), v(i, 200), sync: false) }
        for i in stride(from: 0, to: 6000, by: 13) { #expect(try e.get(k(i)) == v(i, 200)) }
        try e.close()
    }

    @Test func oversizedWritesAreRejected() throws {
        var o = smallOptions()
        o.keyBytesMax = 16
        let e = try StorageEngine.open(directory: "/db", options: o, fileSystem: MemoryFileSystem())
        #expect { try e.put([UInt8](repeating: 1, count: 17), [1]) } throws: { ($0 as? StorageError)?.code == .invalidArgument }
        try e.put([1], [1])
        #expect(try e.get([1]) == [1])
        try e.close()
    }

    @Test func invalidOptionsAreRejected() {
        var o = StorageOptions()
        o.level0SlowdownTrigger = 2
        o.level0CompactionTrigger = 4
        #expect(throws: StorageError.self) { try o.validate() }
        #expect(throws: Never.self) { try StorageOptions().validate() }
    }
}
