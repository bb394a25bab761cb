import ApusCore
import ApusDB
import ApusSQL
import Testing

/// `max_query_memory`: a query whose materialized rows outgrow the budget fails with 53200
/// and leaves the session and the data as they were; within the budget the same query runs.
@Suite struct QueryMemoryTests {
    @Test func aQueryOverTheBudgetFailsWith53200AndTheSessionGoesOn() throws {
        let db = try Database.inMemory()
        defer { try? db.close() }
        try db.execute("CREATE TABLE big (id int PRIMARY KEY, pad text)")
        try db.execute("INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g")
        let query = "SELECT a.id, b.id FROM big a, big b WHERE a.id < 400 AND b.id < 400 ORDER BY a.pad, b.id"
        // About 160,000 joined rows of two 200-byte strings: well over 1 MB, well under 1 GB.
        try db.execute("SET max_query_memory = '1MB'")
        do {
            _ = try db.execute(query)
            Issue.record("the query ran within 1 MB")
        } catch let e as SQLError {
            #expect(e.sqlState.code == "53200", "\(e)")
        }
        // The session still works (a small query fits), and nothing changed.
        #expect(try db.execute("SELECT pad FROM big WHERE id = 7").rows.count == 1)
        try db.execute("RESET max_query_memory")
        #expect(try db.execute("SELECT count(*) FROM big").rows.first?.text(0) == "20000")
        #expect(try db.execute(query).rows.count == 399 * 399)
        try db.execute("SET max_query_memory = 0")
        #expect(try db.execute("SELECT count(*) FROM big").rows.first?.text(0) == "20000")
    }

    @Test func badValuesAreRefused() throws {
        let db = try Database.inMemory()
        defer { try? db.close() }
        for bad in ["'lots'", "'-1MB'", "'5 parsecs'"] {
            #expect(throws: SQLError.self) { try db.execute("SET max_query_memory = \(bad)") }
        }
        try db.execute("SET max_query_memory = '64MB'")
        #expect(try db.execute("SHOW max_query_memory").rows.first?.text(0) == "64MB")
    }
}
