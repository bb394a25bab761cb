import ApusCore
@testable import ApusSQL
import ApusStorage
import Foundation
import Testing

/// The MVCC storage layout: intents, records, resolution, recovery and heartbeats.
@Suite struct MVCCLayoutTests {
    @Test func basicReadsAndWrites() throws {
        let h = try TxnHarness(sessions: 2, setup: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b')",
                               layout: .mvcc)
        #expect(try h.run(0, "SELECT * FROM t ORDER BY id") == [["1", "a"], ["2", "b"]])
        try h.run(0, "BEGIN")
        try h.run(0, "UPDATE t SET v = 'x' WHERE id = 1")
        #expect(try h.run(0, "SELECT v FROM t WHERE id = 1") == [["x"]])
        #expect(try h.run(1, "SELECT v FROM t WHERE id = 1") == [["a"]])
        try h.run(0, "COMMIT")
        #expect(try h.run(1, "SELECT v FROM t ORDER BY id DESC") == [["b"], ["x"]])
    }
}
