import ApusCore
@testable import ApusKV
import ApusStorage
import Foundation
import Testing

/// Power losses under `TxnDB` (the in-memory file system drops or tears what was not synced):
/// every transaction whose commit returned is there after the restart, whole, whichever commit
/// path it took (one range: versions with the commit; two ranges: a COMMITTED record whose
/// intents were resolved unsynced, or not at all), and a transaction that had not committed
/// leaves nothing visible and nothing in the way of the next writers.
@Suite struct TxnCrashTests {
    private static let accounts = 10
    private static func key(_ i: Int) -> [UInt8] { Array("acct\(i)".utf8) }
    private static func value(_ v: [UInt8]?) -> Int { Int(String(decoding: v ?? [], as: UTF8.self)) ?? -1 }

    private static func open(_ fs: MemoryFileSystem) throws -> (StorageEngine, TxnDB) {
        let engine = try StorageEngine.open(directory: "/db", options: mvccOptions(), fileSystem: fs)
        return (engine, TxnDB(engine: engine, splitPoints: [key(5)]))
    }

    @Test(arguments: 1...16)
    func acknowledgedTransfersSurviveAPowerLoss(seed: Int) throws {
        let fs = MemoryFileSystem()
        var expected = Array(repeating: 100, count: TxnCrashTests.accounts)
        var rng = SplitMix64(seed: UInt64(seed))
        do {
            let (engine, db) = try TxnCrashTests.open(fs)
            let setup = db.begin()
            for i in 0..<TxnCrashTests.accounts { try setup.put(TxnCrashTests.key(i), Array("100".utf8)) }
            try setup.commit()
            // A transaction on both ranges whose commit never comes: its intents and PENDING
            // record reach the log, synced by the commits after them.
            let pending = db.begin()
            try pending.put(Array("aaa".utf8), Array("999".utf8))
            try pending.put(Array("zzz".utf8), Array("999".utf8))
            for _ in 0..<20 {
                let from = rng.uniform(TxnCrashTests.accounts)
                let to = (from + 1 + rng.uniform(TxnCrashTests.accounts - 1)) % TxnCrashTests.accounts
                let amount = 1 + rng.uniform(10)
                let t = db.begin()
                let a = TxnCrashTests.value(try t.get(TxnCrashTests.key(from)))
                let b = TxnCrashTests.value(try t.get(TxnCrashTests.key(to)))
                try t.put(TxnCrashTests.key(from), Array(String(a - amount).utf8))
                try t.put(TxnCrashTests.key(to), Array(String(b + amount).utf8))
                if rng.uniform(4) == 0 {
                    t.rollback()
                    continue
                }
                try t.commit()
                expected[from] -= amount
                expected[to] += amount
            }
            // The power goes right after the last acknowledged commit.
            engine.closeForCrashTest()
            fs.crash(mode: seed % 2 == 0 ? .dropUnsynced : .torn(seed: UInt64(seed)))
        }
        let (engine, db) = try TxnCrashTests.open(fs)
        defer { try? engine.close() }
        let reader = db.begin()
        let balances = try (0..<TxnCrashTests.accounts).map { TxnCrashTests.value(try reader.get(TxnCrashTests.key($0))) }
        #expect(balances == expected, "seed \(seed)")
        // The unfinished transaction left nothing visible, nor in the way: a writer with no
        // patience takes its keys.
        #expect(try reader.get(Array("aaa".utf8)) == nil && reader.get(Array("zzz".utf8)) == nil)
        let w = db.begin(lockTimeout: 0)
        try w.put(Array("aaa".utf8), Array("1".utf8))
        try w.put(Array("zzz".utf8), Array("2".utf8))
        try w.commit()
        #expect(try db.begin().get(Array("zzz".utf8)) == Array("2".utf8))
    }
}
