// EXPLAIN ANALYZE runs the query and reports, per plan node, the rows it produced: checked
// against counts known from the data (100 rows of a, 300 of b, 300 joined, 10 groups).

import ApusDB
import ApusSQL
import Testing

@Suite struct ExplainTests {
    @Test func explainAnalyzeCountsRowsPerNode() throws {
        let db = try Database.inMemory()
        defer { try? db.close() }
        try db.execute("CREATE TABLE a (id int PRIMARY KEY, v int)")
        try db.execute("CREATE TABLE b (id int PRIMARY KEY, a_id int)")
        try db.execute("INSERT INTO a SELECT g, g % 10 FROM generate_series(1, 100) g")
        try db.execute("INSERT INTO b SELECT g, g % 100 + 1 FROM generate_series(1, 300) g")
        let rs = try db.execute("EXPLAIN ANALYZE SELECT a.v, count(*) FROM a JOIN b ON a.id = b.a_id GROUP BY a.v ORDER BY 1")
        let lines = rs.rows.compactMap { $0.text(0) }
        func rows(_ node: String) -> String? {
            guard let l = lines.first(where: { $0.contains(node) }), let a = l.range(of: "(actual"),
                  let r = l[a.upperBound...].range(of: "rows=") else { return nil }
            return String(l[r.upperBound...].prefix { $0.isNumber })
        }
        #expect(rows("Seq Scan on a") == "100", "\(lines)")
        #expect(rows("Seq Scan on b") == "300", "\(lines)")
        #expect(rows("Hash Join") == "300", "\(lines)")
        #expect(rows("HashAggregate") == "10", "\(lines)")
        #expect(rows("Sort") == "10", "\(lines)")
        #expect(lines.contains { $0.hasPrefix("Execution Time: ") })
        // EXPLAIN without ANALYZE does not run the statement's plan (no actual figures).
        let plain = try db.execute("EXPLAIN (COSTS OFF) SELECT * FROM a").rows.compactMap { $0.text(0) }
        #expect(plain == ["Seq Scan on a"])
        // With costs (the default), estimated rows: 1,000 for a table never analyzed, then
        // the counted rows.
        #expect(try db.execute("EXPLAIN SELECT * FROM a").rows.compactMap { $0.text(0) } == ["Seq Scan on a  (rows=1000)"])
        try db.execute("ANALYZE a")
        #expect(try db.execute("EXPLAIN SELECT * FROM a").rows.compactMap { $0.text(0) } == ["Seq Scan on a  (rows=100)"])
    }

    /// A partial index serves only queries whose WHERE includes its predicate, and then
    /// returns the same rows as a scan; the index holds only the matching rows.
    @Test func partialIndexIsUsedOnlyWhenItsPredicateIsImplied() throws {
        let db = try Database.inMemory()
        defer { try? db.close() }
        try db.execute("CREATE TABLE a (id int PRIMARY KEY, email text, deleted boolean)")
        try db.execute("INSERT INTO a SELECT g, 'e' || (g % 7), g % 3 = 0 FROM generate_series(1, 200) g")
        try db.execute("CREATE INDEX a_live ON a (email) WHERE NOT deleted")
        let implied = "SELECT id FROM a WHERE email = 'e3' AND NOT deleted ORDER BY id"
        let plan = try db.execute("EXPLAIN " + implied).rows.compactMap { $0.text(0) }
        #expect(plan.contains { $0.contains("Index Scan using a_live on a") }, "\(plan)")
        let other = try db.execute("EXPLAIN SELECT id FROM a WHERE email = 'e3'").rows.compactMap { $0.text(0) }
        #expect(other.contains { $0.contains("Seq Scan on a") } && !other.contains { $0.contains("a_live") }, "\(other)")
        let viaIndex = try db.execute(implied).rows.compactMap { row -> Int64? in if case let .int(i) = row[0] { return i }; return nil }
        let expected = (1...200).filter { $0 % 7 == 3 && $0 % 3 != 0 }.map(Int64.init)
        #expect(viaIndex == expected)
    }
}
