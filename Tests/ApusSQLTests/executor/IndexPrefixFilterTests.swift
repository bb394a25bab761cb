import ApusCore
import ApusStorage
import Foundation
import Testing
@testable import ApusSQL

/// The SQL layer's prefix for table filters (`KeyEncoding.bloomPrefix`): the IDs and the first
/// indexed value of a secondary-index entry. Equality lookups in an index then skip the tables
/// without that value; they must still find every entry, through flushes, compactions, updates
/// and deletes, whether they read the rows or only the index, on both storage layouts (the MVCC
/// layout filters by the prefix of each `key@ts`'s key part, `BloomPrefix.onMVCCKeys`).
@Suite struct IndexPrefixFilterTests {
    static let values: [Value] = [
        .null, .bool(false), .bool(true), .int(-3), .int(1 << 40), .float(-0.5), .numeric(SQLDecimal(unscaled: 1250, scale: 2)),
        .text(""), .text("a\u{0}b"), .text("日本"), .bytes([0, 0xFF, 0]), .date(19000), .timestamp(5), .timestamptz(-5), .time(7),
        .interval(months: 1, days: 2, micros: 3),
    ]

    /// The prefix is the index's IDs and first value, whatever follows; none for rows, for
    /// other keys, or for values it cannot delimit.
    @Test func prefixOfIndexEntries() {
        func length(_ key: [UInt8]) -> Int? { key.withUnsafeBytes { KeyEncoding.bloomPrefix.length($0) } }
        for v in IndexPrefixFilterTests.values {
            let first = KeyEncoding.encode([v])
            let entry = KeyEncoding.indexPrefix(table: 200, index: 2) + first + KeyEncoding.encode([.text("x"), .int(9)])
            #expect(length(entry) == 9 + first.count, "\(v)")
            // The lower bound of an equality lookup of the first column is its own prefix.
            #expect(length(KeyEncoding.indexPrefix(table: 200, index: 3) + first) == 9 + first.count, "\(v)")
            #expect(length(KeyEncoding.indexPrefix(table: 200, index: 1) + first) == nil, "\(v) in the primary index")
        }
        #expect(length(KeyEncoding.indexPrefix(table: 200, index: 2)) == nil)
        #expect(length(KeyEncoding.indexPrefix(table: 200, index: 2) + [0x40, 0x61]) == nil, "an unterminated text")
        #expect(length(KeyEncoding.indexPrefix(table: 200, index: 2) + KeyEncoding.encode([.vector([1, 2])])) == nil)
        #expect(length([0x01] + Array("catalog".utf8)) == nil)
    }

    @Test(arguments: [31 as UInt64, 32], SQLStorageLayout.allCases)
    func lookupsFindEveryEntryAcrossTables(seed: UInt64, layout: SQLStorageLayout) throws {
        var rng = SplitMix64(seed: seed)
        var o = StorageOptions.sql
        SQLStorageLayout.configure(&o, layout)
        o.memtableBytesMax = 64 << 10
        o.tableBytesTarget = 64 << 10
        o.level1BytesMax = 256 << 10
        o.compactionBytesPerSecondMax = nil
        let engine = try StorageEngine.open(directory: "/pf", options: o, fileSystem: MemoryFileSystem())
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine)
        _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, k int, w text, pad text)")
        _ = try s.execute(sql: "CREATE INDEX t_k ON t (k)")
        _ = try s.execute(sql: "CREATE INDEX t_w_k ON t (w, k)")
        var model: [Int64: (k: Int64, w: String)] = [:]
        let words = ["", "a", "b\u{0}", "ccc", "日本"]
        var next: Int64 = 0
        for round in 0..<8 {
            _ = try s.execute(sql: "BEGIN")
            for _ in 0..<150 {
                let k = Int64(rng.next() % 300)
                let w = words[Int(rng.next() % 5)]
                switch rng.next() % 10 {
                case 0..<6:
                    _ = try s.execute(sql: "INSERT INTO t VALUES ($1, $2, $3, repeat('p', 60))", parameters: [.int(next), .int(k), .text(w)])
                    model[next] = (k, w)
                    next += 1
                case 6..<8:
                    guard let id = model.keys.randomElement(using: &rng) else { continue }
                    _ = try s.execute(sql: "UPDATE t SET k = $2, w = $3 WHERE id = $1", parameters: [.int(id), .int(k), .text(w)])
                    model[id] = (k, w)
                default:
                    guard let id = model.keys.randomElement(using: &rng) else { continue }
                    _ = try s.execute(sql: "DELETE FROM t WHERE id = $1", parameters: [.int(id)])
                    model[id] = nil
                }
            }
            _ = try s.execute(sql: "COMMIT")
            try engine.flush()
            if round == 4 { try engine.compactAll() }
        }
        for k in Int64(0)..<320 {
            let want = model.filter { $0.value.k == k }.keys.sorted()
            for sql in ["SELECT id FROM t WHERE k = $1 ORDER BY id", "SELECT id FROM t WHERE k = $1 AND pad <> '' ORDER BY id"] {
                let got = try s.execute(sql: sql, parameters: [.int(k)]).last?.rows.map { $0[0] }
                #expect(got == want.map { Value.int($0) }, "seed \(seed) \(layout): \(sql) with \(k)")
            }
        }
        // Index-only lookups of values never written: no row is read, so every source left
        // out was left out by the prefix filter.
        let before = engine.metrics().prefixFilterSkips
        for k in Int64(300)..<320 {
            #expect(try s.execute(sql: "SELECT id FROM t WHERE k = $1", parameters: [.int(k)]).last?.rows.isEmpty == true)
        }
        #expect(engine.metrics().prefixFilterSkips > before, "seed \(seed) \(layout): the lookups of absent values skipped no table")
        for w in words + ["zz"] {
            let want = model.filter { $0.value.w == w }.keys.sorted()
            let got = try s.execute(sql: "SELECT id FROM t WHERE w = $1 ORDER BY id", parameters: [.text(w)]).last?.rows.map { $0[0] }
            #expect(got == want.map { Value.int($0) }, "seed \(seed): w = \(w)")
        }
        #expect(engine.metrics().prefixFilterSkips > 0, "seed \(seed): the lookups skipped no table")
    }
}
