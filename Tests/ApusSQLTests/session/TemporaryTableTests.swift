import ApusCore
import ApusStorage
@testable import ApusSQL
import Testing

/// TEMP tables belong to their session: other sessions neither see them nor collide with their
/// names, unqualified names find them before permanent ones, and they are gone when the session
/// closes or, after a crash, when the engine is next opened.
@Suite struct TemporaryTableTests {
    @Test func temporaryTablesArePrivateToTheirSession() throws {
        let h = try TxnHarness(sessions: 2, setup: "CREATE TABLE t (x text); INSERT INTO t VALUES ('permanent')")
        try h.run(0, "CREATE TEMP TABLE t (x text); INSERT INTO t VALUES ('temp of 0')")
        try h.run(1, "CREATE TEMPORARY TABLE t (x text); INSERT INTO t VALUES ('temp of 1')")
        // Each session's own temporary table hides the permanent one of the same name.
        #expect(try h.run(0, "SELECT x FROM t") == [["temp of 0"]])
        #expect(try h.run(1, "SELECT x FROM t") == [["temp of 1"]])
        #expect(try h.run(0, "SELECT x FROM public.t") == [["permanent"]])
        #expect(try h.run(0, "SELECT x FROM pg_temp.t") == [["temp of 0"]])
        // A new permanent table goes to public, not to the temporary schema.
        try h.run(0, "CREATE TABLE made_later (y int)")
        #expect(try h.run(1, "SELECT count(*) FROM made_later") == [["0"]])
        #expect(try h.run(0, "SELECT current_schema()") == [["public"]])
        #expect(h.code(0, "CREATE TEMP TABLE public.u (x int)") == "42P16")
        // Temporary views, sequences and CREATE TEMP TABLE AS.
        try h.run(0, "CREATE TEMP VIEW tv AS SELECT x FROM t; CREATE TEMP SEQUENCE ts; CREATE TEMP TABLE tc AS SELECT 1 AS one")
        #expect(try h.run(0, "SELECT x, nextval('ts'), (SELECT one FROM tc) FROM tv") == [["temp of 0", "1", "1"]])
        #expect(h.code(1, "SELECT * FROM tv") == "42P01")
        // Closing session 0 drops its temporary relations; session 1's stay.
        h.sessions[0].close()
        let later = try h.newSession()
        #expect(try later.execute(sql: "SELECT x FROM t").last?.rows.map { $0.map(\.description) } == [["permanent"]])
        let temps = try later.execute(sql: "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pg_temp_%'").last?.rows
        #expect(temps?.first?.first == .int(1))
        #expect(try h.run(1, "SELECT x FROM t") == [["temp of 1"]])
    }

    @Test func aCrashLeavesNoTemporaryTables() throws {
        let fs = MemoryFileSystem()
        do {
            let engine = try StorageEngine.open(directory: "/tmp-crash", options: StorageOptions(), fileSystem: fs)
            let s = try SQLSession(engine: engine)
            _ = try s.execute(sql: "CREATE TABLE keep (x int); CREATE TEMP TABLE gone (x int); INSERT INTO gone VALUES (1)")
            // No close(): as if the process died.
            try engine.close()
        }
        let engine = try StorageEngine.open(directory: "/tmp-crash", options: StorageOptions(), fileSystem: fs)
        defer { try? engine.close() }
        let s = try SQLSession(engine: engine)
        #expect(try s.execute(sql: "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pg_temp_%'").last?.rows.first?.first == .int(0))
        #expect(throws: SQLError.self) { try s.execute(sql: "SELECT * FROM gone") }
        _ = try s.execute(sql: "SELECT * FROM keep")
        _ = try s.execute(sql: "CREATE TEMP TABLE gone (x int)")
    }
}
