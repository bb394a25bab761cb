import ApusDB
import ApusSQL
import Foundation
import Testing

/// CREATE/ALTER/DROP SCHEMA, qualified names, search_path and persistence of schemas.
@Suite struct SchemaTests {
    /// The SQLSTATE `sql` fails with, or nil when it succeeds.
    static func code(_ db: Database, _ sql: String) -> String? {
        do { try db.execute(sql); return nil } catch { return error.sqlState.code }
    }

    static func texts(_ db: Database, _ sql: String) throws -> [String] {
        try db.execute(sql).rows.map { $0.text(0) ?? "NULL" }
    }

    @Test func sameNameInTwoSchemasAreTwoTables() throws {
        let db = try Database.inMemory()
        try db.execute("CREATE SCHEMA a")
        try db.execute("CREATE SCHEMA b")
        try db.execute("CREATE TABLE a.t (id int PRIMARY KEY, v text)")
        try db.execute("CREATE TABLE b.t (id int PRIMARY KEY, v text)")
        try db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        try db.execute("INSERT INTO a.t VALUES (1, 'a')")
        try db.execute("INSERT INTO b.t VALUES (1, 'b'), (2, 'b')")
        try db.execute("INSERT INTO public.t VALUES (1, 'p')")
        #expect(try Self.texts(db, "SELECT v FROM a.t") == ["a"])
        #expect(try Self.texts(db, "SELECT count(*) FROM b.t") == ["2"])
        #expect(try Self.texts(db, "SELECT v FROM t") == ["p"])
        try db.execute("UPDATE b.t SET v = 'bb' WHERE id = 2")
        try db.execute("DELETE FROM a.t")
        #expect(try Self.texts(db, "SELECT v FROM b.t ORDER BY id") == ["b", "bb"])
        #expect(try Self.texts(db, "SELECT count(*) FROM a.t") == ["0"])
        // Three-part names in this database work; another database's do not.
        #expect(try Self.texts(db, "SELECT count(*) FROM apus.b.t") == ["2"])
        #expect(Self.code(db, "SELECT * FROM other.b.t") == "0A000")
        // Indexes live in their table's schema: the same index name in two schemas.
        try db.execute("CREATE INDEX t_v ON a.t (v)")
        try db.execute("CREATE INDEX t_v ON b.t (v)")
        #expect(Self.code(db, "CREATE INDEX t_v ON a.t (id)") == "42P07")
        try db.execute("DROP INDEX b.t_v")
        #expect(try Self.texts(db, "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 't_v'")
            == ["a"])
    }

    @Test func errorsCarryPostgresCodes() throws {
        let db = try Database.inMemory()
        try db.execute("CREATE SCHEMA s")
        #expect(Self.code(db, "CREATE SCHEMA s") == "42P06")
        #expect(Self.code(db, "CREATE SCHEMA IF NOT EXISTS s") == nil)
        #expect(Self.code(db, "CREATE SCHEMA pg_x") == "42939")
        #expect(Self.code(db, "CREATE TABLE nosuch.t (a int)") == "3F000")
        #expect(Self.code(db, "SELECT * FROM nosuch.t") == "42P01")
        #expect(Self.code(db, "INSERT INTO nosuch.t VALUES (1)") == "42P01")
        #expect(Self.code(db, "DROP TABLE nosuch.t") == "3F000")
        #expect(Self.code(db, "DROP TABLE IF EXISTS nosuch.t") == nil)
        #expect(Self.code(db, "DROP SCHEMA nosuch") == "3F000")
        #expect(Self.code(db, "DROP SCHEMA IF EXISTS nosuch") == nil)
        // DDL, TRUNCATE and nextval name the missing schema, as PostgreSQL does.
        for sql in ["CREATE INDEX ON nosuch.t (a)", "ALTER TABLE nosuch.t ADD COLUMN b int", "CREATE VIEW nosuch.v AS SELECT 1",
                    "CREATE SEQUENCE nosuch.q", "ALTER SEQUENCE nosuch.q RESTART", "TRUNCATE nosuch.t", "SELECT nextval('nosuch.q')",
                    "REFRESH MATERIALIZED VIEW nosuch.mv", "CREATE TABLE x (a int REFERENCES nosuch.p (id))"] {
            #expect(Self.code(db, sql) == "3F000", "\(sql)")
        }
        #expect(Self.code(db, "CREATE INDEX ON nosuchtable (a)") == "42P01")
        #expect(Self.code(db, "CREATE TABLE pg_catalog.t (a int)") == "42501")
        #expect(Self.code(db, "DROP SCHEMA pg_catalog") == "2BP01")
        #expect(Self.code(db, "ALTER SCHEMA nosuch RENAME TO x") == "3F000")
        try db.execute("CREATE SCHEMA other")
        #expect(Self.code(db, "ALTER SCHEMA s RENAME TO other") == "42P06")
        try db.execute("CREATE TABLE s.t (a int)")
        #expect(Self.code(db, "DROP SCHEMA s") == "2BP01")
        #expect(Self.code(db, "DROP SCHEMA s RESTRICT") == "2BP01")
        try db.execute("SET search_path = nosuch")
        #expect(Self.code(db, "CREATE TABLE t (a int)") == "3F000")
        #expect(Self.code(db, "CREATE SEQUENCE q") == "3F000")
        #expect(try Self.texts(db, "SELECT current_schema()") == ["NULL"])
        #expect(try Self.texts(db, "SELECT current_schemas(true)::text") == ["{pg_catalog}"])
    }

    @Test func searchPathResolvesAndCreates() throws {
        let db = try Database.inMemory()
        try db.execute("CREATE SCHEMA app")
        try db.execute("CREATE TABLE t (src text)")
        try db.execute("INSERT INTO t VALUES ('public')")
        #expect(try Self.texts(db, "SHOW search_path") == ["\"$user\", public"])
        try db.execute("SET search_path TO app, public")
        #expect(try Self.texts(db, "SHOW search_path") == ["app, public"])
        #expect(try Self.texts(db, "SELECT current_schema()") == ["app"])
        #expect(try Self.texts(db, "SELECT current_schemas(false)::text") == ["{app,public}"])
        // Not in app yet: found in public.
        #expect(try Self.texts(db, "SELECT src FROM t") == ["public"])
        try db.execute("CREATE TABLE t (src text)")
        try db.execute("INSERT INTO t VALUES ('app')")
        #expect(try Self.texts(db, "SELECT src FROM t") == ["app"])
        #expect(try Self.texts(db, "SELECT src FROM public.t") == ["public"])
        #expect(try Self.texts(db, "SELECT table_schema FROM information_schema.tables WHERE table_name = 't' ORDER BY 1")
            == ["app", "public"])
        #expect(try Self.texts(db, "SELECT pg_table_is_visible('public.t'::regclass)::text") == ["false"])
        #expect(try Self.texts(db, "SELECT 'public.t'::regclass::text") == ["public.t"])
        // Sequences and nextval go through the path as well.
        try db.execute("CREATE SEQUENCE n START 5")
        #expect(try Self.texts(db, "SELECT nextval('n')") == ["5"])
        #expect(try Self.texts(db, "SELECT nextval('app.n')") == ["6"])
        #expect(Self.code(db, "SELECT nextval('public.n')") == "42P01")
        // A view resolves its names as when it was made, whatever the path is later.
        try db.execute("CREATE VIEW v AS SELECT src FROM t")
        try db.execute("SET search_path = public")
        #expect(try Self.texts(db, "SELECT src FROM app.v") == ["app"])
        #expect(Self.code(db, "SELECT * FROM v") == "42P01")
        try db.execute("RESET search_path")
        #expect(try Self.texts(db, "SELECT current_schema()") == ["public"])
    }

    /// `"$user"` in the default path: a schema named after the session's role comes first;
    /// an empty path (pg_dump's `set_config('search_path', '', false)`) finds only qualified names.
    @Test func userSchemaAndEmptyPath() throws {
        let db = try Database.inMemory()
        let user = try Self.texts(db, "SELECT current_user")[0]
        try db.execute("CREATE TABLE t (src text)")
        try db.execute("CREATE SCHEMA AUTHORIZATION \(user)")
        #expect(try Self.texts(db, "SELECT current_schema()") == [user])
        try db.execute("CREATE TABLE t (src text)")
        #expect(try Self.texts(db, "SELECT table_schema FROM information_schema.tables WHERE table_name = 't' ORDER BY 1") == [user, "public"].sorted())
        try db.execute("SELECT set_config('search_path', '', false)")
        #expect(Self.code(db, "SELECT * FROM t") == "42P01")
        #expect(Self.code(db, "CREATE TABLE u (a int)") == "3F000")
        try db.execute("CREATE TABLE public.u (a int)")
        #expect(try Self.texts(db, "SELECT count(*) FROM public.u") == ["0"])
        #expect(try Self.texts(db, "SELECT 'public.u'::regclass::text") == ["public.u"])
    }

    /// A prepared query binds again after search_path or the schemas change (no stale cached plan).
    @Test func preparedQueryFollowsSearchPath() throws {
        let db = try Database.inMemory()
        try db.execute("CREATE SCHEMA s")
        try db.execute("CREATE TABLE t (src text)")
        try db.execute("INSERT INTO t VALUES ('public')")
        try db.execute("CREATE TABLE s.t (src text)")
        try db.execute("INSERT INTO s.t VALUES ('s')")
        let q = try db.prepare("SELECT src FROM t")
        #expect(try q.execute().rows.map { $0.text(0) } == ["public"])
        try db.execute("SET search_path = s, public")
        #expect(try q.execute().rows.map { $0.text(0) } == ["s"])
        try db.execute("DROP TABLE s.t")
        #expect(try q.execute().rows.map { $0.text(0) } == ["public"])
    }

    @Test func alterAndDropSchema() throws {
        let db = try Database.inMemory()
        try db.execute("CREATE SCHEMA s")
        try db.execute("CREATE TABLE s.parent (id int PRIMARY KEY)")
        try db.execute("CREATE TABLE child (id int PRIMARY KEY, p int REFERENCES s.parent (id))")
        try db.execute("INSERT INTO s.parent VALUES (1)")
        try db.execute("INSERT INTO child VALUES (1, 1)")
        #expect(Self.code(db, "INSERT INTO child VALUES (2, 2)") == "23503")
        try db.execute("CREATE VIEW s.v AS SELECT id FROM s.parent")
        try db.execute("ALTER SCHEMA s RENAME TO r")
        #expect(try Self.texts(db, "SELECT count(*) FROM r.v") == ["1"])
        #expect(Self.code(db, "SELECT * FROM s.parent") == "42P01")
        #expect(Self.code(db, "INSERT INTO child VALUES (2, 2)") == "23503")
        // ALTER TABLE SET SCHEMA moves a table with its indexes.
        try db.execute("CREATE INDEX child_p ON child (p)")
        try db.execute("ALTER TABLE child SET SCHEMA r")
        #expect(try Self.texts(db, "SELECT count(*) FROM r.child") == ["1"])
        #expect(try Self.texts(db, "SELECT schemaname FROM pg_indexes WHERE indexname = 'child_p'") == ["r"])
        // CASCADE drops the tables, views and sequences; nothing of them is left.
        try db.execute("CREATE SEQUENCE r.q")
        try db.execute("DROP SCHEMA r CASCADE")
        #expect(try Self.texts(db, "SELECT count(*) FROM pg_class WHERE relname IN ('parent', 'child', 'v', 'q', 'child_p')") == ["0"])
        #expect(try Self.texts(db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'r'") == ["0"])
        // DROP SCHEMA of several, and transactional DDL.
        try db.execute("CREATE SCHEMA x")
        try db.execute("CREATE SCHEMA y")
        try db.execute("DROP SCHEMA x, y")
        try db.execute("BEGIN")
        try db.execute("CREATE SCHEMA gone")
        try db.execute("CREATE TABLE gone.t (a int)")
        try db.execute("ROLLBACK")
        #expect(Self.code(db, "SELECT * FROM gone.t") == "42P01")
        #expect(try Self.texts(db, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'gone'") == ["0"])
    }

    @Test func schemasSurviveReopen() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apus-schema-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let oid: [String]
        do {
            let db = try Database.open(path: dir)
            try db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
            try db.execute("INSERT INTO t VALUES (1, 'public')")
            try db.execute("CREATE SCHEMA s")
            try db.execute("CREATE TABLE s.t (id int PRIMARY KEY, v text)")
            try db.execute("CREATE INDEX t_v ON s.t (v)")
            try db.execute("INSERT INTO s.t VALUES (1, 'in s'), (2, 'also in s')")
            try db.execute("CREATE SEQUENCE s.q")
            try db.execute("SELECT nextval('s.q')")
            try db.execute("CREATE VIEW s.w AS SELECT v FROM s.t WHERE id = 2")
            oid = try Self.texts(db, "SELECT oid::text FROM pg_namespace WHERE nspname = 's'")
            try db.close()
        }
        let db = try Database.open(path: dir)
        defer { try? db.close() }
        #expect(try Self.texts(db, "SELECT oid::text FROM pg_namespace WHERE nspname = 's'") == oid)
        #expect(try Self.texts(db, "SELECT v FROM s.t ORDER BY id") == ["in s", "also in s"])
        #expect(try Self.texts(db, "SELECT v FROM t") == ["public"])
        #expect(try Self.texts(db, "SELECT v FROM s.w") == ["also in s"])
        #expect(try Self.texts(db, "SELECT nextval('s.q')") == ["2"])
        #expect(try Self.texts(db, "SELECT v FROM s.t WHERE v = 'in s'") == ["in s"])
        #expect(try Self.texts(db, "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 't_v'")
            == ["s"])
        #expect(Self.code(db, "CREATE SCHEMA s") == "42P06")
    }

    /// A catalog document written before schemas existed (no `schema` fields) loads with every
    /// relation in public.
    @Test func catalogWithoutSchemasLoads() throws {
        let json = """
            {"nextTableID":101,"tables":{"t":{"id":100,"name":"t","columns":[{"id":1,"name":"a","typeSQL":"int4","notNull":false}],
            "primaryKey":[],"indexes":[],"nextColumnID":2,"nextIndexID":2}},"sequences":{"q":{"id":101,"name":"q","start":1,
            "increment":1,"minValue":1,"maxValue":100,"cycle":false}}}
            """
        let c = try JSONDecoder().decode(Catalog.self, from: Data(json.utf8))
        #expect(c.tables["t"]?.schemaName == "public")
        #expect(c.sequences?["q"]?.schemaName == "public")
        #expect(c.schemas == nil)
    }
}
