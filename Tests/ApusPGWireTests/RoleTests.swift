// Role DDL through an `SQLSession`: CREATE/ALTER/DROP ROLE with PostgreSQL's errors, SCRAM
// verifiers in pg_authid (checked by deriving them again), verifiers given as such, roles
// rolled back and committed, the privileges of non-superusers, and the server's bootstrap
// superuser. A failure means a role is stored or shown wrongly, or a role can do what
// PostgreSQL would refuse it.

import ApusCore
@testable import ApusPGWire
import ApusSQL
import ApusStorage
import Foundation
import Testing

/// A data directory with an engine, removed by `close()`.
final class TestEngine {
    let dir = NSTemporaryDirectory() + "apus-auth-\(UUID().uuidString)"
    let engine: StorageEngine

    init() throws { engine = try StorageEngine.open(directory: dir) }

    func session(user: String? = nil) throws -> SQLSession {
        let s = try SQLSession(engine: engine)
        if let user { s.user = user }
        return s
    }

    func close() {
        try? engine.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// The rows of a query as text (NULL as nil).
func rows(_ s: SQLSession, _ sql: String) throws -> [[String?]] {
    try s.execute(sql: sql).last?.rows.map { $0.map { $0.text(as: nil) } } ?? []
}

/// The SQLSTATE a statement fails with, or nil when it succeeds.
func failure(_ s: SQLSession, _ sql: String) -> String? {
    do {
        _ = try s.execute(sql: sql)
        return nil
    } catch {
        return error.sqlState.code
    }
}

@Suite struct RoleDDLTests {
    @Test func bootstrapSuperuserAndCurrentUser() throws {
        let e = try TestEngine()
        defer { e.close() }
        let s = try e.session()
        #expect(try rows(s, "SELECT oid, rolname, rolsuper, rolcanlogin FROM pg_roles") == [["10", "apus", "t", "t"]])
        #expect(try rows(s, "SELECT current_user, session_user") == [["apus", "apus"]])
        #expect(try rows(s, "SHOW is_superuser") == [["on"]])
    }

    @Test func createAlterRenameDrop() throws {
        let e = try TestEngine()
        defer { e.close() }
        let s = try e.session()
        _ = try s.execute(sql: "CREATE ROLE alice WITH LOGIN PASSWORD 'secret'")
        _ = try s.execute(sql: "CREATE USER bob")
        _ = try s.execute(sql: "CREATE ROLE carol SUPERUSER")
        #expect(try rows(s, "SELECT rolname, rolsuper, rolcanlogin, rolpassword FROM pg_roles ORDER BY rolname") == [
            ["alice", "f", "t", "********"], ["apus", "t", "t", nil], ["bob", "f", "t", nil], ["carol", "t", "f", nil],
        ])
        // The verifier checks the password and only it.
        let stored = try #require(try rows(s, "SELECT rolpassword FROM pg_authid WHERE rolname = 'alice'").first?[0] ?? nil)
        let v = try #require(SCRAMVerifier(parsing: stored))
        #expect(stored.hasPrefix("SCRAM-SHA-256$4096:"))
        #expect(SCRAMVerifier(password: "secret", salt: v.salt, iterations: v.iterations) == v)
        #expect(SCRAMVerifier(password: "Secret", salt: v.salt, iterations: v.iterations) != v)

        #expect(failure(s, "CREATE ROLE alice") == "42710")
        #expect(failure(s, "CREATE USER apus") == "42710")
        #expect(failure(s, "ALTER ROLE nosuch LOGIN") == "42704")
        #expect(failure(s, "DROP ROLE nosuch") == "42704")
        #expect(failure(s, "DROP ROLE IF EXISTS nosuch") == nil)
        #expect(failure(s, "CREATE ROLE pg_monitor2") == "42939")
        #expect(failure(s, "CREATE ROLE x LOGIN NOLOGIN") == "42601")
        #expect(failure(s, "CREATE ROLE x IN ROLE alice") == "0A000")
        #expect(failure(s, "DROP ROLE apus") == "55006")
        #expect(failure(s, "ALTER ROLE apus NOSUPERUSER") == "42501")

        _ = try s.execute(sql: "ALTER ROLE alice WITH NOLOGIN PASSWORD NULL")
        #expect(try rows(s, "SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = 'alice'") == [["f", nil]])
        _ = try s.execute(sql: "ALTER ROLE bob PASSWORD ''")
        #expect(try rows(s, "SELECT passwd FROM pg_shadow WHERE usename = 'bob'") == [[nil]])
        _ = try s.execute(sql: "ALTER ROLE alice RENAME TO alicia")
        #expect(failure(s, "ALTER ROLE alicia RENAME TO bob") == "42710")
        _ = try s.execute(sql: "DROP ROLE alicia, bob")
        #expect(try rows(s, "SELECT rolname FROM pg_roles ORDER BY 1") == [["apus"], ["carol"]])
    }

    @Test func validUntilIsNormalizedAndChecked() throws {
        let e = try TestEngine()
        defer { e.close() }
        let s = try e.session()
        #expect(failure(s, "CREATE ROLE x VALID UNTIL 'someday'") == "22007")
        _ = try s.execute(sql: "CREATE USER old PASSWORD 'pw' VALID UNTIL '2001-02-03 04:05:06'")
        _ = try s.execute(sql: "CREATE USER forever PASSWORD 'pw' VALID UNTIL 'Infinity'")
        #expect(try rows(s, "SELECT rolname, rolvaliduntil FROM pg_roles WHERE rolvaliduntil IS NOT NULL ORDER BY 1") == [
            ["forever", "infinity"], ["old", "2001-02-03 04:05:06+00"],
        ])
        let old = try #require(try RoleDirectory.role(named: "old", engine: e.engine))
        let at: Int64 = 34_488_306_000_000 // 2001-02-03 04:05:06 UTC in microseconds since 2000-01-01
        #expect(old.verifier(atMicroseconds: at - 1) != nil)
        #expect(old.verifier(atMicroseconds: at) == nil)
        #expect(try RoleDirectory.role(named: "forever", engine: e.engine)?.verifier(atMicroseconds: .max) != nil)
    }

    @Test func verifierGivenAsSuchIsStoredAsIs() throws {
        let e = try TestEngine()
        defer { e.close() }
        let s = try e.session()
        let verifier = SCRAMVerifier(password: "pencil", salt: Array(0..<16)).text
        _ = try s.execute(sql: "CREATE USER dave PASSWORD '\(verifier)'")
        #expect(try rows(s, "SELECT rolpassword FROM pg_authid WHERE rolname = 'dave'") == [[verifier]])
    }

    @Test func rolesAreTransactionalAndDurable() throws {
        let e = try TestEngine()
        defer { e.close() }
        let s = try e.session()
        _ = try s.execute(sql: "BEGIN; CREATE ROLE gone; ROLLBACK")
        _ = try s.execute(sql: "CREATE ROLE kept LOGIN")
        #expect(try rows(try e.session(), "SELECT rolname FROM pg_roles ORDER BY 1") == [["apus"], ["kept"]])
        #expect(try RoleDirectory.role(named: "kept", engine: e.engine)?.login == true)
        #expect(try RoleDirectory.role(named: "gone", engine: e.engine) == nil)
    }

    @Test func nonSuperusersManageOnlyTheirOwnPassword() throws {
        let e = try TestEngine()
        defer { e.close() }
        _ = try e.session().execute(sql: "CREATE USER bob PASSWORD 'one'; CREATE USER manager CREATEROLE")
        let bob = try e.session(user: "bob")
        #expect(try rows(bob, "SELECT current_user, session_user") == [["bob", "bob"]])
        #expect(try rows(bob, "SHOW is_superuser") == [["off"]])
        #expect(failure(bob, "CREATE ROLE x") == "42501")
        #expect(failure(bob, "ALTER ROLE bob SUPERUSER") == "42501")
        #expect(failure(bob, "SELECT * FROM pg_authid") == "42501")
        #expect(failure(bob, "ALTER ROLE bob PASSWORD 'two'") == nil)
        #expect(failure(bob, "ALTER ROLE CURRENT_USER PASSWORD 'three'") == nil)
        let manager = try e.session(user: "manager")
        #expect(failure(manager, "CREATE ROLE helper LOGIN") == nil)
        #expect(failure(manager, "CREATE ROLE boss SUPERUSER") == "42501")
        #expect(failure(manager, "ALTER ROLE apus PASSWORD 'x'") == "42501")
        #expect(failure(manager, "DROP ROLE manager") == "55006")
    }

    @Test func ensureSuperuserBootstrapsOnceAndKeepsChangedPasswords() throws {
        let e = try TestEngine()
        defer { e.close() }
        #expect(try RoleDirectory.ensureSuperuser(named: "admin", password: "pw", engine: e.engine) == .created)
        let admin = try #require(try RoleDirectory.role(named: "admin", engine: e.engine))
        #expect(admin.isBootstrap && admin.superuser && admin.login && admin.verifier != nil)
        #expect(try RoleDirectory.role(named: "apus", engine: e.engine) == nil)
        #expect(try RoleDirectory.ensureSuperuser(named: "admin", password: "other", engine: e.engine) == .unchanged)
        #expect(try RoleDirectory.role(named: "admin", engine: e.engine)?.password == admin.password)
        #expect(try rows(try e.session(), "SELECT current_user") == [["admin"]])
    }
}
