// ANALYZE's statistics on data of known distribution, their persistence, and cost-based join
// order: the reordered plan must return exactly the rows of the written order (compared with
// `join_collapse_limit = 1`, which keeps the written order), also over seeded random tables.

import ApusCore
import ApusDB
import ApusSQL
import Foundation
import Testing

@Suite struct StatisticsTests {
    func texts(_ db: Database, _ sql: String) throws -> [String] {
        try db.execute(sql).rows.map { r in (0..<r.values.count).map { r.text($0) ?? "NULL" }.joined(separator: "|") }
    }

    func stat(_ db: Database, _ table: String, _ column: String, _ field: String) throws -> String? {
        try db.execute("SELECT \(field) FROM pg_stats WHERE tablename = '\(table)' AND attname = '\(column)'").rows.first?.text(0)
    }

    @Test func analyzeCollectsStatisticsThatSurviveReopen() throws {
        let path = NSTemporaryDirectory() + "apus-stats-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let db = try Database.open(path: path)
            try db.execute("CREATE TABLE s (id int PRIMARY KEY, g int, n int, t text)")
            try db.execute("INSERT INTO s SELECT i, i % 50, CASE WHEN i % 4 = 0 THEN NULL ELSE i END, 'v' || (i % 7) FROM generate_series(1, 5000) i")
            // Before ANALYZE: no statistics, reltuples -1, and the default estimate.
            #expect(try texts(db, "SELECT count(*) FROM pg_stats WHERE tablename = 's'") == ["0"])
            #expect(try texts(db, "SELECT reltuples FROM pg_class WHERE relname = 's'") == ["-1"])
            try db.execute("ANALYZE s")
            #expect(try texts(db, "SELECT reltuples FROM pg_class WHERE relname = 's'") == ["5000"])
            #expect(try stat(db, "s", "id", "n_distinct") == "-1")
            #expect(try stat(db, "s", "g", "n_distinct") == "50")
            #expect(try stat(db, "s", "g", "null_frac") == "0")
            #expect(try stat(db, "s", "n", "null_frac") == "0.25")
            #expect(try stat(db, "s", "n", "n_distinct") == "-0.75")
            #expect(try stat(db, "s", "t", "n_distinct") == "7")
            // Every g value is common (100 rows each): a frequency of 0.02 apiece, no histogram.
            #expect(try stat(db, "s", "g", "most_common_freqs")?.hasPrefix("{0.02,0.02") == true)
            #expect(try stat(db, "s", "g", "histogram_bounds") == nil)
            // id: an equi-depth histogram of 101 ascending bounds from 1 to 5000.
            let bounds = try #require(try stat(db, "s", "id", "histogram_bounds"))
            let values = bounds.dropFirst().dropLast().split(separator: ",").compactMap { Int($0) }
            #expect(values.count == 101)
            #expect(values.first == 1 && values.last == 5000)
            #expect(zip(values, values.dropFirst()).allSatisfy { $0 < $1 })
            // Estimates follow: g = 3 matches 100 rows, id < 500 about a tenth.
            let eq = try texts(db, "EXPLAIN SELECT * FROM s WHERE g = 3")
            #expect(eq == ["Seq Scan on s  (rows=100)", "  Filter: (condition)"], "\(eq)")
            let range = try texts(db, "EXPLAIN SELECT * FROM s WHERE n < 500")
            let est = Int(range[0].split(separator: "=").last?.dropLast() ?? "") ?? 0
            #expect((300...450).contains(est), "\(range)")
            try db.close()
        }
        let db = try Database.open(path: path)
        defer { try? db.close() }
        #expect(try texts(db, "SELECT reltuples FROM pg_class WHERE relname = 's'") == ["5000"])
        #expect(try stat(db, "s", "g", "n_distinct") == "50")
        #expect(try texts(db, "EXPLAIN SELECT * FROM s WHERE g = 3").first == "Seq Scan on s  (rows=100)")
        // ANALYZE without tables covers them all; an unknown table is 42P01.
        try db.execute("CREATE TABLE u (x int)")
        try db.execute("INSERT INTO u SELECT i FROM generate_series(1, 10) i")
        try db.execute("VACUUM ANALYZE")
        #expect(try texts(db, "SELECT reltuples FROM pg_class WHERE relname = 'u'") == ["10"])
        #expect(throws: SQLError.self) { try db.execute("ANALYZE nosuch") }
        do { try db.execute("ANALYZE nosuch") } catch { #expect(error.sqlState.code == "42P01") }
    }

    @Test func largeTableIsSampledAndDistinctCountsEstimated() throws {
        let db = try Database.inMemory()
        defer { try? db.close() }
        try db.execute("CREATE TABLE big (id int PRIMARY KEY, g int, r int)")
        try db.execute("INSERT INTO big SELECT i, i % 100, (i * 7919) % 20000 FROM generate_series(1, 60000) i")
        try db.execute("ANALYZE big")
        #expect(try texts(db, "SELECT reltuples FROM pg_class WHERE relname = 'big'") == ["60000"])
        #expect(try stat(db, "big", "id", "n_distinct") == "-1")
        #expect(try stat(db, "big", "g", "n_distinct") == "100")
        // r has 20,000 values, 3 rows each: the estimate from a 30,000-row sample is close.
        let r = -(Double(try stat(db, "big", "r", "n_distinct") ?? "") ?? 0) * 60_000
        #expect(r > 14_000 && r < 26_000, "\(r)")
    }

    /// Orders, customers and a small regions table; the query is written big table first, the
    /// selective filter on the smallest table.
    func joinFixture() throws -> Database {
        let db = try Database.inMemory()
        try db.execute("CREATE TABLE regions (id int PRIMARY KEY, name text)")
        try db.execute("CREATE TABLE customers (id int PRIMARY KEY, region_id int, name text)")
        try db.execute("CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount int)")
        try db.execute("INSERT INTO regions SELECT i, 'r' || i FROM generate_series(0, 19) i")
        try db.execute("INSERT INTO customers SELECT i, i % 20, 'c' || i FROM generate_series(0, 1999) i")
        try db.execute("INSERT INTO orders SELECT i, (i * 7) % 2000, i % 97 FROM generate_series(0, 19999) i")
        try db.execute("ANALYZE")
        return db
    }

    @Test func joinOrderFollowsStatisticsAndKeepsResults() throws {
        let db = try joinFixture()
        defer { try? db.close() }
        let queries = [
            "SELECT o.id, c.name, r.name FROM orders o JOIN customers c ON o.customer_id = c.id JOIN regions r ON c.region_id = r.id "
                + "WHERE r.name = 'r3'",
            "SELECT * FROM orders o, customers c, regions r WHERE o.customer_id = c.id AND c.region_id = r.id AND r.name = 'r3'",
            "SELECT r.name, count(*), sum(o.amount) FROM orders o JOIN customers c ON o.customer_id = c.id "
                + "JOIN regions r ON c.region_id = r.id GROUP BY r.name",
        ]
        for q in queries {
            let plan = try texts(db, "EXPLAIN " + q)
            let depth: (String) -> Int = { name in
                plan.first { $0.contains("Seq Scan on \(name)") }.map { $0.prefix { $0 == " " }.count } ?? -1
            }
            // orders is joined last (it probes a hash table of the small join), so it sits
            // higher in the tree than regions, which is joined to customers first.
            #expect(depth("orders") < depth("regions"), "\(q)\n\(plan.joined(separator: "\n"))")
            let reordered = try texts(db, q).sorted()
            try db.execute("SET join_collapse_limit = 1")
            let written = try texts(db, q).sorted()
            let writtenPlan = try texts(db, "EXPLAIN " + q)
            try db.execute("RESET join_collapse_limit")
            #expect(writtenPlan != plan)
            #expect(reordered == written, "\(q)")
            #expect(!reordered.isEmpty)
        }
        // The estimate of the filtered three-way join: 1 region, 100 customers, 1,000 orders.
        let plan = try texts(db, "EXPLAIN " + queries[1])
        #expect(plan.first?.hasPrefix("Hash Join  (rows=1000)") == true, "\(plan)")
        // EXPLAIN ANALYZE reports actual rows next to the estimates.
        let analyzed = try texts(db, "EXPLAIN ANALYZE " + queries[1])
        #expect(analyzed.first?.contains("(rows=1000) (actual time=") == true && analyzed.first?.contains(" rows=1000 loops=1)") == true,
                "\(analyzed)")
    }

    /// Random small tables and random inner-join queries (comma lists with WHERE conditions,
    /// explicit JOINs, some under outer joins): the rows with join reordering on must equal
    /// those with it off.
    @Test func randomInnerJoinsGiveTheSameRowsReorderedOrNot() throws {
        let seed = ProcessInfo.processInfo.environment["APUS_JOIN_SEED"].flatMap { UInt64($0) } ?? 20_261_205
        var rng = SplitMix64(seed: seed)
        func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        let db = try Database.inMemory()
        defer { try? db.close() }
        let tables = 5
        for t in 0..<tables {
            try db.execute("CREATE TABLE t\(t) (id int PRIMARY KEY, a int, b int, c text)")
            let n = [1, 3, 8, 40, 150, 400][pick(6)]
            let dom = [2, 5, 20, 100][pick(4)]
            if n > 0 {
                try db.execute("INSERT INTO t\(t) SELECT i, CASE WHEN i % 11 = 3 THEN NULL ELSE (i * \(3 + t)) % \(dom) END, "
                               + "i % \(max(dom / 2, 1)), 'x' || (i % 3) FROM generate_series(1, \(n)) i")
            }
            if pick(3) > 0 { try db.execute("ANALYZE t\(t)") }
        }
        var reorderedPlans = 0
        for q in 0..<60 {
            let k = 2 + pick(3)
            var names = Array(0..<tables).shuffled(using: &rng).prefix(k).map { "t\($0)" }
            names = names.map { $0 }
            let cols = ["id", "a", "b"]
            func col(_ i: Int) -> String { "\(names[i]).\(cols[pick(3)])" }
            var conds: [String] = []
            for i in 1..<k { conds.append("\(col(i)) = \(col(pick(i)))") }
            if pick(2) == 0 { conds.append("\(col(pick(k))) < \(pick(50))") }
            if pick(3) == 0 { conds.append("\(names[pick(k)]).c = 'x1'") }
            if pick(4) == 0 { conds.append("(\(col(pick(k))) = \(pick(5)) OR \(col(pick(k))) IS NULL)") }
            if pick(4) == 0 && k > 2 { conds.append("\(col(0)) + \(col(k - 1)) > \(pick(30))") }
            let select = "SELECT " + names.map { "\($0).id" }.joined(separator: ", ") + ", \(names[0]).*"
            let sql: String
            switch pick(3) {
            case 0:
                sql = "\(select) FROM \(names.joined(separator: ", ")) WHERE \(conds.joined(separator: " AND "))"
            case 1:
                var from = names[0]
                for i in 1..<k { from += " JOIN \(names[i]) ON \(conds[i - 1])" }
                sql = "\(select) FROM \(from)" + (conds.count > k - 1 ? " WHERE " + conds[(k - 1)...].joined(separator: " AND ") : "")
            default:
                // An inner group under a LEFT JOIN, and one above it.
                let outer = "t\((Int(names.last!.dropFirst())! + 1) % tables)"
                var from = names[0]
                for i in 1..<k { from += " JOIN \(names[i]) ON \(conds[i - 1])" }
                sql = "SELECT \(outer).id, x.* FROM \(outer) LEFT JOIN (SELECT " + names.map { "\($0).id AS i_\($0)" }.joined(separator: ", ")
                    + " FROM \(from)) x ON x.i_\(names[0]) = \(outer).a"
            }
            try db.execute("RESET join_collapse_limit")
            let plan = try texts(db, "EXPLAIN (COSTS OFF) " + sql)
            let got = try texts(db, sql).sorted()
            try db.execute("SET join_collapse_limit = 1")
            let want = try texts(db, sql).sorted()
            let writtenPlan = try texts(db, "EXPLAIN (COSTS OFF) " + sql)
            if plan != writtenPlan { reorderedPlans += 1 }
            #expect(got == want, "seed \(seed), query \(q): \(sql)\nreordered plan:\n\(plan.joined(separator: "\n"))")
        }
        try db.execute("RESET join_collapse_limit")
        // The test is worth something only when reordering happened.
        #expect(reorderedPlans >= 10, "seed \(seed): only \(reorderedPlans) queries were reordered")
    }
}
