import ApusCore
import ApusDB
import ApusSQL
import Testing

/// ORDER BY a primary key or an index's columns reads in that order and stops at the LIMIT
/// (`executor/OrderedScan.swift`). Over seeded random data with NULLs and duplicates, every
/// direction and NULLS placement, with filters, OFFSET and an equality prefix, the sort key
/// values of the rows returned must be those of a model sort, and each row must be a row of
/// the table that passes the filter. (Rows that tie may come in another order, as in
/// PostgreSQL.) EXPLAIN is checked so that the ordered read really ran.
@Suite struct IndexOrderTests {
    struct Row: Hashable {
        var id: Int64
        var a: Int64?
        var b: Int64
        var c: String?
    }

    /// ORDER BY semantics of one key: NULLs first or last, ascending or descending.
    static func less<T: Comparable>(_ x: T?, _ y: T?, desc: Bool, nullsFirst: Bool) -> Bool? {
        switch (x, y) {
        case (nil, nil): return nil
        case (nil, _): return nullsFirst
        case (_, nil): return !nullsFirst
        case let (x?, y?): return x == y ? nil : (desc ? x > y : x < y)
        }
    }

    @Test(arguments: 1...4)
    func orderedReadsMatchTheModel(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed))
        let db = try Database.inMemory()
        defer { try? db.close() }
        try db.execute("CREATE TABLE r (id int PRIMARY KEY, a int, b int NOT NULL, c text)")
        try db.execute("CREATE INDEX r_a ON r (a)")
        try db.execute("CREATE INDEX r_b_c ON r (b, c)")
        var rows: [Row] = []
        var values: [String] = []
        for i in 0..<800 {
            let a: Int64? = rng.uniform(6) == 0 ? nil : Int64(rng.uniform(300))
            let b = Int64(rng.uniform(4))
            let c: String? = rng.uniform(5) == 0 ? nil : "c\(rng.uniform(40) + 10)"
            rows.append(Row(id: Int64(i * 2), a: a, b: b, c: c))
            values.append("(\(i * 2), \(a.map { String($0) } ?? "NULL"), \(b), \(c.map { "'\($0)'" } ?? "NULL"))")
        }
        try db.execute("INSERT INTO r VALUES " + values.joined(separator: ", "))
        for step in 0..<40 {
            let desc = rng.uniform(2) == 0
            let nulls = [nil, true, false][Int(rng.uniform(3))]
            let nullsFirst = nulls ?? desc
            let limit = Int(rng.uniform(30)), offset = rng.uniform(3) == 0 ? Int(rng.uniform(700)) : 0
            let kind = Int(rng.uniform(3))
            let b = Int64(rng.uniform(4))
            let dir = (desc ? " DESC" : "") + (nulls.map { $0 ? " NULLS FIRST" : " NULLS LAST" } ?? "")
            let sql: String
            let keep: (Row) -> Bool
            let key: (Row) -> String
            var want: [Row]
            switch kind {
            case 0:
                sql = "SELECT id, a, b, c FROM r ORDER BY a\(dir) LIMIT \(limit) OFFSET \(offset)"
                keep = { _ in true }
                want = rows.sorted { Self.less($0.a, $1.a, desc: desc, nullsFirst: nullsFirst) ?? false }
                key = { $0.a.map { String($0) } ?? "NULL" }
            case 1:
                sql = "SELECT id, a, b, c FROM r WHERE b = \(b) ORDER BY c\(dir) LIMIT \(limit) OFFSET \(offset)"
                keep = { $0.b == b }
                want = rows.filter(keep).sorted { Self.less($0.c, $1.c, desc: desc, nullsFirst: nullsFirst) ?? false }
                key = { $0.c ?? "NULL" }
            default:
                sql = "SELECT id, a, b, c FROM r WHERE a % 3 = 1 ORDER BY id\(desc ? " DESC" : "") LIMIT \(limit) OFFSET \(offset)"
                keep = { ($0.a ?? 0) % 3 == 1 }
                want = rows.filter(keep).sorted { desc ? $0.id > $1.id : $0.id < $1.id }
                key = { String($0.id) }
            }
            want = Array(want.dropFirst(offset).prefix(limit))
            let got = try db.execute(sql).rows.map { r in
                Row(id: Int64(r.text(0) ?? "") ?? -1, a: r.text(1).flatMap { Int64($0) }, b: Int64(r.text(2) ?? "") ?? -1, c: r.text(3))
            }
            let table = Set(rows)
            #expect(got.map(key) == want.map(key), "seed \(seed) step \(step): \(sql)")
            #expect(got.allSatisfy { table.contains($0) && keep($0) }, "seed \(seed) step \(step): \(sql)")
            let plan = try db.execute("EXPLAIN (COSTS OFF) " + sql).rows.compactMap { $0.text(0) }
            #expect(plan.contains { $0.contains("Index Scan") } && !plan.contains { $0.contains("Sort") }, "\(sql): \(plan)")
        }
    }
}
