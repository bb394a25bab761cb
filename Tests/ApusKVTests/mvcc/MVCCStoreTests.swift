import ApusCore
@testable import ApusKV
import ApusStorage
import Foundation
import Testing

private func tempDir() -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("apuskv-\(UInt64.random(in: 0...UInt64.max))").path
    return d
}

private let a = Array("a".utf8)
private func ts(_ n: UInt64) -> Timestamp { Timestamp(wallNanos: n) }

@Suite struct MVCCStoreTests {
    @Test func intentsVersionsAndResolution() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let engine = try StorageEngine.open(directory: dir, options: mvccOptions())
        defer { try? engine.close() }
        let store = MVCCStore(engine: engine)

        // Transaction 1 writes a@10 and commits; its intent becomes a version.
        var b = WriteBatch()
        MVCCStore.putIntent(&b, key: a, txn: 1, ts: ts(10), value: Array("v1".utf8))
        try engine.write(b)
        #expect(try store.get(a, readTS: ts(20), txn: 1) == .value(Array("v1".utf8)))
        #expect(try store.get(a, readTS: ts(20), txn: 2) == .intent(owner: 1, timestamp: ts(10)))
        #expect(try store.get(a, readTS: ts(5), txn: 2) == .value(nil))
        b = WriteBatch()
        MVCCStore.putRecord(&b, txn: 1, status: .committed, ts: ts(10))
        try store.resolveIntent(&b, key: a, txn: 1, commitTS: ts(10))
        try engine.write(b)
        #expect(try store.record(1)?.status == .committed)
        #expect(try store.get(a, readTS: ts(20), txn: 2) == .value(Array("v1".utf8)))
        #expect(try store.latestVersion(a) == ts(10))

        // Transaction 3 deletes a at 30 and aborts: nothing changes for readers.
        b = WriteBatch()
        MVCCStore.putIntent(&b, key: a, txn: 3, ts: ts(30), value: nil)
        try engine.write(b)
        #expect(try store.get(a, readTS: ts(40), txn: 3) == .value(nil))
        b = WriteBatch()
        try store.resolveIntent(&b, key: a, txn: 3, commitTS: nil)
        try engine.write(b)
        #expect(try store.get(a, readTS: ts(40), txn: 2) == .value(Array("v1".utf8)))

        // Transaction 4 deletes a at 50 and commits: old readers still see v1.
        b = WriteBatch()
        MVCCStore.putIntent(&b, key: a, txn: 4, ts: ts(50), value: nil)
        try store.resolveIntent(&b, key: a, txn: 3, commitTS: ts(50))  // not 3's intent: untouched
        try engine.write(b)
        b = WriteBatch()
        try store.resolveIntent(&b, key: a, txn: 4, commitTS: ts(50))
        try engine.write(b)
        #expect(try store.get(a, readTS: ts(60), txn: 2) == .value(nil))
        #expect(try store.get(a, readTS: ts(45), txn: 2) == .value(Array("v1".utf8)))
        #expect(try store.latestVersion(a) == ts(50))
    }

    /// An intent whose transaction never committed stays invisible after a reopen (crash).
    @Test func unresolvedIntentInvisibleAfterReopen() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let engine = try StorageEngine.open(directory: dir, options: mvccOptions())
            var b = WriteBatch()
            MVCCStore.putIntent(&b, key: a, txn: 7, ts: ts(10), value: Array("x".utf8))
            MVCCStore.putRecord(&b, txn: 7, status: .pending, ts: ts(10))
            try engine.write(b, sync: true)
            try engine.close()
        }
        let engine = try StorageEngine.open(directory: dir, options: mvccOptions())
        defer { try? engine.close() }
        let store = MVCCStore(engine: engine)
        #expect(try store.get(a, readTS: ts(20), txn: 8) == .intent(owner: 7, timestamp: ts(10)))
        #expect(try store.record(7)?.status == .pending)
    }
}
