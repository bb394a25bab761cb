import ApusCore
import ApusDB
import ApusSQL
import Testing

/// Correlated EXISTS run once and hashed, and uncorrelated IN hashed (`Decorrelate.swift`),
/// against a model in Swift over seeded random tables with NULL and duplicate keys.
@Suite struct SubqueryHashTests {
    struct Rec {
        var id: Int
        var k: Int?
        var t: String?
    }

    static func table(_ rng: inout SplitMix64, _ n: Int) -> [Rec] {
        (0..<n).map { i in
            Rec(id: i, k: rng.uniform(7) == 0 ? nil : Int(rng.uniform(30)), t: rng.uniform(6) == 0 ? nil : "t\(rng.uniform(8))")
        }
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func hashedSubqueriesMatchTheModel(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let a = Self.table(&rng, 300), b = Self.table(&rng, 40 + Int(rng.uniform(160)))
        let db = try Database.inMemory()
        defer { try? db.close() }
        for (name, rows) in [("a", a), ("b", b)] {
            try db.execute("CREATE TABLE \(name) (id int PRIMARY KEY, k int, t text)")
            if rows.isEmpty { continue }
            let values = rows.map { "(\($0.id), \($0.k.map(String.init) ?? "NULL"), \($0.t.map { "'\($0)'" } ?? "NULL"))" }
            try db.execute("INSERT INTO \(name) VALUES " + values.joined(separator: ", "))
        }
        func ids(_ sql: String) throws -> [Int] { try db.execute(sql).rows.map { Int($0.text(0) ?? "") ?? -1 } }
        let cut = Int(rng.uniform(200))
        func match(_ x: Rec, _ y: Rec, both: Bool) -> Bool {
            x.k != nil && x.k == y.k && y.id >= cut && (!both || (x.t != nil && x.t == y.t))
        }
        for (both, range) in [(false, true), (true, true), (false, false), (true, false)] {
            // With a primary-key range on b (a range scan below the filter) or a plain condition.
            let cond = "b.k = a.k AND " + (range ? "b.id >= \(cut)" : "b.id + 0 >= \(cut)") + (both ? " AND a.t = b.t" : "")
            let exists = a.filter { x in b.contains { match(x, $0, both: both) } }.map(\.id)
            #expect(try ids("SELECT id FROM a WHERE EXISTS (SELECT 1 FROM b WHERE \(cond)) ORDER BY id") == exists, "seed \(seed)")
            let notExists = a.filter { x in !b.contains { match(x, $0, both: both) } }.map(\.id)
            #expect(try ids("SELECT id FROM a WHERE NOT EXISTS (SELECT 1 FROM b WHERE \(cond) LIMIT 1) ORDER BY id") == notExists)
        }
        // x IN (subquery) and NOT IN: three-valued (with NULLs among the values, without, none).
        for (cond, keep) in [("id % 5 = 1", { (r: Rec) in r.id % 5 == 1 }), ("id % 5 = 2 AND k IS NOT NULL", { r in r.id % 5 == 2 && r.k != nil }),
                             ("id < 0", { _ in false })] as [(String, (Rec) -> Bool)] {
            let inner = b.filter(keep).map(\.k)
            func inResult(_ x: Int?, negated: Bool) -> String {
                if inner.isEmpty { return negated ? "t" : "f" }
                guard let x else { return "NULL" }
                if inner.contains(x) { return negated ? "f" : "t" }
                return inner.contains(nil) ? "NULL" : (negated ? "t" : "f")
            }
            for negated in [false, true] {
                let got = try db.execute("SELECT a.k \(negated ? "NOT " : "")IN (SELECT k FROM b WHERE \(cond)) FROM a ORDER BY id")
                    .rows.map { r in r.values[0].isNull ? "NULL" : (r.values[0] == .bool(true) ? "t" : "f") }
                #expect(got == a.map { inResult($0.k, negated: negated) }, "seed \(seed) \(cond) negated \(negated)")
            }
        }
    }
}
