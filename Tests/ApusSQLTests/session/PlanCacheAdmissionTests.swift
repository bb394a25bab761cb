import ApusCore
@testable import ApusSQL
import Testing

/// Which plans the session caches: a query sent as text (no `PlanSlot`) from its second binding
/// on, a prepared statement's at once; queries that differ only in their literals fill neither
/// the cache nor end the prepared statements' epoch; results are the same either way.
@Suite struct PlanCacheAdmissionTests {
    @Test func textQueriesAreCachedFromTheirSecondRun() throws {
        let h = try TxnHarness(sessions: 1, setup: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        let s = h.sessions[0]
        s.planCache.removeAll()
        #expect(try h.run(0, "SELECT v FROM t WHERE id = 1") == [["a"]])
        #expect(s.planCache.count == 0, "bound once: not cached")
        #expect(try h.run(0, "SELECT v FROM t WHERE id = 1") == [["a"]])
        #expect(s.planCache.count == 1, "bound twice: cached")
        #expect(try h.run(0, "SELECT v FROM t WHERE id = 1") == [["a"]])
        #expect(s.planCache.count == 1)
        // A prepared statement's plan is cached at once, and its slot stays valid while text
        // queries with ever new literals run (they neither fill the cache nor flush it).
        let slot = PlanSlot()
        let prepared = try Parser.parse(sql: "SELECT v FROM t WHERE id = $1")[0]
        #expect(try s.execute(statement: prepared, parameters: [.int(2)], slot: slot).rows == [[.text("b")]])
        #expect(s.planCache.count == 2)
        let epoch = s.planCache.epoch
        #expect(slot.epoch == epoch)
        for i in 0..<200 { #expect(try h.run(0, "SELECT v FROM t WHERE id = \(i + 3)") == []) }
        #expect(s.planCache.count == 2 && s.planCache.epoch == epoch)
        #expect(try s.execute(statement: prepared, parameters: [.int(1)], slot: slot).rows == [[.text("a")]])
        // A catalog change empties the cache; the text query is bound again, and right.
        try h.run(0, "UPDATE t SET v = 'c' WHERE id = 1; ALTER TABLE t ADD COLUMN w int")
        #expect(s.planCache.count == 0)
        #expect(try h.run(0, "SELECT v FROM t WHERE id = 1") == [["c"]])
    }
}
