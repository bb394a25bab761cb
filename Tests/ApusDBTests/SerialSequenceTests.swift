import ApusDB
import ApusSQL
import Testing

/// A serial column's implied sequence (`table_column_seq`) is its table's counter. In a table
/// without a primary key that counter also numbers the hidden row IDs, so setval must not move
/// it back: a later insert would take an existing row's ID and replace the row.
@Suite struct SerialSequenceTests {
    @Test func setvalNeverMovesARowNumberingCounterBack() throws {
        let db = try Database.inMemory()
        try db.execute("CREATE TABLE nk (s serial, v text)")
        try db.execute("INSERT INTO nk (v) VALUES ('a'), ('b'), ('c')")
        #expect(throws: SQLError.self) { try db.execute("SELECT setval('nk_s_seq', 1)") }
        try db.execute("INSERT INTO nk (v) VALUES ('d')")
        let r = try db.execute("SELECT count(*), string_agg(v, ',' ORDER BY v) FROM nk")
        #expect(r.rows.first?.text(0) == "4")
        #expect(r.rows.first?.text(1) == "a,b,c,d")
        // With a primary key the counter numbers nothing else: it may go back, and a clash is a 23505.
        try db.execute("CREATE TABLE pk (id serial PRIMARY KEY, v text)")
        try db.execute("INSERT INTO pk (v) VALUES ('a'), ('b')")
        try db.execute("SELECT setval('pk_id_seq', 1)")
        do {
            try db.execute("INSERT INTO pk (v) VALUES ('c')")
            Issue.record("an insert reusing id 2 succeeded")
        } catch let e as SQLError {
            #expect(e.sqlState.code == "23505")
        }
        try db.execute("INSERT INTO pk (v) VALUES ('c')")
        #expect(try db.execute("SELECT string_agg(id::text || v, ',' ORDER BY id) FROM pk").rows.first?.text(0) == "1a,2b,3c")
    }
}
