import ApusCore
@testable import ApusSQL
import Testing

/// `ORDER BY pk [DESC] LIMIT n` reads the primary index in order and stops early. A
/// SERIALIZABLE transaction must still see a conflict with a commit into the part it read
/// (here: a new maximum after it read the maximum), and only that part is recorded: a key
/// inserted beyond where the scan stopped is no conflict.
@Suite struct OrderedScanTests {
    func harness(_ layout: SQLStorageLayout) throws -> TxnHarness {
        try TxnHarness(layout: layout,sessions: 2, setup: """
            CREATE TABLE q (id int PRIMARY KEY, v int); INSERT INTO q SELECT g, g FROM generate_series(1, 50) g;
            CREATE TABLE log (id int PRIMARY KEY, seen int)
            """)
    }

    @Test(arguments: [true, false], SQLStorageLayout.allCases)
    func newMaximumAfterReadingTheMaximumConflicts(descending: Bool, layout: SQLStorageLayout) throws {
        let h = try harness(layout)
        try h.run(0, "BEGIN ISOLATION LEVEL SERIALIZABLE")
        let sql = descending ? "SELECT id FROM q ORDER BY id DESC LIMIT 1" : "SELECT id FROM q ORDER BY id LIMIT 1"
        #expect(try h.run(0, sql) == [[descending ? "50" : "1"]])
        try h.run(1, descending ? "INSERT INTO q VALUES (51, 51)" : "INSERT INTO q VALUES (0, 0)")
        try h.run(0, "INSERT INTO log VALUES (1, 50)")
        #expect(h.code(0, "COMMIT") == "40001")
    }

    @Test(arguments: [true, false], SQLStorageLayout.allCases)
    func insertBeyondTheStopIsNoConflict(descending: Bool, layout: SQLStorageLayout) throws {
        let h = try harness(layout)
        try h.run(0, "BEGIN ISOLATION LEVEL SERIALIZABLE")
        let sql = descending ? "SELECT id FROM q ORDER BY id DESC LIMIT 2" : "SELECT id FROM q ORDER BY id LIMIT 2"
        #expect(try h.run(0, sql) == (descending ? [["50"], ["49"]] : [["1"], ["2"]]))
        // Below the rows read (in scan order): nothing the reader saw or skipped.
        try h.run(1, "DELETE FROM q WHERE id = 25")
        try h.run(0, "INSERT INTO log VALUES (1, 50)")
        #expect(h.code(0, "COMMIT") == nil)
        #expect(try h.run(1, "SELECT count(*) FROM log") == [["1"]])
    }
}
