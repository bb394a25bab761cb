import ApusDB
import ApusSQL
import Testing

@Suite struct SmokeTests {
    @Test func createInsertSelect() throws {
        let db = try Database.inMemory()
        try db.execute("CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL, score float8)")
        try db.execute("INSERT INTO t VALUES (1, 'a', 1.5), (2, 'b', NULL), (3, 'c', 2.5)")
        let r = try db.execute("SELECT id, name FROM t WHERE score > 1 ORDER BY id DESC")
        #expect(r.rows.map { $0.text(0) } == ["3", "1"])
        #expect(r.columns.map(\.name) == ["id", "name"])
    }
}
