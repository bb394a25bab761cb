// The batch executor (scans, filters, projections, inner and left hash-join probes and hash
// aggregation over column batches) against the row pipeline: the same queries over seeded
// random tables with NULLs, duplicates and more rows than one batch, run with
// `apus.batch_execution` on and off, must give the same rows in the same order, or the
// same error.

import ApusCore
import ApusDB
import ApusSQL
import Testing

@Suite struct BatchTests {
    static func load(_ db: Database, _ rng: inout SplitMix64, _ name: String, _ n: Int) throws {
        try db.execute("CREATE TABLE \(name) (id int PRIMARY KEY, k int, t text, x bigint, f float8)")
        var id = 0
        var values: [String] = []
        for _ in 0..<n {
            id += 1 + Int(rng.uniform(3))
            let k = rng.uniform(9) == 0 ? "NULL" : String(rng.uniform(40))
            let t = rng.uniform(9) == 0 ? "NULL" : "'s\(rng.uniform(15))'"
            let x = rng.uniform(11) == 0 ? "NULL" : String(Int(rng.uniform(2_000)) - 600)
            let f = rng.uniform(7) == 0 ? "NULL" : String(Double(rng.uniform(40)) / 4)
            values.append("(\(id), \(k), \(t), \(x), \(f))")
        }
        try db.execute("INSERT INTO \(name) VALUES " + values.joined(separator: ", "))
    }

    /// The rows of `sql` in order as text, or its error's SQLSTATE.
    static func outcome(_ db: Database, _ sql: String) -> [String] {
        do {
            return try db.execute(sql).rows.map { r in r.values.map { $0.isNull ? "NULL" : "\($0)" }.joined(separator: "|") }
        } catch {
            return ["error \(error.sqlState) \(error.message)"]
        }
    }

    static let queries = [
        // Filters: integer kernels (three-valued), mixed with row-by-row predicates.
        "SELECT id, k, x FROM a WHERE k = 3",
        "SELECT id FROM a WHERE k < x OR x IS NULL",
        "SELECT id FROM a WHERE NOT (k > 20) AND x >= -100",
        "SELECT id FROM a WHERE k IS NOT NULL AND (k <> 7 OR x < 0)",
        "SELECT id, t FROM a WHERE k > 2 AND t = 's1'",
        "SELECT id FROM a WHERE x + k > 500 OR f > 8",
        "SELECT id FROM a WHERE NULL",
        "SELECT id FROM a WHERE id BETWEEN 100 AND 900 AND k % 3 = 0",
        // Projections.
        "SELECT id, k * 2, t || '!', CASE WHEN k > 20 THEN 'big' END, 7, NULL FROM a WHERE id % 5 <> 0",
        "SELECT 1 FROM a WHERE x > 0",
        "SELECT 100 / (k - 5) FROM a",
        // Joins: integer and text keys, ON conditions beyond the keys, LEFT joins.
        "SELECT a.id, b.id, b.t FROM a JOIN b ON a.k = b.k",
        "SELECT a.id, b.id FROM a JOIN b ON a.k = b.k AND a.x < b.x",
        "SELECT a.id, b.id, b.x FROM a LEFT JOIN b ON a.k = b.k AND b.x > 500",
        "SELECT a.id, b.id FROM a LEFT JOIN b ON a.t = b.t WHERE a.k < 5",
        "SELECT a.id, b.id FROM a JOIN b ON a.k = b.k AND a.t = b.t",
        "SELECT a.id, b.id FROM a JOIN b ON a.x = b.k::bigint WHERE b.k IS NOT NULL",
        "SELECT a.id, b.id, c.id FROM a JOIN b ON a.k = b.k JOIN a c ON b.x = c.x WHERE c.id < 400",
        // Aggregates: fast paths and general calls, integer, text, float and multi-column groups.
        "SELECT k, count(*), count(x), sum(x), min(t), max(x), avg(x) FROM a GROUP BY k",
        "SELECT t, count(*), sum(k), string_agg(t, ',' ORDER BY id DESC), count(DISTINCT k) FROM a GROUP BY t",
        "SELECT k, t, sum(x) FILTER (WHERE x > 3), bool_and(x > 0), array_agg(id ORDER BY id) FROM a GROUP BY k, t",
        "SELECT f, count(*), sum(f) FROM a GROUP BY f",
        "SELECT count(*), sum(x), count(x), min(k), max(t) FROM a",
        "SELECT count(*), sum(x) FROM a WHERE id < 0",
        "SELECT k % 4, sum(x * k) FROM a WHERE x IS NOT NULL GROUP BY k % 4",
        "SELECT b.t, count(*), sum(a.x) FROM a JOIN b ON a.k = b.k JOIN a c ON c.id = b.id GROUP BY b.t",
        "SELECT a.k, count(b.id) FROM a LEFT JOIN b ON a.k = b.k AND b.t < 's5' GROUP BY a.k",
    ]

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func batchesGiveTheRowPipelinesRows(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let db = try Database.inMemory()
        defer { try? db.close() }
        try Self.load(db, &rng, "a", 1_500 + Int(rng.uniform(2_000)))
        try Self.load(db, &rng, "b", Int(rng.uniform(300)))
        if seed % 2 == 0 { try db.execute("ANALYZE") }
        for q in Self.queries {
            try db.execute("SET apus.batch_execution = off")
            let rows = Self.outcome(db, q)
            try db.execute("SET apus.batch_execution = on")
            let batches = Self.outcome(db, q)
            let first = zip(batches, rows).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(batches.count, rows.count)
            #expect(batches == rows, """
                seed \(seed): \(q): \(batches.count) rows in batches, \(rows.count) by rows; first difference at \(first): \
                \(batches.dropFirst(first).first ?? "-") vs \(rows.dropFirst(first).first ?? "-")
                """)
        }
    }

    /// The shapes above really run as batches (else the test compares the row pipeline with itself).
    @Test func theQueriesRunAsBatches() throws {
        var rng = SplitMix64(seed: 9)
        let db = try Database.inMemory()
        defer { try? db.close() }
        try Self.load(db, &rng, "a", 50)
        try Self.load(db, &rng, "b", 50)
        let batched = try Self.queries.filter { q in
            try db.execute("SET apus.batch_execution = on")
            return try db.execute("EXPLAIN VERBOSE " + q).rows.map { $0.text(0) ?? "" }.contains("Execution: batches of columns")
        }
        #expect(batched.count >= Self.queries.count - 2, "\(Set(Self.queries).subtracting(batched))")
    }

    /// Errors raised while a batch is evaluated are the row pipeline's: overflow in a sum,
    /// division by zero in a filter.
    @Test func errorsMatch() throws {
        let db = try Database.inMemory()
        defer { try? db.close() }
        try db.execute("CREATE TABLE big (id int PRIMARY KEY, v bigint)")
        try db.execute("INSERT INTO big SELECT g, 9223372036854775000 FROM generate_series(1, 3000) g")
        for q in ["SELECT count(*) FROM big WHERE v + id > 0", "SELECT id FROM big WHERE 10 / (id - 2000) > 0", "SELECT id, v + id FROM big WHERE id > 0"] {
            try db.execute("SET apus.batch_execution = off")
            let rows = Self.outcome(db, q)
            try db.execute("SET apus.batch_execution = on")
            #expect(Self.outcome(db, q) == rows, "\(q)")
            #expect(rows.first?.hasPrefix("error") == true, "\(q)")
        }
        #expect(throws: SQLError.self) { try db.execute("SET apus.batch_execution = maybe") }
    }

    /// Volatile calls keep the row pipeline's order: one row's calls before the next row's.
    @Test func volatileCallsRunRowByRow() throws {
        let db = try Database.inMemory()
        defer { try? db.close() }
        try db.execute("CREATE TABLE r (id int PRIMARY KEY, k int)")
        try db.execute("INSERT INTO r SELECT g, g % 3 FROM generate_series(1, 2000) g")
        try db.execute("CREATE SEQUENCE s")
        let rows = try db.execute("SELECT nextval('s'), nextval('s') FROM r WHERE k = 1").rows
        for (i, r) in rows.enumerated() {
            #expect(r.values == [.int(Int64(2 * i + 1)), .int(Int64(2 * i + 2))])
        }
    }
}
