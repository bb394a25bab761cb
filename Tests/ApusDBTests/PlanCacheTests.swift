import ApusDB
import ApusSQL
import Testing

/// A prepared query runs on the plan bound at its first execution until something it was
/// bound against changes: the catalog (in this session or another), the settings, the role.
@Suite struct PlanCacheTests {
    func texts(_ r: ResultSet) -> [[String]] {
        r.rows.map { row in (0..<row.values.count).map { row.text($0) ?? "NULL" } }
    }

    @Test func aPreparedQuerySeesSchemaChanges() throws {
        let db = try Database.inMemory()
        try db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        try db.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        let q = try db.prepare("SELECT * FROM t WHERE id >= $1 ORDER BY id")
        #expect(texts(try q.execute([1])) == [["1", "a"], ["2", "b"]])
        #expect(texts(try q.execute([2])) == [["2", "b"]])
        // A new column shows up in `*`.
        try db.execute("ALTER TABLE t ADD COLUMN w int DEFAULT 7")
        let r = try q.execute([2])
        #expect(r.columns.map(\.name) == ["id", "v", "w"])
        #expect(texts(r) == [["2", "b", "7"]])
        // A new index is used and gives the same rows; a dropped table is an error.
        try db.execute("CREATE INDEX t_v ON t (v)")
        let byV = try db.prepare("SELECT id FROM t WHERE v = $1")
        #expect(texts(try byV.execute(["b"])) == [["2"]])
        try db.execute("DROP INDEX t_v")
        #expect(texts(try byV.execute(["b"])) == [["2"]])
        try db.execute("DROP TABLE t")
        #expect(throws: SQLError.self) { try q.execute([1]) }
        try db.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
        try db.execute("INSERT INTO t VALUES (5, 50)")
        #expect(texts(try q.execute([1])) == [["5", "50"]])
    }

    @Test func schemaChangesInATransactionAndRollback() throws {
        let db = try Database.inMemory()
        try db.execute("CREATE TABLE t (id int PRIMARY KEY)")
        try db.execute("INSERT INTO t VALUES (1)")
        let q = try db.prepare("SELECT * FROM t")
        #expect(texts(try q.execute()) == [["1"]])
        try db.execute("BEGIN")
        try db.execute("ALTER TABLE t ADD COLUMN x int DEFAULT 3")
        #expect(texts(try q.execute()) == [["1", "3"]])
        try db.execute("ROLLBACK")
        #expect(texts(try q.execute()) == [["1"]])
    }

    @Test func settingsAreReadAtEachExecution() throws {
        let db = try Database.inMemory()
        let q = try db.prepare("SELECT current_setting('application_name'), now() - now()")
        try db.execute("SET application_name = 'one'")
        #expect(texts(try q.execute()).first?.first == "one")
        try db.execute("SET application_name = 'two'")
        #expect(texts(try q.execute()).first?.first == "two")
        // Subqueries keep per-execution results, so their plans are not reused.
        try db.execute("CREATE TABLE n (x int)")
        let s = try db.prepare("SELECT (SELECT count(*) FROM n)")
        #expect(texts(try s.execute()) == [["0"]])
        try db.execute("INSERT INTO n VALUES (1), (2)")
        #expect(texts(try s.execute()) == [["2"]])
        let c = try db.prepare("WITH c AS (SELECT x FROM n) SELECT count(*) FROM c")
        #expect(texts(try c.execute()) == [["2"]])
        try db.execute("INSERT INTO n VALUES (3)")
        #expect(texts(try c.execute()) == [["3"]])
    }

    @Test func anotherSessionsSchemaChangeIsSeen() throws {
        let db = try Database.inMemory()
        try db.execute("CREATE TABLE t (id int PRIMARY KEY)")
        try db.execute("INSERT INTO t VALUES (1)")
        let q = try db.prepare("SELECT * FROM t")
        #expect(texts(try q.execute()) == [["1"]])
        // Database.transaction runs on a pooled session of its own.
        try db.transaction { tx in _ = try tx.execute("ALTER TABLE t ADD COLUMN y text DEFAULT 'y'") }
        #expect(texts(try q.execute()) == [["1", "y"]])
    }
}
