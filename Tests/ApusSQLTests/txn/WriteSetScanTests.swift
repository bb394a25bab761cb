@testable import ApusSQL
import Testing

/// Scans inside a transaction see its own writes through the write set's key order: a unique
/// check per written row, deletes and re-inserts, savepoint rollbacks, in one large block.
@Suite struct WriteSetScanTests {
    @Test(arguments: SQLStorageLayout.allCases) func uniqueChecksAndScansSeeTheTransactionsOwnWrites(layout: SQLStorageLayout) throws {
        let h = try TxnHarness(layout: layout,sessions: 1, setup: "CREATE TABLE u (id int PRIMARY KEY, e int UNIQUE)")
        try h.run(0, "BEGIN")
        try h.run(0, "INSERT INTO u SELECT g, g * 10 FROM generate_series(1, 3000) g")
        #expect(h.code(0, "INSERT INTO u VALUES (5000, 20)") == "23505")
        try h.run(0, "ROLLBACK")
        try h.run(0, "BEGIN")
        try h.run(0, "INSERT INTO u SELECT g, g * 10 FROM generate_series(1, 3000) g")
        try h.run(0, "SAVEPOINT s")
        // A value freed in this transaction can be taken again; one still used cannot.
        try h.run(0, "DELETE FROM u WHERE id = 2")
        try h.run(0, "INSERT INTO u VALUES (9002, 20)")
        #expect(try h.run(0, "SELECT id FROM u WHERE e = 20") == [["9002"]])
        try h.run(0, "ROLLBACK TO SAVEPOINT s")
        #expect(try h.run(0, "SELECT id FROM u WHERE e = 20") == [["2"]])
        #expect(h.code(0, "INSERT INTO u VALUES (9002, 20)") == "23505")
        try h.run(0, "ROLLBACK TO SAVEPOINT s")
        try h.run(0, "INSERT INTO u SELECT g, g * 10 FROM generate_series(3001, 4000) g")
        #expect(try h.run(0, "SELECT count(*), min(e), max(e) FROM u") == [["4000", "10", "40000"]])
        #expect(try h.run(0, "SELECT id FROM u WHERE id BETWEEN 2999 AND 3002 ORDER BY id") == [["2999"], ["3000"], ["3001"], ["3002"]])
        try h.run(0, "COMMIT")
        #expect(try h.run(0, "SELECT count(*) FROM u") == [["4000"]])
    }
}
