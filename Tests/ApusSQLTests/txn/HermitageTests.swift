import ApusCore
@testable import ApusSQL
import Testing

/// Martin Kleppmann's Hermitage scenarios (github.com/ept/hermitage), as its PostgreSQL test
/// runs them, at each isolation level. Expected outcomes: every anomaly PostgreSQL prevents at
/// a level is prevented here too; where PostgreSQL allows one, the test pins what happens.
@Suite struct HermitageTests {
    static let levels = ["read committed", "repeatable read", "serializable"]

    func harness(_ n: Int = 2, _ layout: SQLStorageLayout) throws -> TxnHarness {
        try TxnHarness(layout: layout,sessions: n, setup: "CREATE TABLE test (id int PRIMARY KEY, value int); INSERT INTO test VALUES (1, 10), (2, 20)")
    }

    func begin(_ h: TxnHarness, _ level: String, _ sessions: Int...) throws {
        for s in sessions { try h.run(s, "BEGIN ISOLATION LEVEL \(level)") }
    }

    /// G0, write cycles: concurrent writers of the same rows queue; the result is one of them
    /// entirely (no interleaving).
    @Test(arguments: levels, SQLStorageLayout.allCases) func g0WriteCycles(level: String, layout: SQLStorageLayout) throws {
        let h = try harness(2, layout)
        try begin(h, level, 0, 1)
        try h.run(0, "UPDATE test SET value = 11 WHERE id = 1")
        let t2 = h.start(1, "UPDATE test SET value = 12 WHERE id = 1")
        #expect(!t2.isDone)
        try h.run(0, "UPDATE test SET value = 21 WHERE id = 2")
        try h.run(0, "COMMIT")
        if level == "read committed" {
            #expect(t2.code == nil)
            try h.run(1, "UPDATE test SET value = 22 WHERE id = 2")
            try h.run(1, "COMMIT")
            #expect(try h.run(0, "SELECT * FROM test ORDER BY id") == [["1", "12"], ["2", "22"]])
        } else {
            #expect(t2.code == "40001")
            try h.run(1, "ROLLBACK")
            #expect(try h.run(0, "SELECT * FROM test ORDER BY id") == [["1", "11"], ["2", "21"]])
        }
    }

    /// G1a, aborted reads.
    @Test(arguments: levels, SQLStorageLayout.allCases) func g1aAbortedReads(level: String, layout: SQLStorageLayout) throws {
        let h = try harness(2, layout)
        try begin(h, level, 0, 1)
        try h.run(0, "UPDATE test SET value = 101 WHERE id = 1")
        #expect(try h.run(1, "SELECT * FROM test ORDER BY id") == [["1", "10"], ["2", "20"]])
        try h.run(0, "ROLLBACK")
        #expect(try h.run(1, "SELECT * FROM test ORDER BY id") == [["1", "10"], ["2", "20"]])
        try h.run(1, "COMMIT")
    }

    /// G1b, intermediate reads.
    @Test(arguments: levels, SQLStorageLayout.allCases) func g1bIntermediateReads(level: String, layout: SQLStorageLayout) throws {
        let h = try harness(2, layout)
        try begin(h, level, 0, 1)
        try h.run(0, "UPDATE test SET value = 101 WHERE id = 1")
        #expect(try h.run(1, "SELECT value FROM test WHERE id = 1") == [["10"]])
        try h.run(0, "UPDATE test SET value = 11 WHERE id = 1")
        try h.run(0, "COMMIT")
        // Never the intermediate 101; the committed 11 only where the level allows a new snapshot.
        #expect(try h.run(1, "SELECT value FROM test WHERE id = 1") == [[level == "read committed" ? "11" : "10"]])
        try h.run(1, "COMMIT")
    }

    /// G1c, circular information flow.
    @Test(arguments: levels, SQLStorageLayout.allCases) func g1cCircularInformationFlow(level: String, layout: SQLStorageLayout) throws {
        let h = try harness(2, layout)
        try begin(h, level, 0, 1)
        try h.run(0, "UPDATE test SET value = 11 WHERE id = 1")
        try h.run(1, "UPDATE test SET value = 22 WHERE id = 2")
        #expect(try h.run(0, "SELECT value FROM test WHERE id = 2") == [["20"]])
        #expect(try h.run(1, "SELECT value FROM test WHERE id = 1") == [["10"]])
        try h.run(0, "COMMIT")
        #expect(h.code(1, "COMMIT") == (level == "serializable" ? "40001" : nil))
    }

    /// OTV, observed transaction vanishes.
    @Test(arguments: levels, SQLStorageLayout.allCases) func otvObservedTransactionVanishes(level: String, layout: SQLStorageLayout) throws {
        let h = try harness(3, layout)
        try begin(h, level, 0, 1, 2)
        try h.run(0, "UPDATE test SET value = 11 WHERE id = 1")
        try h.run(0, "UPDATE test SET value = 19 WHERE id = 2")
        let t2 = h.start(1, "UPDATE test SET value = 12 WHERE id = 1")
        try h.run(0, "COMMIT")
        let first = try h.run(2, "SELECT value FROM test WHERE id = 1")
        if level == "read committed" {
            #expect(t2.code == nil)
            #expect(first == [["11"]])
            try h.run(1, "UPDATE test SET value = 18 WHERE id = 2")
            #expect(try h.run(2, "SELECT value FROM test WHERE id = 2") == [["19"]])
            try h.run(1, "COMMIT")
            #expect(try h.run(2, "SELECT value FROM test ORDER BY id") == [["12"], ["18"]])
        } else {
            #expect(t2.code == "40001")
            try h.run(1, "ROLLBACK")
            // T3's snapshot predates T1's commit: it sees neither of T1's writes, consistently.
            #expect(first == [["10"]])
            #expect(try h.run(2, "SELECT value FROM test WHERE id = 2") == [["20"]])
        }
        try h.run(2, "COMMIT")
    }

    /// PMP, predicate many preceders (read predicate).
    @Test(arguments: levels, SQLStorageLayout.allCases) func pmpPredicateRead(level: String, layout: SQLStorageLayout) throws {
        let h = try harness(2, layout)
        try begin(h, level, 0, 1)
        #expect(try h.run(0, "SELECT * FROM test WHERE value = 30").isEmpty)
        try h.run(1, "INSERT INTO test VALUES (3, 30)")
        try h.run(1, "COMMIT")
        let again = try h.run(0, "SELECT * FROM test WHERE value % 3 = 0")
        #expect(again == (level == "read committed" ? [["3", "30"]] : []))
        try h.run(0, "COMMIT")
    }

    /// PMP for write predicates: a DELETE whose predicate another transaction's update changes.
    @Test(arguments: levels, SQLStorageLayout.allCases) func pmpPredicateWrite(level: String, layout: SQLStorageLayout) throws {
        let h = try harness(2, layout)
        try begin(h, level, 0, 1)
        try h.run(0, "UPDATE test SET value = value + 10")
        let t2 = h.start(1, "DELETE FROM test WHERE value = 20")
        try h.run(0, "COMMIT")
        if level == "read committed" {
            // The DELETE runs again, whole, on a snapshot with T1's commit: row 2 (now 30) no
            // longer matches and row 1 (now 20) does. PostgreSQL re-checks only the rows its
            // first snapshot found and deletes nothing; both are READ COMMITTED outcomes (the
            // statement sees one committed state), and CockroachDB's READ COMMITTED does as here.
            #expect(t2.code == nil)
            try h.run(1, "COMMIT")
            #expect(try h.run(0, "SELECT * FROM test ORDER BY id") == [["2", "30"]])
        } else {
            #expect(t2.code == "40001")
            try h.run(1, "ROLLBACK")
        }
    }

    /// P4, lost update: PostgreSQL's READ COMMITTED lets the second write win; higher levels abort it.
    @Test(arguments: levels, SQLStorageLayout.allCases) func p4LostUpdate(level: String, layout: SQLStorageLayout) throws {
        let h = try harness(2, layout)
        try begin(h, level, 0, 1)
        #expect(try h.run(0, "SELECT value FROM test WHERE id = 1") == [["10"]])
        #expect(try h.run(1, "SELECT value FROM test WHERE id = 1") == [["10"]])
        try h.run(0, "UPDATE test SET value = 11 WHERE id = 1")
        let t2 = h.start(1, "UPDATE test SET value = 11 WHERE id = 1")
        try h.run(0, "COMMIT")
        #expect(t2.code == (level == "read committed" ? nil : "40001"))
        try h.run(1, level == "read committed" ? "COMMIT" : "ROLLBACK")
    }

    /// G-single, read skew.
    @Test(arguments: levels, SQLStorageLayout.allCases) func gSingleReadSkew(level: String, layout: SQLStorageLayout) throws {
        let h = try harness(2, layout)
        try begin(h, level, 0, 1)
        #expect(try h.run(0, "SELECT value FROM test WHERE id = 1") == [["10"]])
        #expect(try h.run(1, "SELECT value FROM test ORDER BY id") == [["10"], ["20"]])
        try h.run(1, "UPDATE test SET value = 12 WHERE id = 1")
        try h.run(1, "UPDATE test SET value = 18 WHERE id = 2")
        try h.run(1, "COMMIT")
        #expect(try h.run(0, "SELECT value FROM test WHERE id = 2") == [[level == "read committed" ? "18" : "20"]])
        try h.run(0, "COMMIT")
    }

    /// G-single with a write predicate.
    @Test(arguments: levels, SQLStorageLayout.allCases) func gSingleWritePredicate(level: String, layout: SQLStorageLayout) throws {
        let h = try harness(2, layout)
        try begin(h, level, 0, 1)
        #expect(try h.run(0, "SELECT value FROM test WHERE id = 1") == [["10"]])
        try h.run(1, "UPDATE test SET value = 12 WHERE id = 1")
        try h.run(1, "UPDATE test SET value = 18 WHERE id = 2")
        let t1 = h.start(0, "DELETE FROM test WHERE value = 20")
        try h.run(1, "COMMIT")
        if level == "read committed" {
            #expect(t1.code == nil)
            try h.run(0, "COMMIT")
            #expect(try h.run(1, "SELECT * FROM test ORDER BY id") == [["1", "12"], ["2", "18"]])
        } else {
            #expect(t1.code == "40001")
            try h.run(0, "ROLLBACK")
        }
    }

    /// G2-item, write skew: only SERIALIZABLE prevents it.
    @Test(arguments: levels, SQLStorageLayout.allCases) func g2ItemWriteSkew(level: String, layout: SQLStorageLayout) throws {
        let h = try harness(2, layout)
        try begin(h, level, 0, 1)
        #expect(try h.run(0, "SELECT value FROM test WHERE id IN (1, 2) ORDER BY id") == [["10"], ["20"]])
        #expect(try h.run(1, "SELECT value FROM test WHERE id IN (1, 2) ORDER BY id") == [["10"], ["20"]])
        try h.run(0, "UPDATE test SET value = 11 WHERE id = 1")
        try h.run(1, "UPDATE test SET value = 21 WHERE id = 2")
        try h.run(0, "COMMIT")
        #expect(h.code(1, "COMMIT") == (level == "serializable" ? "40001" : nil))
    }

    /// G2, anti-dependency cycles over predicates (phantoms): only SERIALIZABLE prevents it.
    @Test(arguments: levels, SQLStorageLayout.allCases) func g2AntiDependencyCycles(level: String, layout: SQLStorageLayout) throws {
        let h = try harness(2, layout)
        try begin(h, level, 0, 1)
        #expect(try h.run(0, "SELECT * FROM test WHERE value % 3 = 0").isEmpty)
        #expect(try h.run(1, "SELECT * FROM test WHERE value % 3 = 0").isEmpty)
        try h.run(0, "INSERT INTO test VALUES (3, 30)")
        try h.run(1, "INSERT INTO test VALUES (4, 42)")
        try h.run(0, "COMMIT")
        #expect(h.code(1, "COMMIT") == (level == "serializable" ? "40001" : nil))
    }

    /// G2 with two anti-dependency edges and a read-only observer in between.
    @Test(arguments: levels, SQLStorageLayout.allCases) func g2TwoEdges(level: String, layout: SQLStorageLayout) throws {
        let h = try harness(3, layout)
        try begin(h, level, 0)
        #expect(try h.run(0, "SELECT * FROM test ORDER BY id") == [["1", "10"], ["2", "20"]])
        try begin(h, level, 1)
        try h.run(1, "UPDATE test SET value = value + 5 WHERE id = 2")
        try h.run(1, "COMMIT")
        try begin(h, level, 2)
        #expect(try h.run(2, "SELECT * FROM test ORDER BY id") == [["1", "10"], ["2", "25"]])
        try h.run(2, "COMMIT")
        let code = h.code(0, "UPDATE test SET value = 0 WHERE id = 1")
        if level == "read committed" {
            #expect(code == nil)
            try h.run(0, "COMMIT")
        } else {
            // REPEATABLE READ commits (write skew through the observer is allowed there);
            // SERIALIZABLE refuses the commit: T1 read id 2 before T2's committed change.
            #expect(code == nil)
            #expect(h.code(0, "COMMIT") == (level == "serializable" ? "40001" : nil))
        }
    }
}
