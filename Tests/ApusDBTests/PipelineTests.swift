// The pipelined executor (scans, filters, projections and join probes passing rows one at a
// time, hash joins over integer keys, the aggregate's fast paths, primary-key range scans
// without a re-check of their bounds) against a simple model: seeded random tables with
// duplicate and NULL keys, joined, grouped and range-scanned in SQL and in plain Swift.

import ApusCore
import ApusDB
import ApusSQL
import Testing

@Suite struct PipelineTests {
    struct Rec {
        var id: Int64
        var k: Int64?
        var t: String?
        var x: Int64?
    }

    static func table(_ rng: inout SplitMix64, _ n: Int) -> [Rec] {
        var out: [Rec] = []
        var id: Int64 = Int64(rng.uniform(5)) - 2
        for _ in 0..<n {
            id += Int64(1 + rng.uniform(3))
            let k: Int64? = rng.uniform(8) == 0 ? nil : Int64(rng.uniform(15))
            let t: String? = rng.uniform(8) == 0 ? nil : "s\(rng.uniform(12))"
            let x: Int64? = rng.uniform(10) == 0 ? nil : Int64(rng.uniform(1_000)) - 300
            out.append(Rec(id: id, k: k, t: t, x: x))
        }
        return out
    }

    static func sql(_ v: Int64?) -> String { v.map { String($0) } ?? "NULL" }
    static func sql(_ v: String?) -> String { v.map { "'\($0)'" } ?? "NULL" }

    static func load(_ db: Database, _ name: String, _ rows: [Rec]) throws {
        try db.execute("CREATE TABLE \(name) (id int PRIMARY KEY, k int, t text, x int)")
        if rows.isEmpty { return }
        let values = rows.map { "(\($0.id), \(sql($0.k)), \(sql($0.t)), \(sql($0.x)))" }.joined(separator: ", ")
        try db.execute("INSERT INTO \(name) VALUES \(values)")
    }

    /// Rows as sorted text lines ("NULL" for NULL), for order-insensitive comparison.
    static func lines(_ rs: ResultSet) -> [String] {
        rs.rows.map { r in r.values.map { $0.isNull ? "NULL" : "\($0)" }.joined(separator: "|") }.sorted()
    }

    static func line(_ xs: [Any?]) -> String {
        xs.map { x in x.map { "\($0)" } ?? "NULL" }.joined(separator: "|")
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func joinsMatchModel(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let a = Self.table(&rng, 20 + rng.uniform(150)), b = Self.table(&rng, rng.uniform(120))
        let db = try Database.inMemory()
        defer { try? db.close() }
        try Self.load(db, "a", a)
        try Self.load(db, "b", b)
        if seed % 2 == 0 { try db.execute("ANALYZE") }

        func pairs(_ on: (Rec, Rec) -> Bool, left: Bool, right: Bool) -> [String] {
            var out: [String] = []
            var matchedB = Set<Int64>()
            for x in a {
                var any = false
                for y in b where on(x, y) {
                    out.append(Self.line([x.id, y.id]))
                    matchedB.insert(y.id)
                    any = true
                }
                if !any && left { out.append(Self.line([x.id, nil])) }
            }
            if right { for y in b where !matchedB.contains(y.id) { out.append(Self.line([nil, y.id])) } }
            return out.sorted()
        }
        let eqK: (Rec, Rec) -> Bool = { x, y in x.k != nil && x.k == y.k }
        for (join, l, r) in [("JOIN", false, false), ("LEFT JOIN", true, false), ("RIGHT JOIN", false, true), ("FULL JOIN", true, true)] {
            let got = Self.lines(try db.execute("SELECT a.id, b.id FROM a \(join) b ON a.k = b.k"))
            #expect(got == pairs(eqK, left: l, right: r), "\(join) seed \(seed)")
            // A residual condition besides the key.
            let res = Self.lines(try db.execute("SELECT a.id, b.id FROM a \(join) b ON a.k = b.k AND a.x < b.x"))
            let model = pairs({ x, y in eqK(x, y) && x.x != nil && y.x != nil && x.x! < y.x! }, left: l, right: r)
            #expect(res == model, "\(join) residual seed \(seed)")
        }
        // Text keys, two keys, no keys at all (nested loop), and a join filtered on both sides.
        #expect(Self.lines(try db.execute("SELECT a.id, b.id FROM a JOIN b ON a.t = b.t"))
            == pairs({ x, y in x.t != nil && x.t == y.t }, left: false, right: false))
        #expect(Self.lines(try db.execute("SELECT a.id, b.id FROM a LEFT JOIN b ON a.t = b.t AND a.k = b.k"))
            == pairs({ x, y in x.t != nil && x.t == y.t && eqK(x, y) }, left: true, right: false))
        #expect(Self.lines(try db.execute("SELECT a.id, b.id FROM a JOIN b ON a.x < b.x - 500"))
            == pairs({ x, y in x.x != nil && y.x != nil && x.x! < y.x! - 500 }, left: false, right: false))
        #expect(Self.lines(try db.execute("SELECT a.id, b.id FROM a JOIN b ON a.k = b.k WHERE a.x > 0 AND b.t <> 's3'"))
            == pairs({ x, y in eqK(x, y) && (x.x ?? 0) > 0 && y.t != nil && y.t != "s3" }, left: false, right: false))
        // Integer keys meeting numeric ones (hashed by value, not by representation).
        #expect(Self.lines(try db.execute("SELECT a.id, b.id FROM a JOIN (SELECT id, k::numeric AS k FROM b) b ON a.k = b.k"))
            == pairs(eqK, left: false, right: false))
        // A three-way join with grouping, as the benchmark's.
        var groups: [String: (n: Int, cnt: Int, sum: Int64?, min: Int64?, max: Int64?)] = [:]
        var order: [String] = []
        for x in a {
            for y in b where eqK(x, y) {
                for z in a where z.id == y.k {
                    let key = z.t ?? "NULL"
                    if groups[key] == nil { order.append(key); groups[key] = (0, 0, nil, nil, nil) }
                    groups[key]!.n += 1
                    if let v = x.x {
                        groups[key]!.cnt += 1
                        groups[key]!.sum = (groups[key]!.sum ?? 0) + v
                        groups[key]!.min = min(groups[key]!.min ?? v, v)
                        groups[key]!.max = max(groups[key]!.max ?? v, v)
                    }
                }
            }
        }
        let model = order.map { k in
            let g = groups[k]!
            return Self.line([k, g.n, g.cnt, g.sum, g.min, g.max])
        }.sorted()
        let got = try db.execute("""
            SELECT z.t, count(*), count(a.x), sum(a.x), min(a.x), max(a.x)
            FROM a JOIN b ON a.k = b.k JOIN a z ON b.k = z.id GROUP BY z.t
            """)
        #expect(Self.lines(got) == model, "seed \(seed)")
        // Aggregates over no rows, and over all rows with no GROUP BY.
        #expect(Self.lines(try db.execute("SELECT count(*), sum(x), count(x) FROM a WHERE id < -100")) == ["0|NULL|0"])
        let xs = a.compactMap(\.x)
        #expect(Self.lines(try db.execute("SELECT count(*), sum(x), count(x) FROM a"))
            == [Self.line([a.count, xs.isEmpty ? nil : xs.reduce(0, +), xs.count])])
    }

    @Test(arguments: [11, 12, 13] as [UInt64])
    func primaryKeyRangesMatchModel(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let a = Self.table(&rng, 200)
        let db = try Database.inMemory()
        defer { try? db.close() }
        try Self.load(db, "a", a)
        let ids = a.map(\.id)
        let lo0 = ids.first! - 3, hi0 = ids.last! + 3
        let ge = try db.prepare("SELECT id FROM a WHERE id >= $1 AND id < $1 + 10")
        let gt = try db.prepare("SELECT id FROM a WHERE id > $1 AND id <= $2")
        let mixed = try db.prepare("SELECT id FROM a WHERE $1 < id AND id > $2 AND x % 2 = 0")
        for _ in 0..<40 {
            let p = lo0 + Int64(rng.uniform(Int(hi0 - lo0)))
            let q = p + Int64(rng.uniform(30)) - 5
            let r1 = try ge.execute([.int(p)]).rows.map { $0[0] }
            #expect(r1 == ids.filter { $0 >= p && $0 < p + 10 }.map { .int($0) }, "seed \(seed) >= \(p)")
            let r2 = try gt.execute([.int(p), .int(q)]).rows.map { $0[0] }
            #expect(r2 == ids.filter { $0 > p && $0 <= q }.map { .int($0) })
            let r3 = try mixed.execute([.int(p), .int(q)]).rows.map { $0[0] }
            #expect(r3 == a.filter { $0.id > p && $0.id > q && ($0.x.map { $0 % 2 == 0 } ?? false) }.map { .int($0.id) })
        }
        // Bounds that are not integers are still checked row by row; integer ones are not.
        func plan(_ sql: String) throws -> [String] {
            try db.execute("EXPLAIN (COSTS OFF) " + sql).rows.compactMap { $0.text(0) }
        }
        #expect(try plan("SELECT x FROM a WHERE id > 1.5 AND id < 20")
            == ["Index Scan using a_pkey on a", "  Filter: (condition)", "  Index Cond: primary key range"])
        #expect(try plan("SELECT x FROM a WHERE id >= 1 AND id < 20")
            == ["Index Scan using a_pkey on a", "  Index Cond: primary key range"])
        let half = ids[ids.count / 2]
        #expect(try db.execute("SELECT count(*) FROM a WHERE id > \(half).5 AND id < \(half + 10)").rows.first?[0]
            == .int(Int64(ids.filter { $0 > half && $0 < half + 10 }.count)))
        #expect(try db.execute("SELECT count(*) FROM a WHERE id >= NULL").rows.first?[0] == .int(0))
        #expect(try db.execute("SELECT count(*) FROM a WHERE id >= $1 AND id <= $2", parameters: [.int(half), .int(half - 1)])
            .rows.first?[0] == .int(0))
    }
}
